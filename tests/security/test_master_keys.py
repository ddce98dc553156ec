"""Master keys from the environment or a keyring file; generated secrets only in development."""

from __future__ import annotations

import base64
import os
import stat
from pathlib import Path

import pytest

from polypdet.config import Settings
from polypdet.security.crypto import Envelope, record_aad
from polypdet.security.keys import FileKeyring, KeyConfigError, key_provider_from_settings, load_secret

STRONG = "x7Hq2v9LmP4sT8wZ1cR6yB3nK5dF0gJ2aE7uQ9"


def test_development_creates_a_private_keyring_once(tmp_path: Path) -> None:
    settings = Settings(polypdet_home=tmp_path)
    first = key_provider_from_settings(settings)
    path = tmp_path / "keys" / "master.json"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    assert key_provider_from_settings(settings).current_key_id == first.current_key_id


def test_master_key_from_environment_with_previous_keys(tmp_path: Path) -> None:
    old, new = os.urandom(32), os.urandom(32)
    aad = record_aad("t", "1")
    blob = Envelope(key_provider_from_settings(Settings(master_key=base64.b64encode(old).decode()))).seal(b"x", aad)
    settings = Settings(master_key=base64.b64encode(new).decode(), master_key_previous=base64.b64encode(old).decode())
    provider = key_provider_from_settings(settings)
    assert Envelope(provider).open(blob, aad) == b"x"
    assert Envelope.key_id_of(Envelope(provider).seal(b"y", aad)) == provider.current_key_id


@pytest.mark.parametrize("value", ["not base64!", base64.b64encode(b"short").decode()])
def test_malformed_master_keys_are_refused(value: str) -> None:
    with pytest.raises(ValueError, match="MASTER_KEY"):
        Settings(master_key=value)


def test_keyring_follows_a_rotation_made_by_another_process(tmp_path: Path) -> None:
    path = tmp_path / "master.json"
    service, operator = FileKeyring.create(path), None
    aad = record_aad("t", "1")
    old_blob = Envelope(service).seal(b"x", aad)
    operator = FileKeyring(path)
    new_id = operator.add_current()
    assert service.current_key_id == new_id  # the running service picked up the new key
    assert Envelope.key_id_of(Envelope(service).seal(b"y", aad)) == new_id
    assert Envelope(service).open(old_blob, aad) == b"x"


def test_broken_keyring_is_a_config_error(tmp_path: Path) -> None:
    path = tmp_path / "master.json"
    path.write_text("{not json")
    with pytest.raises(KeyConfigError, match="unreadable"):
        FileKeyring(path)
    with pytest.raises(KeyConfigError, match="not found"):
        FileKeyring(tmp_path / "missing.json")


def test_secrets_from_value_file_or_development_folder(tmp_path: Path) -> None:
    assert load_secret(Settings(jwt_secret=STRONG), "jwt_secret") == STRONG.encode()
    secret_file = tmp_path / "jwt"
    secret_file.write_text(STRONG + "\n")
    assert load_secret(Settings(jwt_secret_file=secret_file), "jwt_secret") == STRONG.encode()
    generated = load_secret(Settings(polypdet_home=tmp_path), "pseudonym_key")
    assert len(generated) >= 32
    assert load_secret(Settings(polypdet_home=tmp_path), "pseudonym_key") == generated
