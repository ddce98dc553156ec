"""AES-256-GCM envelope encryption: a fresh data key per object, wrapped by a master key.

A sealed blob is self-describing::

    version (1) | key id length (1) | key id | wrapped key length (2) | wrapped data key | nonce (12) | ciphertext+tag

Both the data key wrap and the payload carry the caller's associated data (the record id), so a blob copied onto
another record does not open. Rotating the master key re-wraps the 60-byte data key only; the payload stays.

>>> from polypdet.security.keys import LocalKeyProvider
>>> envelope = Envelope(LocalKeyProvider.generate())
>>> blob = envelope.seal(b"Doe^Jane", record_aad("results", "abc"))
>>> envelope.open(blob, record_aad("results", "abc"))
b'Doe^Jane'
"""

from __future__ import annotations

import os
import struct
from dataclasses import dataclass
from typing import Protocol

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

VERSION = 1
NONCE_BYTES = 12
DATA_KEY_BYTES = 32


class DecryptionError(ValueError):
    """The blob is malformed, was tampered with, belongs to another record, or its master key is unknown."""


class KeyProvider(Protocol):
    """Wraps and unwraps data keys with a master key it never hands out (a KMS or HSM can implement this)."""

    @property
    def current_key_id(self) -> str: ...

    def wrap(self, data_key: bytes, aad: bytes) -> tuple[str, bytes]:
        """Wrap with the current master key; returns ``(key id, wrapped key)``."""
        ...

    def unwrap(self, key_id: str, wrapped: bytes, aad: bytes) -> bytes:
        """Unwrap with the master key ``key_id``; raises :class:`DecryptionError`."""
        ...


def record_aad(kind: str, record_id: str) -> bytes:
    """The associated data that binds a blob to one record: ``polypdet:<kind>:<id>``."""
    return f"polypdet:{kind}:{record_id}".encode()


def aes_gcm_encrypt(key: bytes, plaintext: bytes, aad: bytes) -> bytes:
    nonce = os.urandom(NONCE_BYTES)
    return nonce + AESGCM(key).encrypt(nonce, plaintext, aad)


def aes_gcm_decrypt(key: bytes, sealed: bytes, aad: bytes) -> bytes:
    try:
        return AESGCM(key).decrypt(sealed[:NONCE_BYTES], sealed[NONCE_BYTES:], aad)
    except (InvalidTag, ValueError):
        raise DecryptionError("authentication failed (tampered, wrong record or wrong key)") from None


@dataclass(frozen=True)
class SealedBlob:
    key_id: str
    wrapped_key: bytes
    payload: bytes

    def to_bytes(self) -> bytes:
        key_id = self.key_id.encode()
        return (
            struct.pack(">BB", VERSION, len(key_id))
            + key_id
            + struct.pack(">H", len(self.wrapped_key))
            + self.wrapped_key
            + self.payload
        )

    @classmethod
    def parse(cls, blob: bytes) -> SealedBlob:
        try:
            version, id_length = struct.unpack_from(">BB", blob, 0)
            if version != VERSION:
                raise DecryptionError(f"unknown envelope version {version}")
            key_id = blob[2 : 2 + id_length].decode()
            (wrapped_length,) = struct.unpack_from(">H", blob, 2 + id_length)
            start = 4 + id_length
            wrapped, payload = blob[start : start + wrapped_length], blob[start + wrapped_length :]
        except (struct.error, UnicodeDecodeError):
            raise DecryptionError("malformed envelope") from None
        if len(wrapped) != wrapped_length or len(payload) < NONCE_BYTES + 16:
            raise DecryptionError("malformed envelope")
        return cls(key_id, wrapped, payload)


class Envelope:
    """Seal and open byte strings for one record; ``rewrap`` moves a blob to the current master key."""

    def __init__(self, provider: KeyProvider) -> None:
        self.provider = provider

    def seal(self, plaintext: bytes, aad: bytes) -> bytes:
        data_key = AESGCM.generate_key(bit_length=256)
        key_id, wrapped = self.provider.wrap(data_key, aad)
        return SealedBlob(key_id, wrapped, aes_gcm_encrypt(data_key, plaintext, aad)).to_bytes()

    def open(self, blob: bytes, aad: bytes) -> bytes:
        sealed = SealedBlob.parse(blob)
        data_key = self.provider.unwrap(sealed.key_id, sealed.wrapped_key, aad)
        return aes_gcm_decrypt(data_key, sealed.payload, aad)

    def rewrap(self, blob: bytes, aad: bytes) -> bytes:
        """The same payload with its data key wrapped by the current master key (unchanged if it already is)."""
        sealed = SealedBlob.parse(blob)
        if sealed.key_id == self.provider.current_key_id:
            return blob
        data_key = self.provider.unwrap(sealed.key_id, sealed.wrapped_key, aad)
        key_id, wrapped = self.provider.wrap(data_key, aad)
        return SealedBlob(key_id, wrapped, sealed.payload).to_bytes()

    @staticmethod
    def key_id_of(blob: bytes) -> str:
        return SealedBlob.parse(blob).key_id
