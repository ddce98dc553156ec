"""``ResultStore``: save, fetch and page through results (newest first, keyset pagination)."""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol

from sqlalchemy import Engine, and_, or_, select, text
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from polypdet.security.crypto import DecryptionError, record_aad
from polypdet.store.engine import make_engine
from polypdet.store.migrate import upgrade
from polypdet.store.models import ResultRecord


class StoreError(RuntimeError):
    """The database cannot be reached or refused the operation."""


class InvalidCursorError(ValueError):
    """A pagination cursor that this store did not hand out."""


class PayloadCipher(Protocol):
    """Authenticated encryption bound to associated data (``polypdet.security.crypto.Envelope``)."""

    def seal(self, plaintext: bytes, aad: bytes) -> bytes: ...

    def open(self, blob: bytes, aad: bytes) -> bytes: ...


PAYLOAD_KIND = "results.payload"
SOURCE_KIND = "results.source_image"


@dataclass(frozen=True)
class ResultPage:
    items: list[ResultRecord]
    next_cursor: str | None


def as_utc(moment: datetime) -> datetime:
    """SQLite hands back naive datetimes; everything stored is UTC."""
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def encode_cursor(record: ResultRecord) -> str:
    raw = json.dumps([as_utc(record.created_at).isoformat(), record.id]).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[datetime, str]:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        created, record_id = json.loads(raw)
        return as_utc(datetime.fromisoformat(created)), str(record_id)
    except (binascii.Error, ValueError, TypeError, UnicodeDecodeError):
        raise InvalidCursorError("invalid cursor (use next_cursor from the previous page)") from None


class ResultStore:
    """Results in any SQLAlchemy database; ``owner=None`` on reads means "any owner".

    With a ``cipher``, each result's detections and parameters (and, for the DICOM outputs, its per-frame
    detections and source DICOM header) are stored as one AES-256-GCM envelope bound to the result id, and a
    kept source image as another; the other columns (sizes, timings, model, owner, hashes) identify no patient.
    """

    def __init__(self, engine: Engine, cipher: PayloadCipher | None = None) -> None:
        self.engine = engine
        self.cipher = cipher
        self._sessions = sessionmaker(engine, expire_on_commit=False)

    @classmethod
    def open(cls, url: str, migrate: bool = True, cipher: PayloadCipher | None = None) -> ResultStore:
        """Connect to ``url`` and, by default, run the migrations to head."""
        store = cls(make_engine(url), cipher)
        if migrate:
            upgrade(store.engine)
        return store

    def _sealed(self, record: ResultRecord) -> ResultRecord:
        """A copy of ``record`` for the database: payload encrypted, plaintext columns empty."""
        values = {c.key: getattr(record, c.key) for c in ResultRecord.__table__.columns}
        if self.cipher is None:  # no key, no patient data: per-frame boxes, DICOM header and source are not kept
            return ResultRecord(**values | {"source_image": None})
        content: dict[str, Any] = {"detections": record.detections, "params": record.params}
        content |= {"frames": record.frames, "dicom_header": record.dicom_header}
        plaintext = json.dumps(content).encode()
        values |= {"payload": self.cipher.seal(plaintext, record_aad(PAYLOAD_KIND, record.id))}
        values |= {"detections": None, "params": None}
        if record.source_image is not None:
            values["source_image"] = self.cipher.seal(record.source_image, record_aad(SOURCE_KIND, record.id))
        return ResultRecord(**values)

    def _reveal(self, record: ResultRecord) -> ResultRecord:
        """Decrypt the payload of a loaded (detached) record into its ``detections`` and ``params``."""
        if record.payload is None:
            return record
        if self.cipher is None:
            raise StoreError("this result is encrypted and the store has no key")
        try:
            content = json.loads(self.cipher.open(record.payload, record_aad(PAYLOAD_KIND, record.id)))
        except DecryptionError as error:
            raise StoreError(f"cannot decrypt result {record.id}: {error}") from None
        record.detections, record.params = content["detections"], content["params"]
        record.frames, record.dicom_header = content.get("frames"), content.get("dicom_header")
        return record

    def add(self, record: ResultRecord) -> None:
        stored = self._sealed(record)
        try:
            with Session(self.engine, expire_on_commit=False) as session, session.begin():
                session.add(stored)
        except SQLAlchemyError as error:
            raise StoreError(f"cannot save result: {type(error).__name__}") from error

    def get(self, record_id: str, owner: str | None = None) -> ResultRecord | None:
        with self._sessions() as session:
            record = session.get(ResultRecord, record_id)
        if record is None or (owner is not None and record.owner != owner):
            return None
        return self._reveal(record)

    def source_image(self, record_id: str) -> bytes | None:
        """The uploaded bytes of a result, decrypted; ``None`` when they were not kept."""
        query = select(ResultRecord.source_image).where(ResultRecord.id == record_id)
        with self._sessions() as session:
            blob = session.scalar(query)
        if blob is None or self.cipher is None:
            return None
        try:
            return self.cipher.open(blob, record_aad(SOURCE_KIND, record_id))
        except DecryptionError as error:
            raise StoreError(f"cannot decrypt the source of result {record_id}: {error}") from None

    def page(self, limit: int = 20, cursor: str | None = None, owner: str | None = None) -> ResultPage:
        query = select(ResultRecord).order_by(ResultRecord.created_at.desc(), ResultRecord.id.desc())
        if owner is not None:
            query = query.where(ResultRecord.owner == owner)
        if cursor:
            created, record_id = decode_cursor(cursor)
            query = query.where(
                or_(
                    ResultRecord.created_at < created,
                    and_(ResultRecord.created_at == created, ResultRecord.id < record_id),
                )
            )
        with self._sessions() as session:
            items = list(session.scalars(query.limit(limit + 1)))
        more = len(items) > limit
        items = [self._reveal(item) for item in items[:limit]]
        return ResultPage(items, encode_cursor(items[-1]) if more and items else None)

    def ping(self) -> bool:
        """True when the database answers a trivial query."""
        try:
            with self.engine.connect() as connection:
                connection.execute(text("SELECT 1"))
        except SQLAlchemyError:
            return False
        return True

    def close(self) -> None:
        self.engine.dispose()
