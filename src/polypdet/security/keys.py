"""Master keys and service secrets: where they come from and how master keys rotate.

- ``MASTER_KEY`` (base64 of 32 bytes) with ``MASTER_KEY_PREVIOUS`` (old keys, comma-separated) during a rotation;
- or a JSON keyring file (``MASTER_KEY_FILE``, in development ``$POLYPDET_HOME/keys/master.json``, created once,
  mode 0600) that ``polypdet keys rotate-master`` extends with a new current key;
- or any :class:`~polypdet.security.crypto.KeyProvider` (a KMS or HSM client).

Other secrets (JWT signing, pseudonym HMAC) come from ``NAME`` or ``NAME_FILE``; in development only, a random one
is generated once into ``$POLYPDET_HOME/keys/``. Production refuses to start without them (see ``config``).
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import hashlib
import json
import os
import secrets
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from polypdet.security.crypto import DecryptionError, aes_gcm_decrypt, aes_gcm_encrypt

if TYPE_CHECKING:
    from polypdet.config import Settings

MASTER_KEY_BYTES = 32


class KeyConfigError(ValueError):
    """A key or secret is missing, malformed or unreadable."""


def key_id_for(key: bytes) -> str:
    """A public, stable name for a key: a truncated SHA-256 fingerprint."""
    return "k" + hashlib.sha256(b"polypdet-master-key-id\0" + key).hexdigest()[:15]


def decode_key(text: str) -> bytes:
    try:
        key = base64.b64decode(text.strip(), validate=True)
    except (binascii.Error, ValueError):
        raise KeyConfigError("a master key must be base64 (32 random bytes)") from None
    if len(key) != MASTER_KEY_BYTES:
        raise KeyConfigError(f"a master key must be {MASTER_KEY_BYTES} bytes, got {len(key)}")
    return key


def encode_key(key: bytes) -> str:
    return base64.b64encode(key).decode()


class LocalKeyProvider:
    """Master keys held in this process: the first is current, the others only unwrap (rotation in progress)."""

    def __init__(self, keys: Sequence[bytes]) -> None:
        if not keys:
            raise KeyConfigError("no master key")
        if any(len(key) != MASTER_KEY_BYTES for key in keys):
            raise KeyConfigError(f"master keys must be {MASTER_KEY_BYTES} bytes")
        self._keys = {key_id_for(key): key for key in keys}
        self._current = key_id_for(keys[0])

    @classmethod
    def generate(cls) -> LocalKeyProvider:
        return cls([AESGCM.generate_key(bit_length=256)])

    @property
    def current_key_id(self) -> str:
        return self._current

    @property
    def key_ids(self) -> list[str]:
        return list(self._keys)

    def wrap(self, data_key: bytes, aad: bytes) -> tuple[str, bytes]:
        return self._current, aes_gcm_encrypt(self._keys[self._current], data_key, b"dek\0" + aad)

    def unwrap(self, key_id: str, wrapped: bytes, aad: bytes) -> bytes:
        key = self._keys.get(key_id)
        if key is None:
            raise DecryptionError(f"master key {key_id} is not available")
        return aes_gcm_decrypt(key, wrapped, b"dek\0" + aad)


class FileKeyring(LocalKeyProvider):
    """A JSON keyring ``{"current": id, "keys": {id: base64}}`` on disk, readable by its owner only.

    It re-reads the file when it changes, so running services follow ``polypdet keys rotate-master``.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self._mtime = -1
        self._load()

    def _load(self) -> None:
        try:
            mtime = self.path.stat().st_mtime_ns
            document = json.loads(self.path.read_text())
            keys = {key_id: decode_key(text) for key_id, text in document["keys"].items()}
            current = keys[document["current"]]
        except FileNotFoundError:
            raise KeyConfigError(f"master keyring not found: {self.path}") from None
        except (OSError, ValueError, KeyError, TypeError, AttributeError) as error:
            raise KeyConfigError(f"unreadable master keyring {self.path}: {type(error).__name__}") from None
        super().__init__([current, *(key for key in keys.values() if key != current)])
        self._mtime = mtime

    def _follow_file(self) -> None:
        try:
            changed = self.path.stat().st_mtime_ns != self._mtime
        except OSError:
            return  # keep the keys we have; the next change is picked up
        if changed:
            self._load()

    @property
    def current_key_id(self) -> str:
        self._follow_file()
        return self._current

    def wrap(self, data_key: bytes, aad: bytes) -> tuple[str, bytes]:
        self._follow_file()
        return super().wrap(data_key, aad)

    def unwrap(self, key_id: str, wrapped: bytes, aad: bytes) -> bytes:
        if key_id not in self._keys:
            self._follow_file()
        return super().unwrap(key_id, wrapped, aad)

    @classmethod
    def create(cls, path: Path) -> FileKeyring:
        """Write a keyring with one fresh key; refuses to overwrite an existing one."""
        key = AESGCM.generate_key(bit_length=256)
        write_private(path, json.dumps({"current": key_id_for(key), "keys": {key_id_for(key): encode_key(key)}}))
        return cls(path)

    @classmethod
    def open_or_create(cls, path: Path) -> FileKeyring:
        if not path.exists():
            with contextlib.suppress(FileExistsError):  # another process created it first
                return cls.create(path)
        return cls(path)

    def add_current(self, key: bytes | None = None) -> str:
        """Make a new (or given) key current; old keys stay for unwrapping until :meth:`retire`."""
        self._follow_file()
        key = key or AESGCM.generate_key(bit_length=256)
        self._keys = {key_id_for(key): key, **self._keys}
        self._current = key_id_for(key)
        self._save()
        return self._current

    def retire(self, key_ids: Sequence[str]) -> None:
        """Forget old keys once nothing is wrapped by them any more."""
        self._follow_file()
        for key_id in key_ids:
            if key_id != self._current:
                self._keys.pop(key_id, None)
        self._save()

    def _save(self) -> None:
        document = {"current": self._current, "keys": {kid: encode_key(key) for kid, key in self._keys.items()}}
        write_private(self.path, json.dumps(document), replace=True)
        self._mtime = self.path.stat().st_mtime_ns


