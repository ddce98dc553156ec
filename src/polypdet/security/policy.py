"""What the configuration must satisfy: secure by default, strict in production.

Everywhere: secrets that are given must be strong, CIDR lists and the rate limit must parse.
In production also: authentication on, and every secret (master key, JWT secret, pseudonym key) given explicitly —
nothing is generated on the fly and nothing falls back to a default.
"""

from __future__ import annotations

import ipaddress
from pathlib import Path
from typing import TYPE_CHECKING

from pydantic import SecretStr

if TYPE_CHECKING:
    from polypdet.config import Settings

MIN_SECRET_BYTES = 32
# Well-known placeholder values, the seed guide's salt among them: refused whatever their length.
KNOWN_DEFAULTS = frozenset(
    {"changeme", "change-me", "change_me", "secret", "password", "default", "polypdet", "secure_random_salt", "test"}
)


def parse_networks(text: str) -> list[ipaddress.IPv4Network | ipaddress.IPv6Network]:
    """``"10.0.0.0/8, 192.168.1.7"`` → networks; raises ``ValueError`` naming the bad entry."""
    networks = []
    for item in (part.strip() for part in text.split(",")):
        if item:
            try:
                networks.append(ipaddress.ip_network(item, strict=False))
            except ValueError:
                raise ValueError(f"not an IP network: {item!r}") from None
    return networks


def weak_secret(value: bytes) -> str | None:
    """Why ``value`` is not acceptable as a secret, or ``None``."""
    if value.strip().lower().decode(errors="replace") in KNOWN_DEFAULTS:
        return "is a well-known default"
    if len(value) < MIN_SECRET_BYTES:
        return f"is shorter than {MIN_SECRET_BYTES} bytes"
    return None


def _secret_problem(name: str, value: SecretStr | None, path: Path | None, production: bool) -> str | None:
    env = name.upper()
    if value is not None:
        reason = weak_secret(value.get_secret_value().encode())
        return f"{env} {reason}" if reason else None
    if path is not None:
        try:
            reason = weak_secret(path.read_bytes().strip())
        except OSError:
            return f"{env}_FILE {path} cannot be read"
        return f"{env}_FILE {reason}" if reason else None
    return f"set {env} or {env}_FILE (no generated secrets in production)" if production else None


def settings_problems(settings: Settings) -> list[str]:
    """Every reason to refuse ``settings``; empty when they are acceptable."""
    from polypdet.security.keys import KeyConfigError, decode_key
    from polypdet.security.ratelimit import parse_rate

    production = settings.environment == "production"
    problems: list[str] = []
    for env, text in (("ALLOWED_NETWORKS", settings.allowed_networks), ("TRUSTED_PROXIES", settings.trusted_proxies)):
        try:
            parse_networks(text)
        except ValueError as error:
            problems.append(f"{env}: {error}")
    try:
        parse_rate(settings.rate_limit)
    except ValueError as error:
        problems.append(f"RATE_LIMIT: {error}")
    master_keys = [settings.master_key, settings.master_key_previous]
    for env, secret in zip(("MASTER_KEY", "MASTER_KEY_PREVIOUS"), master_keys, strict=True):
        for text in secret.get_secret_value().split(",") if secret else []:
            try:
                decode_key(text)
            except KeyConfigError as error:
                problems.append(f"{env}: {error}")
    for name in ("jwt_secret", "pseudonym_key"):
        problem = _secret_problem(name, getattr(settings, name), getattr(settings, f"{name}_file"), production)
        if problem:
            problems.append(problem)
    if production:
        if not settings.auth_enabled:
            problems.append("AUTH_ENABLED=false is refused in production")
        if settings.master_key is None and settings.master_key_file is None:
            problems.append("set MASTER_KEY or MASTER_KEY_FILE (no generated keys in production)")
    return problems
