"""Login with password + TOTP as an attacker tries it: guessing, replaying, brute force, disabled accounts."""

from __future__ import annotations

import pytest
from security_helpers import FakeClock
from sqlalchemy import Engine, text

from polypdet.security.crypto import Envelope
from polypdet.security.roles import Role
from polypdet.security.totp import code_at
from polypdet.security.users import LoginError, UserDirectory, UserExistsError

PASSWORD = "correct horse battery"


@pytest.fixture
def users(engine: Engine, envelope: Envelope, clock: FakeClock) -> UserDirectory:
    return UserDirectory(engine, envelope, max_failures=3, lockout_s=600, clock=clock)


@pytest.fixture
def secret(users: UserDirectory) -> str:
    users.create("alice", PASSWORD, Role.CLINICIAN)
    return users.enroll_totp("alice").secret


def refused(users: UserDirectory, password: str, code: str, username: str = "alice") -> LoginError:
    with pytest.raises(LoginError) as error:
        users.authenticate(username, password, code)
    assert str(error.value) == "invalid username, password or code"
    return error.value


def test_login_and_replay(users: UserDirectory, secret: str, clock: FakeClock) -> None:
    code = code_at(secret, clock())
    assert users.authenticate("alice", PASSWORD, code).username == "alice"
    assert "replayed" in refused(users, PASSWORD, code).reason
    clock.advance(30)
    assert users.authenticate("alice", PASSWORD, code_at(secret, clock())).role == Role.CLINICIAN


def test_every_failure_looks_the_same(users: UserDirectory, secret: str, clock: FakeClock) -> None:
    code = code_at(secret, clock())
    assert refused(users, PASSWORD, code, username="mallory").reason == "unknown user"
    assert refused(users, PASSWORD + "x", code).reason == "wrong password"
    assert refused(users, PASSWORD, "000000" if code != "000000" else "111111").reason.startswith("wrong or replayed")


def test_brute_force_locks_the_account(users: UserDirectory, secret: str, clock: FakeClock) -> None:
    for attempt in range(3):
        refused(users, f"guess number {attempt}", "123456")
    # The right password and code are refused during the lock-out ...
    assert refused(users, PASSWORD, code_at(secret, clock())).reason == "locked out"
    clock.advance(601)
    # ... and accepted after it.
    assert users.authenticate("alice", PASSWORD, code_at(secret, clock())).username == "alice"


def test_totp_guessing_counts_towards_the_lock_out(users: UserDirectory, secret: str, clock: FakeClock) -> None:
    right = code_at(secret, clock())
    wrong = [c for c in ("111111", "222222", "333333", "444444") if c != right][:3]
    reasons = [refused(users, PASSWORD, guess).reason for guess in wrong]
    assert "locked out after 3 failures" in reasons[-1]
    assert refused(users, PASSWORD, right).reason == "locked out"


def test_disabled_user_and_user_without_totp(users: UserDirectory, secret: str, clock: FakeClock) -> None:
    users.create("bob", PASSWORD, Role.AUDITOR)
    assert refused(users, PASSWORD, "123456", username="bob").reason == "no TOTP enrolled"
    users.set_disabled("alice")
    assert refused(users, PASSWORD, code_at(secret, clock())).reason == "account disabled"


def test_duplicate_and_bad_usernames(users: UserDirectory) -> None:
    users.create("carol", PASSWORD, Role.ADMIN)
    with pytest.raises(UserExistsError):
        users.create("carol", PASSWORD, Role.ADMIN)
    for bad in ["", "a b", "x" * 65, "tab\there"]:
        with pytest.raises(ValueError):
            users.create(bad, PASSWORD, Role.ADMIN)


def test_secrets_are_not_stored_in_clear(users: UserDirectory, secret: str, engine: Engine) -> None:
    with engine.connect() as connection:
        row = connection.execute(text("SELECT password_hash, totp_secret FROM users")).one()
    password_hash, sealed = row
    assert PASSWORD not in password_hash and password_hash.startswith("$argon2id$")
    assert secret.encode() not in bytes(sealed)
