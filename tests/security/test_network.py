"""Client addresses: X-Forwarded-For only from trusted proxies; the allow-list."""

from __future__ import annotations

import ipaddress

import pytest

from polypdet.security.network import ClientAddressPolicy

POLICY = ClientAddressPolicy(allowed_networks="10.1.0.0/16, 2001:db8::/32", trusted_proxies="127.0.0.1, 10.9.0.0/24")


def client(peer: str | None, forwarded: str | None = None) -> str | None:
    address = POLICY.client_address(peer, forwarded)
    return str(address) if address else None


def test_direct_callers_cannot_spoof_their_address() -> None:
    assert client("203.0.113.5", "10.1.2.3") == "203.0.113.5"
    assert not POLICY.allows(POLICY.client_address("203.0.113.5", "10.1.2.3"))


def test_trusted_proxy_chain() -> None:
    assert client("127.0.0.1", "10.1.2.3") == "10.1.2.3"
    assert client("127.0.0.1", "198.51.100.1, 10.1.2.3, 10.9.0.4") == "10.1.2.3"
    # The client may prepend anything; only what trusted proxies appended counts.
    assert client("127.0.0.1", "10.1.0.1, 203.0.113.9") == "203.0.113.9"
    assert client("127.0.0.1", "garbage, 10.1.2.3") == "10.1.2.3"
    assert client("127.0.0.1", "10.1.2.3, garbage") == "127.0.0.1"
    assert client("::ffff:127.0.0.1", "10.1.2.3") == "10.1.2.3"


@pytest.mark.parametrize(
    ("address", "allowed"),
    [("10.1.200.7", True), ("10.2.0.1", False), ("2001:db8::1", True), ("2001:db9::1", False), (None, False)],
)
def test_allow_list(address: str | None, allowed: bool) -> None:
    assert POLICY.allows(ipaddress.ip_address(address) if address else None) is allowed


def test_no_allow_list_allows_everyone() -> None:
    assert ClientAddressPolicy().allows(ipaddress.ip_address("203.0.113.5"))
