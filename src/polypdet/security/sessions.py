"""Refresh sessions: automatic logoff after inactivity, a maximum lifetime, logout and server-side revocation.

The refresh token ``<session id>.<secret>`` is stored as a SHA-256 hash and rotated on every refresh. Presenting
an already-rotated token means it was copied: the whole session is revoked (OWASP refresh token reuse detection).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import Engine, update
from sqlalchemy.orm import Session

from polypdet.security.models import LoginSession, as_utc, new_id, utc_now

# Writing last_seen_at on every request would cost a database write each; this is precise enough for logoff.
TOUCH_EVERY = timedelta(seconds=15)


class SessionError(Exception):
    """The session is unknown, expired, idle too long or revoked; ``reason`` is for the audit log only."""

    def __init__(self, reason: str, user_id: str | None = None) -> None:
        super().__init__("session expired or revoked")
        self.reason = reason
        self.user_id = user_id


@dataclass(frozen=True)
class ActiveSession:
    session_id: str
    user_id: str
    refresh_token: str | None = None


def token_hash(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


class SessionManager:
    def __init__(
        self,
        engine: Engine,
        idle_timeout_s: int,
        max_age_s: int,
        clock: Callable[[], datetime] = utc_now,
    ) -> None:
        self.engine = engine
        self.idle_timeout = timedelta(seconds=idle_timeout_s)
        self.max_age = timedelta(seconds=max_age_s)
        self.clock = clock

    def create(self, user_id: str) -> ActiveSession:
        now, secret, session_id = self.clock(), secrets.token_urlsafe(32), new_id()
        with Session(self.engine) as db, db.begin():
            db.add(
                LoginSession(
                    id=session_id,
                    user_id=user_id,
                    token_hash=token_hash(secret),
                    created_at=now,
                    last_seen_at=now,
                    expires_at=now + self.max_age,
                )
            )
        return ActiveSession(session_id, user_id, f"{session_id}.{secret}")

    def _live(self, db: Session, session_id: str, now: datetime) -> LoginSession:
        """The session if it may still be used; an expired or idle one is revoked on the way out."""
        record = db.get(LoginSession, session_id) if len(session_id) <= 32 else None
        if record is None:
            raise SessionError("unknown session")
        if record.revoked_at is not None:
            raise SessionError(f"revoked ({record.revoked_reason})", record.user_id)
        if now >= as_utc(record.expires_at):
            record.revoked_at, record.revoked_reason = now, "expired"
            raise SessionError("expired", record.user_id)
        if now - as_utc(record.last_seen_at) > self.idle_timeout:
            record.revoked_at, record.revoked_reason = now, "idle"
            raise SessionError("idle timeout (automatic logoff)", record.user_id)
        return record

    def touch(self, session_id: str) -> ActiveSession:
        """Check that a session is live (for each request with an access token) and restart its idle timer."""
        now = self.clock()
        with Session(self.engine) as db:
            try:
                record = self._live(db, session_id, now)
                if now - as_utc(record.last_seen_at) >= TOUCH_EVERY:
                    record.last_seen_at = now
                return ActiveSession(record.id, record.user_id)
            finally:
                db.commit()

    def refresh(self, refresh_token: str) -> ActiveSession:
        """Exchange a refresh token for a new one; reuse of an old token revokes the session."""
        session_id, _, secret = refresh_token.partition(".")
        now = self.clock()
        with Session(self.engine) as db:
            try:
                record = self._live(db, session_id, now)
                if not hmac.compare_digest(record.token_hash, token_hash(secret)):
                    record.revoked_at, record.revoked_reason = now, "token reuse"
                    raise SessionError("refresh token reuse", record.user_id)
                new_secret = secrets.token_urlsafe(32)
                record.token_hash, record.last_seen_at = token_hash(new_secret), now
                return ActiveSession(record.id, record.user_id, f"{record.id}.{new_secret}")
            finally:
                db.commit()

    def revoke(self, session_id: str, reason: str = "logout") -> bool:
        """End one session (logout); False when it was not live."""
        with Session(self.engine) as db, db.begin():
            result = db.execute(
                update(LoginSession)
                .where(LoginSession.id == session_id, LoginSession.revoked_at.is_(None))
                .values(revoked_at=self.clock(), revoked_reason=reason)
            )
        return bool(result.rowcount)  # type: ignore[attr-defined]

    def revoke_all(self, user_id: str, reason: str = "revoked") -> int:
        """End every session of a user (password change, account disabled, suspected theft)."""
        with Session(self.engine) as db, db.begin():
            result = db.execute(
                update(LoginSession)
                .where(LoginSession.user_id == user_id, LoginSession.revoked_at.is_(None))
                .values(revoked_at=self.clock(), revoked_reason=reason)
            )
        return int(result.rowcount)  # type: ignore[attr-defined]
