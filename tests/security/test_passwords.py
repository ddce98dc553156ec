"""Passwords: argon2id hashes, a policy, and no timing shortcut for unknown users."""

from __future__ import annotations

import pytest

from polypdet.security.passwords import WeakPasswordError, hash_password, needs_rehash, verify_password

PASSWORD = "correct horse battery"


def test_hash_and_verify() -> None:
    hashed = hash_password(PASSWORD)
    assert hashed.startswith("$argon2id$") and PASSWORD not in hashed
    assert verify_password(hashed, PASSWORD)
    assert not verify_password(hashed, PASSWORD + "!")
    assert not verify_password(None, PASSWORD)
    assert not verify_password("not-a-hash", PASSWORD)
    assert not needs_rehash(hashed)


@pytest.mark.parametrize("weak", ["short", "aaaaaaaaaaaaaaaa", "x" * 300])
def test_policy(weak: str) -> None:
    with pytest.raises(WeakPasswordError):
        hash_password(weak)
