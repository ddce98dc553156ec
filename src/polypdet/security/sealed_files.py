"""Files sealed at rest in chunks: large outputs (annotated videos) encrypted without holding them in memory.

The envelope of :mod:`polypdet.security.crypto` cut into chunks: one data key per file, wrapped by the master key
with the caller's associated data (the record the file belongs to), then the plaintext in chunks of
``CHUNK_BYTES``, each sealed with AES-256-GCM::

    magic "PDSF1" | key id length (1) | key id | wrapped key length (2) | wrapped data key | chunk | chunk | ...
    chunk = nonce (12) | ciphertext | tag (16)

Each chunk authenticates the associated data, its index and whether it is the last one, so chunks cannot be
reordered, dropped, moved to another file or cut off at the end. A byte range is read by opening only the chunks
it covers (HTTP range requests on a video). Rotating the master key re-writes only the header
(:meth:`FileSealer.rewrap`).

>>> sealer = FileSealer(LocalKeyProvider.generate())
>>> sealer.write_bytes(path, b"frame,x1,y1", record_aad("video-job", "42/detections.csv"))
>>> sealer.open(path, record_aad("video-job", "42/detections.csv")).read_all()
b'frame,x1,y1'
"""

from __future__ import annotations

import io
import os
import secrets
import shutil
import struct
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from polypdet.security.crypto import NONCE_BYTES, DecryptionError, KeyProvider, aes_gcm_decrypt, aes_gcm_encrypt

MAGIC = b"PDSF1"
CHUNK_BYTES = 64 * 1024
TAG_BYTES = 16
OVERHEAD = NONCE_BYTES + TAG_BYTES


def _chunk_aad(aad: bytes, index: int, last: bool) -> bytes:
    return aad + b"\0chunk" + struct.pack(">QB", index, last)


@dataclass(frozen=True)
class SealedFile:
    """An opened sealed file: its plaintext ``size``, readable whole or by byte range."""

    path: Path
    aad: bytes
    data_key: bytes
    header_bytes: int
    chunks: int
    size: int

    def read_range(self, start: int, end: int) -> Iterator[bytes]:
        """The plaintext bytes ``start`` to ``end`` (exclusive), chunk by chunk; raises :class:`DecryptionError`."""
        if not 0 <= start < end <= self.size:
            return
        sealed_chunk = CHUNK_BYTES + OVERHEAD
        first, last = start // CHUNK_BYTES, (end - 1) // CHUNK_BYTES
        with self.path.open("rb") as handle:
            handle.seek(self.header_bytes + first * sealed_chunk)
            for index in range(first, last + 1):
                aad = _chunk_aad(self.aad, index, index == self.chunks - 1)
                plain = aes_gcm_decrypt(self.data_key, handle.read(sealed_chunk), aad)
                offset = index * CHUNK_BYTES
                yield plain[max(start - offset, 0) : end - offset]

    def read_all(self) -> bytes:
        return b"".join(self.read_range(0, self.size))


class FileSealer:
    """Seal files with data keys wrapped by ``provider`` (the service's master keys)."""

    def __init__(self, provider: KeyProvider) -> None:
        self.provider = provider

    def seal(self, source: BinaryIO, target: Path, aad: bytes) -> None:
        """Write ``source`` sealed to ``target``, atomically (a reader sees the old file or the whole new one)."""
        data_key = AESGCM.generate_key(bit_length=256)
        key_id, wrapped = self.provider.wrap(data_key, aad)
        temporary = target.with_name(f".{target.name}.{secrets.token_hex(6)}.tmp")
        try:
            with temporary.open("wb") as out:
                out.write(_header(key_id, wrapped))
                chunk, index = source.read(CHUNK_BYTES), 0
                while True:  # an empty file is one empty last chunk
                    following = source.read(CHUNK_BYTES)
                    out.write(aes_gcm_encrypt(data_key, chunk, _chunk_aad(aad, index, last=not following)))
                    if not following:
                        break
                    chunk, index = following, index + 1
                out.flush()
                os.fsync(out.fileno())
            os.replace(temporary, target)
        finally:
            temporary.unlink(missing_ok=True)

    def seal_in_place(self, path: Path, aad: bytes) -> None:
        """Replace the plain file ``path`` by its sealed form."""
        with path.open("rb") as plain:
            self.seal(plain, path, aad)

    def write_bytes(self, path: Path, data: bytes, aad: bytes) -> None:
        self.seal(io.BytesIO(data), path, aad)

    def open(self, path: Path, aad: bytes) -> SealedFile:
        """Unwrap the data key of a sealed file; raises :class:`DecryptionError` if it is not one or not ``aad``'s."""
        with path.open("rb") as handle:
            total = os.fstat(handle.fileno()).st_size
            key_id, wrapped = _read_header(handle)
            header_bytes = handle.tell()
        sealed_chunk = CHUNK_BYTES + OVERHEAD
        body = total - header_bytes
        chunks = max(-(-body // sealed_chunk), 1)  # ceiling division
        last_plain = body - (chunks - 1) * sealed_chunk - OVERHEAD
        if last_plain < 0 or (last_plain == 0 and chunks > 1):
            raise DecryptionError("malformed or truncated sealed file")
        data_key = self.provider.unwrap(key_id, wrapped, aad)
        return SealedFile(path, aad, data_key, header_bytes, chunks, (chunks - 1) * CHUNK_BYTES + last_plain)

    def rewrap(self, path: Path, aad: bytes) -> bool:
        """Wrap the file's data key with the current master key (the chunks are copied, not re-encrypted).

        Returns False when it already is; raises :class:`DecryptionError` if ``path`` is not ``aad``'s sealed file.
        """
        with path.open("rb") as handle:
            key_id, wrapped = _read_header(handle)
            if key_id == self.provider.current_key_id:
                return False
            data_key = self.provider.unwrap(key_id, wrapped, aad)
            new_id, new_wrapped = self.provider.wrap(data_key, aad)
            temporary = path.with_name(f".{path.name}.{secrets.token_hex(6)}.tmp")
            try:
                with temporary.open("wb") as out:
                    out.write(_header(new_id, new_wrapped))
                    shutil.copyfileobj(handle, out)
                    out.flush()
                    os.fsync(out.fileno())
                os.replace(temporary, path)
            finally:
                temporary.unlink(missing_ok=True)
        return True


def _header(key_id: str, wrapped: bytes) -> bytes:
    key_id_bytes = key_id.encode()
    return MAGIC + struct.pack(">B", len(key_id_bytes)) + key_id_bytes + struct.pack(">H", len(wrapped)) + wrapped


def _read_header(handle: BinaryIO) -> tuple[str, bytes]:
    """The master key id and wrapped data key at the start of a sealed file; the handle is left after them."""
    try:
        if handle.read(len(MAGIC)) != MAGIC:
            raise DecryptionError("not a sealed file")
        (id_length,) = struct.unpack(">B", handle.read(1))
        key_id = handle.read(id_length).decode()
        (wrapped_length,) = struct.unpack(">H", handle.read(2))
        wrapped = handle.read(wrapped_length)
    except (struct.error, UnicodeDecodeError):
        raise DecryptionError("malformed sealed file") from None
    if len(wrapped) != wrapped_length:
        raise DecryptionError("malformed or truncated sealed file")
    return key_id, wrapped


def sealed_file_key_id(path: Path) -> str:
    """The id of the master key that wraps a sealed file's data key."""
    with path.open("rb") as handle:
        return _read_header(handle)[0]
