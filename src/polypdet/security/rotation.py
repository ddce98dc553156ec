"""Master key rotation: re-wrap the data key of every encrypted value under the current master key.

Each encrypted column is registered here with the table, the id column and the associated-data kind its blobs
were sealed with. Payloads are not re-encrypted: only the 60-byte wrapped data keys change.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Engine, Table, select, update

from polypdet.security import models as security_tables
from polypdet.security.crypto import Envelope, record_aad
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
