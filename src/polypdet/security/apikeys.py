"""API keys: ``pdk_<prefix>_<secret>``, 256 random bits, shown once, stored as a SHA-256 hash.

The prefix is public (listings, audit trail, revocation); the hash of a 256-bit random secret needs no slow KDF.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import string
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Engine, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from polypdet.security.models import ApiKey, as_utc, utc_now
from polypdet.security.roles import Role

SCHEME = "pdk"
PREFIX_ALPHABET = string.ascii_lowercase + string.digits
PREFIX_LENGTH = 10
MAX_KEY_LENGTH = 100
LAST_USED_EVERY = timedelta(minutes=1)


class ApiKeyNotFoundError(LookupError):
    """No key with that prefix (or it is already revoked)."""


@dataclass(frozen=True)
class KeyIdentity:
    """A caller authenticated by an API key."""

    key_id: str
    prefix: str
    name: str
    role: Role
    user_id: str | None


def key_summary(key: ApiKey) -> dict[str, Any]:
    """What may be shown of a key: never its secret or hash."""
    return {
        "prefix": key.prefix,
        "name": key.name,
        "role": key.role,
        "created_at": key.created_at.isoformat(timespec="seconds"),
        "last_used_at": key.last_used_at.isoformat(timespec="seconds") if key.last_used_at else None,
        "revoked": key.revoked_at is not None,
    }


def split_key(key: str) -> tuple[str, str] | None:
    parts = key.strip().split("_", 2)  # the secret is base64url and may itself contain "_"
    if len(key) > MAX_KEY_LENGTH or len(parts) != 3 or parts[0] != SCHEME or len(parts[1]) != PREFIX_LENGTH:
        return None
    return parts[1], parts[2]


def secret_hash(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


class ApiKeyStore:
    def __init__(self, engine: Engine, clock: Callable[[], datetime] = utc_now) -> None:
        self.engine = engine
        self.clock = clock

    def create(self, name: str, role: Role, user_id: str | None = None) -> tuple[ApiKey, str]:
        """A new key record and the key itself (the only time it exists in clear)."""
        for _ in range(5):
            prefix = "".join(secrets.choice(PREFIX_ALPHABET) for _ in range(PREFIX_LENGTH))
            secret = secrets.token_urlsafe(32)
            record = ApiKey(
                prefix=prefix,
                key_hash=secret_hash(secret),
                name=name,
                role=role.value,
                user_id=user_id,
                created_at=self.clock(),
            )
            try:
                with Session(self.engine, expire_on_commit=False) as db, db.begin():
                    db.add(record)
            except IntegrityError:
                continue  # prefix collision: draw again
            return record, f"{SCHEME}_{prefix}_{secret}"
        raise RuntimeError("could not draw a unique API key prefix")

    def authenticate(self, key: str) -> KeyIdentity | None:
        """The identity behind a live key, or ``None`` (malformed, unknown, wrong secret or revoked)."""
        parts = split_key(key)
        if parts is None:
            return None
        prefix, secret = parts
        with Session(self.engine) as db:
            record = db.scalar(select(ApiKey).where(ApiKey.prefix == prefix))
            presented = secret_hash(secret)
            if record is None or not hmac.compare_digest(record.key_hash, presented) or record.revoked_at:
                return None
            now = self.clock()
            if record.last_used_at is None or now - as_utc(record.last_used_at) >= LAST_USED_EVERY:
                record.last_used_at = now
                db.commit()
            return KeyIdentity(record.id, record.prefix, record.name, Role(record.role), record.user_id)

    def list(self, include_revoked: bool = False) -> list[ApiKey]:
        query = select(ApiKey).order_by(ApiKey.created_at, ApiKey.prefix)
        if not include_revoked:
            query = query.where(ApiKey.revoked_at.is_(None))
        with Session(self.engine) as db:
            return list(db.scalars(query))

    def revoke(self, prefix: str) -> ApiKey:
        """Revoke the live key with this prefix (``pdk_<prefix>`` and full keys are accepted too)."""
        prefix = prefix.strip().removeprefix(f"{SCHEME}_").split("_")[0]
        with Session(self.engine, expire_on_commit=False) as db, db.begin():
            record = db.scalar(select(ApiKey).where(ApiKey.prefix == prefix, ApiKey.revoked_at.is_(None)))
            if record is None:
                raise ApiKeyNotFoundError(f"no live API key with prefix {prefix!r}")
            record.revoked_at = self.clock()
        return record

    def count_live(self, role: Role | None = None) -> int:
        query = select(ApiKey.id).where(ApiKey.revoked_at.is_(None))
        if role is not None:
            query = query.where(ApiKey.role == role.value)
        with Session(self.engine) as db:
            return len(db.scalars(query).all())
