"""Master key rotation: re-wrap the data key of every encrypted value under the current master key.

Each encrypted column is registered here with the table, the id column and the associated-data kind its blobs
were sealed with; files sealed at rest (the PACS outbox, video-job outputs) are found under ``POLYPDET_HOME``.
Payloads are not re-encrypted: only the 60-byte wrapped data keys change.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import Engine, Table, select, update

from polypdet.security import models as security_tables
from polypdet.security.crypto import DecryptionError, Envelope, record_aad
from polypdet.security.sealed_files import FileSealer, sealed_file_key_id
from polypdet.store.models import Base

assert security_tables.User.__tablename__ in Base.metadata.tables  # the tables below are registered


@dataclass(frozen=True)
class EncryptedColumn:
    table: str
    id_column: str
    column: str
    kind: str


ENCRYPTED_COLUMNS: list[EncryptedColumn] = [
    EncryptedColumn("users", "id", "totp_secret", "users.totp_secret"),
    EncryptedColumn("results", "id", "payload", "results.payload"),
    EncryptedColumn("results", "id", "source_image", "results.source_image"),
]


def register(column: EncryptedColumn) -> None:
    if column not in ENCRYPTED_COLUMNS:
        ENCRYPTED_COLUMNS.append(column)


def rewrap_all(engine: Engine, envelope: Envelope, batch: int = 500) -> dict[str, int]:
    """Re-wrap every registered column; returns how many values moved to the current key, per column."""
    current = envelope.provider.current_key_id
    moved: dict[str, int] = {}
    for spec in ENCRYPTED_COLUMNS:
        table: Table = Base.metadata.tables[spec.table]
        id_col, blob_col = table.c[spec.id_column], table.c[spec.column]
        count, last_id = 0, None
        while True:
            query = select(id_col, blob_col).where(blob_col.is_not(None)).order_by(id_col).limit(batch)
            if last_id is not None:
                query = query.where(id_col > last_id)
            with engine.begin() as connection:
                rows = connection.execute(query).all()
                for record_id, blob in rows:
                    if Envelope.key_id_of(blob) == current:
                        continue
                    new_blob = envelope.rewrap(blob, record_aad(spec.kind, str(record_id)))
                    connection.execute(update(table).where(id_col == record_id).values({spec.column: new_blob}))
                    count += 1
            if len(rows) < batch:
                break
            last_id = rows[-1][0]
        moved[f"{spec.table}.{spec.column}"] = count
    return moved


def key_ids_in_use(engine: Engine) -> set[str]:
    """The master keys that some stored value still needs."""
    used: set[str] = set()
    with engine.connect() as connection:
        for spec in ENCRYPTED_COLUMNS:
            column = Base.metadata.tables[spec.table].c[spec.column]
            for (blob,) in connection.execute(select(column).where(column.is_not(None))):
                used.add(Envelope.key_id_of(blob))
    return used


def sealed_files(home: Path, outbox: Path | None = None) -> list[tuple[Path, bytes, bool]]:
    """Every file sealed at rest under ``home``, with its associated data and whether it is chunked.

    The PACS outbox (``outbox``, default ``home/pacs-outbox``: whole-file envelopes) and the outputs of video jobs
    (``home/jobs``: chunked). Files not sealed yet (a job still writing its video) are skipped by the callers.
    """
    from polypdet.clinical.pacs.outbox import outbox_aad
    from polypdet.video.jobs.records import JobFiles

    found = [(path, outbox_aad(path.name), False) for path in sorted((outbox or home / "pacs-outbox").glob("*/*.dcm"))]
    for root in sorted((home / "jobs").glob("*/")):
        job = JobFiles(root)
        found += [(path, job.aad(path), True) for path in (job.video, job.csv, job.summary) if path.is_file()]
    return found


def rewrap_files(home: Path, envelope: Envelope, outbox: Path | None = None) -> dict[str, int]:
    """Re-wrap the data key of every sealed file (see :func:`sealed_files`); returns how many moved, per kind."""
    sealer = FileSealer(envelope.provider)
    moved = {"pacs-outbox files": 0, "video-job files": 0}
    for path, aad, chunked in sealed_files(home, outbox):
        try:
            if chunked:
                changed = sealer.rewrap(path, aad)
            else:
                blob = path.read_bytes()
                new_blob = envelope.rewrap(blob, aad)
                changed = new_blob != blob
                if changed:
                    _replace(path, new_blob)
        except DecryptionError:
            continue  # not sealed (yet), or not ours: left as it is, and counted by file_key_ids if sealed
        moved["video-job files" if chunked else "pacs-outbox files"] += changed
    return moved


def file_key_ids(home: Path, outbox: Path | None = None) -> set[str]:
    """The master keys some sealed file under ``home`` still needs."""
    used: set[str] = set()
    for path, _, chunked in sealed_files(home, outbox):
        try:
            used.add(sealed_file_key_id(path) if chunked else Envelope.key_id_of(path.read_bytes()))
        except (DecryptionError, ValueError):
            continue
    return used


def _replace(path: Path, data: bytes) -> None:
    temporary = path.with_name(f".{path.name}.tmp")
    temporary.write_bytes(data)
    os.replace(temporary, path)
