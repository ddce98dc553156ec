"""Client addresses and the IP allow-list.

``X-Forwarded-For`` is believed only when the direct peer is a trusted proxy, and then only as far back as the
chain of trusted proxies goes: the client is the right-most address that is not itself a trusted proxy. A caller
cannot step past the allow-list by sending the header itself.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence

from polypdet.security.policy import parse_networks

Network = ipaddress.IPv4Network | ipaddress.IPv6Network
Address = ipaddress.IPv4Address | ipaddress.IPv6Address


def parse_address(text: str) -> Address | None:
    try:
        address = ipaddress.ip_address(text.strip().strip("[]"))
    except ValueError:
        return None
    # An IPv4 peer on a dual-stack socket arrives as ::ffff:a.b.c.d.
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


def in_networks(address: Address, networks: Sequence[Network]) -> bool:
    return any(address.version == network.version and address in network for network in networks)


class ClientAddressPolicy:
    """Finds the client of a request and decides whether it may call at all."""

    def __init__(self, allowed_networks: str = "", trusted_proxies: str = "") -> None:
        self.allowed = parse_networks(allowed_networks)
        self.trusted = parse_networks(trusted_proxies)

    def client_address(self, peer: str | None, forwarded_for: str | None) -> Address | None:
        """The client's address; ``None`` when the peer is unknown or unparsable."""
        address = parse_address(peer) if peer else None
        if address is None or not forwarded_for or not in_networks(address, self.trusted):
            return address
        for hop in reversed(forwarded_for.split(",")):
            hop_address = parse_address(hop)
            if hop_address is None:
                return address  # garbage in the chain: stop at the last address we could vouch for
            address = hop_address
            if not in_networks(address, self.trusted):
                return address
        return address

    def allows(self, address: Address | None) -> bool:
        """Every address when no allow-list is set; otherwise only addresses inside it (never an unknown one)."""
        if not self.allowed:
            return True
        return address is not None and in_networks(address, self.allowed)
