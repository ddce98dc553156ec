"""The archive: a tar of ``manifest.json``, the database dump and ``models/``, sealed as one AES-256-GCM envelope.

On disk: ``PDBK1\\n`` + one JSON header line (archive id, time, key id; no secrets) + the sealed tar. The envelope
(``polypdet.security.crypto``) encrypts the tar with a fresh data key wrapped by the master key, and binds it to the
archive id, so a header swapped onto another archive does not open.
"""

from __future__ import annotations

import hashlib
import io
import json
import tarfile
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from polypdet.security.crypto import DecryptionError, Envelope, record_aad

MAGIC = b"PDBK1\n"
FORMAT = 1
MANIFEST = "manifest.json"
MODELS = "models"


class BackupError(RuntimeError):
    """The archive cannot be made, opened or restored; the message says why in one line."""


@dataclass(frozen=True)
class BackupManifest:
    """What an archive holds, and what a restore must give back."""

    archive_id: str
    created_at: str
    polypdet_version: str
    database_kind: str
    database_file: str
    tables: dict[str, int]
    audit_records: int | None
    audit_head: str | None
    models: dict[str, str] = field(default_factory=dict)
    """Relative path under models/ → SHA-256."""
    format: int = FORMAT

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> BackupManifest:
        if data.get("format") != FORMAT:
            raise BackupError(f"unknown archive format {data.get('format')!r} (this polypdet reads {FORMAT})")
        return cls(**data)


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def model_files(models_dir: Path) -> dict[str, str]:
    if not models_dir.is_dir():
        return {}
    return {
        path.relative_to(models_dir).as_posix(): sha256_file(path)
        for path in sorted(models_dir.rglob("*"))
        if path.is_file() and "__pycache__" not in path.parts
    }


def build_tar(manifest: BackupManifest, dump: Path, models_dir: Path) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        content = json.dumps(asdict(manifest), indent=2).encode()
        info = tarfile.TarInfo(MANIFEST)
        info.size = len(content)
        tar.addfile(info, io.BytesIO(content))
        tar.add(dump, arcname=manifest.database_file)
        for relative in manifest.models:
            tar.add(models_dir / relative, arcname=f"{MODELS}/{relative}")
    return buffer.getvalue()


def extract_tar(data: bytes, into: Path) -> BackupManifest:
    """Unpack into ``into`` (member paths checked by tarfile's ``data`` filter) and check every model's hash."""
    with tarfile.open(fileobj=io.BytesIO(data), mode="r") as tar:
        tar.extractall(into, filter="data")
    manifest = BackupManifest.from_json(json.loads((into / MANIFEST).read_text()))
    for relative, expected in manifest.models.items():
        if sha256_file(into / MODELS / relative) != expected:
            raise BackupError(f"models/{relative} in the archive does not match its recorded hash")
    return manifest


# One AES-GCM operation of the cryptography library takes at most 2**31 - 1 bytes.
MAX_TAR_BYTES = 2**31 - 1


def seal(envelope: Envelope, archive_id: str, created_at: str, tar_bytes: bytes) -> bytes:
    if len(tar_bytes) > MAX_TAR_BYTES:
        raise BackupError(f"the archive would be {len(tar_bytes) >> 20} MiB; one archive holds at most 2 GiB")
    sealed = envelope.seal(tar_bytes, record_aad("backup", archive_id))
    header = {"archive_id": archive_id, "created_at": created_at, "key_id": Envelope.key_id_of(sealed)}
    return MAGIC + json.dumps(header).encode() + b"\n" + sealed


def unseal(envelope: Envelope, data: bytes) -> bytes:
    if not data.startswith(MAGIC):
        raise BackupError("not a polypdet backup archive")
    header_line, _, sealed = data[len(MAGIC) :].partition(b"\n")
    try:
        archive_id = str(json.loads(header_line)["archive_id"])
    except (ValueError, KeyError, TypeError):
        raise BackupError("the archive header is damaged") from None
    try:
        return envelope.open(sealed, record_aad("backup", archive_id))
    except DecryptionError as error:
        raise BackupError(f"cannot decrypt the archive (wrong master key, or altered): {error}") from None
