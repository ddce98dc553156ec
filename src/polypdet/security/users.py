"""Users: creation, TOTP enrolment, login (password + TOTP) with lock-out after repeated failures.

Every login failure looks the same to the caller (``LoginError``'s message); the reason goes to the audit log.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta

from sqlalchemy import Engine, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from polypdet.security import passwords, totp
from polypdet.security.crypto import Envelope, record_aad
from polypdet.security.models import User, as_utc, utc_now
from polypdet.security.roles import Role

USERNAME_MAX = 64
TOTP_KIND = "users.totp_secret"


class LoginError(Exception):
    """Login refused. The message is the same for every cause; ``reason`` is for the audit log."""

    def __init__(self, reason: str, user_id: str | None = None) -> None:
        super().__init__("invalid username, password or code")
        self.reason = reason
        self.user_id = user_id


class UserExistsError(ValueError):
    """The username is taken."""


class UserNotFoundError(LookupError):
    """No such user."""


def check_username(username: str) -> str:
    username = username.strip()
    if not (1 <= len(username) <= USERNAME_MAX) or not username.isprintable() or " " in username:
        raise ValueError(f"a username has 1-{USERNAME_MAX} printable characters and no spaces")
    return username


class UserDirectory:
    def __init__(
        self,
        engine: Engine,
        envelope: Envelope,
        max_failures: int = 5,
        lockout_s: int = 900,
        clock: Callable[[], datetime] = utc_now,
    ) -> None:
        self.engine = engine
        self.envelope = envelope
        self.max_failures = max_failures
        self.lockout = timedelta(seconds=lockout_s)
        self.clock = clock

    def create(self, username: str, password: str, role: Role) -> User:
        user = User(
            username=check_username(username),
            role=role.value,
            password_hash=passwords.hash_password(password),
            created_at=self.clock(),
            totp_enabled=False,
            failed_logins=0,
            disabled=False,
        )
        try:
            with Session(self.engine, expire_on_commit=False) as db, db.begin():
                db.add(user)
        except IntegrityError:
            raise UserExistsError(f"user {username!r} exists") from None
        return user

    def get(self, user_id: str) -> User | None:
        with Session(self.engine) as db:
            return db.get(User, user_id)

    def by_name(self, username: str) -> User | None:
        with Session(self.engine) as db:
            return db.scalar(select(User).where(User.username == username.strip()))

    def require(self, username: str) -> User:
        user = self.by_name(username)
        if user is None:
            raise UserNotFoundError(f"no user {username!r}")
        return user

    def list(self) -> list[User]:
        with Session(self.engine) as db:
            return list(db.scalars(select(User).order_by(User.username)))

    def set_disabled(self, username: str, disabled: bool = True) -> User:
        user = self.require(username)
        with Session(self.engine, expire_on_commit=False) as db, db.begin():
            db.execute(update(User).where(User.id == user.id).values(disabled=disabled))
        user.disabled = disabled
        return user

    def enroll_totp(self, username: str) -> totp.Enrolment:
        """A new TOTP secret for the user (replacing any earlier one), stored encrypted; enabled at once."""
        user = self.require(username)
        enrolment = totp.new_enrolment(user.username)
        sealed = self.envelope.seal(enrolment.secret.encode(), record_aad(TOTP_KIND, user.id))
        with Session(self.engine) as db, db.begin():
            db.execute(
                update(User)
                .where(User.id == user.id)
                .values(totp_secret=sealed, totp_enabled=True, totp_last_step=None)
            )
        return enrolment

    def _totp_secret(self, user: User) -> str:
        assert user.totp_secret is not None
        return self.envelope.open(user.totp_secret, record_aad(TOTP_KIND, user.id)).decode()

    def authenticate(self, username: str, password: str, code: str) -> User:
        """The user, if the password and a fresh TOTP code are right and the account is usable."""
        now = self.clock()
        user = self.by_name(username) if len(username) <= USERNAME_MAX else None
        if user is not None and user.locked_until is not None and as_utc(user.locked_until) > now:
            raise LoginError("locked out", user.id)
        password_ok = passwords.verify_password(user.password_hash if user else None, password)
        if user is None:
            raise LoginError("unknown user")
        if user.disabled:
            raise LoginError("account disabled", user.id)
        if not password_ok:
            self._fail(user, now, "wrong password")
        if not user.totp_enabled or user.totp_secret is None:
            raise LoginError("no TOTP enrolled", user.id)
        step = totp.matching_step(self._totp_secret(user), code, now, user.totp_last_step)
        if step is None:
            self._fail(user, now, "wrong or replayed TOTP code")
        with Session(self.engine) as db, db.begin():
            # The step guard makes a code good for one login even when two requests race with it.
            claimed = db.execute(
                update(User)
                .where(User.id == user.id)
                .where((User.totp_last_step.is_(None)) | (User.totp_last_step < step))
                .values(totp_last_step=step, failed_logins=0, locked_until=None)
            )
            if not claimed.rowcount:  # type: ignore[attr-defined]
                raise LoginError("replayed TOTP code", user.id)
            if passwords.needs_rehash(user.password_hash):
                db.execute(
                    update(User).where(User.id == user.id).values(password_hash=passwords.hash_password(password))
                )
        return user

    def _fail(self, user: User, now: datetime, reason: str) -> None:
        with Session(self.engine) as db, db.begin():
            db.execute(update(User).where(User.id == user.id).values(failed_logins=User.failed_logins + 1))
            failures = db.scalar(select(User.failed_logins).where(User.id == user.id)) or 0
            if failures >= self.max_failures:
                db.execute(
                    update(User).where(User.id == user.id).values(failed_logins=0, locked_until=now + self.lockout)
                )
                reason += f"; locked out after {failures} failures"
        raise LoginError(reason, user.id)

    def set_password(self, username: str, password: str) -> None:
        user = self.require(username)
        with Session(self.engine) as db, db.begin():
            db.execute(update(User).where(User.id == user.id).values(password_hash=passwords.hash_password(password)))
