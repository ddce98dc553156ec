"""Master key rotation re-wraps every stored data key; the old key is then no longer needed."""

from __future__ import annotations

from pathlib import Path

from security_helpers import FakeClock
from sqlalchemy import Engine

from polypdet.security.crypto import Envelope
from polypdet.security.keys import FileKeyring
from polypdet.security.roles import Role
from polypdet.security.rotation import key_ids_in_use, rewrap_all
from polypdet.security.totp import code_at
from polypdet.security.users import UserDirectory

PASSWORD = "correct horse battery"


def test_rotation_rewraps_and_old_key_can_go(engine: Engine, tmp_path: Path, clock: FakeClock) -> None:
    keyring = FileKeyring.create(tmp_path / "master.json")
    users = UserDirectory(engine, Envelope(keyring), clock=clock)
    secrets = {}
    for name in ("alice", "bob", "carol"):
        users.create(name, PASSWORD, Role.CLINICIAN)
        secrets[name] = users.enroll_totp(name).secret
    old = keyring.current_key_id
    assert key_ids_in_use(engine) == {old}

    new = keyring.add_current()
    moved = rewrap_all(engine, Envelope(keyring), batch=2)  # batches smaller than the table
    assert moved == {"users.totp_secret": 3, "results.payload": 0, "results.source_image": 0}
    assert key_ids_in_use(engine) == {new}
    keyring.retire([old])
    assert FileKeyring(tmp_path / "master.json").key_ids == [new]

    fresh = UserDirectory(engine, Envelope(FileKeyring(tmp_path / "master.json")), clock=clock)
    for name, secret in secrets.items():
        assert fresh.authenticate(name, PASSWORD, code_at(secret, clock())).username == name
    assert rewrap_all(engine, Envelope(keyring)) == {
        "users.totp_secret": 0,
        "results.payload": 0,
        "results.source_image": 0,
    }