def write_private(path: Path, text: str, replace: bool = False) -> None:
    """Write ``text`` to ``path`` with mode 0600, atomically; without ``replace`` an existing file is an error."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    temporary = path.with_name(f".{path.name}.{secrets.token_hex(6)}.tmp")
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "w") as handle:
        handle.write(text)
    try:
        if replace:
            os.replace(temporary, path)
        else:
            os.link(temporary, path)  # complete file or FileExistsError, never a half-written key
    finally:
        temporary.unlink(missing_ok=True)


def keys_dir(settings: Settings) -> Path:
    return settings.polypdet_home / "keys"


def key_provider_from_settings(settings: Settings) -> LocalKeyProvider:
    """The configured master keys; in development a keyring file is created on first use."""
    if settings.master_key is not None:
        previous = settings.master_key_previous.get_secret_value() if settings.master_key_previous else ""
        keys = [decode_key(settings.master_key.get_secret_value())]
        keys += [decode_key(text) for text in previous.split(",") if text.strip()]
        return LocalKeyProvider(keys)
    if settings.master_key_file is not None:
        return FileKeyring(settings.master_key_file)
    if settings.environment != "development":
        raise KeyConfigError("set MASTER_KEY or MASTER_KEY_FILE")
    return FileKeyring.open_or_create(keys_dir(settings) / "master.json")


def load_secret(settings: Settings, name: str) -> bytes:
    """The secret ``name`` (``jwt_secret``, ``pseudonym_key``) from ``NAME``, ``NAME_FILE`` or the dev key folder."""
    value = getattr(settings, name)
    if value is not None:
        return str(value.get_secret_value()).encode()
    path: Path | None = getattr(settings, f"{name}_file")
    if path is not None:
        try:
            return path.read_bytes().strip()
        except OSError as error:
            raise KeyConfigError(f"cannot read {name.upper()}_FILE {path}: {error.strerror}") from None
    if settings.environment != "development":
        raise KeyConfigError(f"set {name.upper()} or {name.upper()}_FILE")
    generated = keys_dir(settings) / f"{name}.key"
    if not generated.exists():
        with contextlib.suppress(FileExistsError):  # another process created it first
            write_private(generated, secrets.token_urlsafe(48))
    return generated.read_bytes().strip()
