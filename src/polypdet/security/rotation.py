"""Master key rotation: re-wrap the data key of every encrypted value under the current master key.

Each encrypted column is registered here with the table, the id column and the associated-data kind its blobs
were sealed with; files sealed at rest (the PACS outbox, video-job outputs) are found under ``POLYPDET_HOME``.
Payloads are not re-encrypted: only the 60-byte wrapped data keys change.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import suppress
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import Engine, Table, select, update

from polypdet.security import models as security_tables
from polypdet.security.crypto import DecryptionError, Envelope, record_aad
from polypdet.security.sealed_files import FileSealer, sealed_file_key_id
from polypdet.store.models import Base

if TYPE_CHECKING:
    from polypdet.clinical.pacs.outbox import Outbox

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


def rewrap_files(home: Path, envelope: Envelope, outbox: Path | None = None) -> dict[str, int]:
    """Re-wrap the data key of every file sealed at rest: the PACS outbox (``outbox``, default
    ``home/pacs-outbox``) and the outputs of video jobs (``home/jobs``); returns how many moved, per kind.

    A file that does not open (not sealed yet, e.g. a job still writing its video) is left as it is;
    :func:`file_key_ids` still reports its key if it is sealed.
    """
    box = _outbox(home, outbox, envelope)
    sealer = FileSealer(envelope.provider)
    return {
        "pacs-outbox files": sum(_rewrapped(box.rewrap, path) for path in box.sealed_files()) if box else 0,
        "video-job files": sum(_rewrapped(sealer.rewrap, path, aad) for path, aad in _job_files(home)),
    }


def file_key_ids(home: Path, envelope: Envelope, outbox: Path | None = None) -> set[str]:
    """The master keys some file sealed at rest (see :func:`rewrap_files`) still needs."""
    used: set[str] = set()
    box = _outbox(home, outbox, envelope)
    for path in box.sealed_files() if box else []:
        with suppress(ValueError):  # not sealed: needs no key
            used.add(Envelope.key_id_of(path.read_bytes()))
    for path, _ in _job_files(home):
        with suppress(ValueError):
            used.add(sealed_file_key_id(path))
    return used


def _outbox(home: Path, outbox: Path | None, envelope: Envelope) -> Outbox | None:
    from polypdet.clinical.pacs.outbox import Outbox

    directory = outbox or home / "pacs-outbox"
    return Outbox(directory, envelope) if directory.is_dir() else None


def _job_files(home: Path) -> list[tuple[Path, bytes]]:
    """Every video-job output under ``home`` with the associated data it is sealed with."""
    from polypdet.video.jobs.records import JobFiles

    found: list[tuple[Path, bytes]] = []
    for root in sorted((home / "jobs").glob("*/")):
        job = JobFiles(root)
        found += [(path, job.aad(path)) for path in (job.video, job.csv, job.summary) if path.is_file()]
    return found


def _rewrapped(rewrap: Callable[..., bool], *args: Any) -> bool:
    """``rewrap(*args)``; False for a file that does not open."""
    try:
        return rewrap(*args)
    except DecryptionError:
        return False
