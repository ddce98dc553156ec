"""API keys: shown once, stored hashed, found by prefix, revocable."""

from __future__ import annotations

import pytest
from security_helpers import FakeClock
from sqlalchemy import Engine, text

from polypdet.security.apikeys import ApiKeyNotFoundError, ApiKeyStore, split_key
from polypdet.security.roles import Role


@pytest.fixture
def keys(engine: Engine, clock: FakeClock) -> ApiKeyStore:
    return ApiKeyStore(engine, clock)


def test_create_and_authenticate(keys: ApiKeyStore, engine: Engine) -> None:
    record, key = keys.create("pacs-bridge", Role.SERVICE)
    assert key.startswith(f"pdk_{record.prefix}_") and len(key) > 50
    identity = keys.authenticate(key)
    assert identity is not None and (identity.role, identity.name, identity.prefix) == (
        Role.SERVICE,
        "pacs-bridge",
        record.prefix,
    )
    parts = split_key(key)
    assert parts is not None
    secret = parts[1]
    with engine.connect() as connection:
        rows = connection.execute(text("SELECT prefix, key_hash, name FROM api_keys")).all()
    assert all(secret not in "".join(map(str, row)) for row in rows)


def test_wrong_malformed_and_revoked_keys(keys: ApiKeyStore) -> None:
    record, key = keys.create("script", Role.CLINICIAN)
    _, other_key = keys.create("other", Role.ADMIN)
    prefix_of_one_with_secret_of_other = f"pdk_{record.prefix}_{other_key.rsplit('_', 1)[1]}"
    for bad in ["", "pdk_", key + "x", key[:-1], prefix_of_one_with_secret_of_other, "Bearer " + key, "x" * 500]:
        assert keys.authenticate(bad) is None, bad
    keys.revoke(record.prefix)
    assert keys.authenticate(key) is None
    assert keys.authenticate(other_key) is not None
    with pytest.raises(ApiKeyNotFoundError):
        keys.revoke(record.prefix)


def test_listing_shows_prefixes_and_revocation_by_full_key(keys: ApiKeyStore, clock: FakeClock) -> None:
    one, key_one = keys.create("one", Role.CLINICIAN)
    clock.advance(1)
    two, _ = keys.create("two", Role.AUDITOR)
    assert [k.prefix for k in keys.list()] == [one.prefix, two.prefix]
    keys.revoke(key_one)
    assert [k.prefix for k in keys.list()] == [two.prefix]
    assert {k.prefix for k in keys.list(include_revoked=True)} == {one.prefix, two.prefix}
    assert keys.count_live(Role.AUDITOR) == 1 and keys.count_live(Role.CLINICIAN) == 0


def test_last_used_is_recorded(keys: ApiKeyStore, clock: FakeClock) -> None:
    _, key = keys.create("one", Role.CLINICIAN)
    keys.authenticate(key)
    assert keys.list()[0].last_used_at is not None
