"""Password hashing with argon2id (argon2-cffi, RFC 9106 low-memory profile) and the password policy."""

from __future__ import annotations

from functools import cache

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

MIN_LENGTH = 12
MAX_LENGTH = 256  # longer inputs only cost hashing time: a cheap denial of service

_hasher = PasswordHasher()


@cache
def _dummy_hash() -> str:
    """A real hash to verify against for unknown users, so that they cost the same time as known ones."""
    return _hasher.hash("polypdet-no-such-user-padding")


class WeakPasswordError(ValueError):
    """The password breaks the policy."""


def check_policy(password: str) -> None:
    if len(password) < MIN_LENGTH:
        raise WeakPasswordError(f"a password needs at least {MIN_LENGTH} characters")
    if len(password) > MAX_LENGTH:
        raise WeakPasswordError(f"a password has at most {MAX_LENGTH} characters")
    if len(set(password)) < 5:
        raise WeakPasswordError("a password needs at least 5 different characters")


def hash_password(password: str) -> str:
    check_policy(password)
    return _hasher.hash(password)


def verify_password(password_hash: str | None, password: str) -> bool:
    """True when ``password`` matches; ``None`` (no such user) still spends one verification."""
    if len(password) > MAX_LENGTH:
        return False
    try:
        return _hasher.verify(password_hash or _dummy_hash(), password) and password_hash is not None
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


def needs_rehash(password_hash: str) -> bool:
    return _hasher.check_needs_rehash(password_hash)
