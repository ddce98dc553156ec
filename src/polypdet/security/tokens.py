"""Short-lived access tokens: HS256 JWTs (pyjwt) with issuer, audience, expiry and the login session id.

Only HS256 is accepted, so ``alg: none`` and algorithm-confusion tokens fail like tampered ones; every claim the
service relies on is required. Errors never say which check failed (the audit log does).
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import jwt

from polypdet.security.policy import MIN_SECRET_BYTES
from polypdet.security.roles import Role

ALGORITHM = "HS256"
LEEWAY_S = 5
REQUIRED_CLAIMS = ["exp", "iat", "nbf", "iss", "aud", "sub", "name", "sid", "role", "jti"]


class InvalidTokenError(Exception):
    """The token is not acceptable; ``reason`` is for the audit log, never for the caller."""

    def __init__(self, reason: str) -> None:
        super().__init__("invalid or expired token")
        self.reason = reason


@dataclass(frozen=True)
class AccessClaims:
    user_id: str
    name: str
    role: Role
    session_id: str
    expires_at: datetime


class TokenSigner:
    def __init__(self, secret: bytes, issuer: str, audience: str, ttl_s: int) -> None:
        if len(secret) < MIN_SECRET_BYTES:
            raise ValueError(f"the JWT secret needs at least {MIN_SECRET_BYTES} bytes")
        self._secret = secret
        self.issuer, self.audience, self.ttl = issuer, audience, timedelta(seconds=ttl_s)

    def issue(
        self, user_id: str, name: str, role: Role, session_id: str, now: datetime | None = None
    ) -> tuple[str, datetime]:
        """A signed token for the user ``user_id`` (username ``name``) and its expiry time."""
        now = now or datetime.now(UTC)
        expires = now + self.ttl
        claims = {
            "iss": self.issuer,
            "aud": self.audience,
            "sub": user_id,
            "name": name,
            "role": role.value,
            "sid": session_id,
            "iat": now,
            "nbf": now,
            "exp": expires,
            "jti": secrets.token_urlsafe(12),
        }
        return jwt.encode(claims, self._secret, algorithm=ALGORITHM), expires

    def verify(self, token: str, now: datetime | None = None) -> AccessClaims:
        """The claims of a valid token at ``now`` (default: the clock); :class:`InvalidTokenError` otherwise."""
        if len(token) > 4096:
            raise InvalidTokenError("oversized token")
        try:
            claims = jwt.decode(
                token,
                self._secret,
                algorithms=[ALGORITHM],
                audience=self.audience,
                issuer=self.issuer,
                # Time claims are checked below against ``now``, so that tests can move the clock.
                options={"require": REQUIRED_CLAIMS, "verify_exp": False, "verify_nbf": False, "verify_iat": False},
            )
            moment = (now or datetime.now(UTC)).timestamp()
            if float(claims["exp"]) <= moment - LEEWAY_S:
                raise InvalidTokenError("expired")
            if float(claims["nbf"]) > moment + LEEWAY_S:
                raise InvalidTokenError("not yet valid")
            return AccessClaims(
                user_id=str(claims["sub"]),
                name=str(claims["name"]),
                role=Role(claims["role"]),
                session_id=str(claims["sid"]),
                expires_at=datetime.fromtimestamp(int(claims["exp"]), UTC),
            )
        except jwt.PyJWTError as error:
            raise InvalidTokenError(type(error).__name__) from None
        except (ValueError, KeyError, TypeError) as error:
            raise InvalidTokenError(f"bad claims: {type(error).__name__}") from None
