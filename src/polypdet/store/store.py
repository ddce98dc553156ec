"""``ResultStore``: save, fetch and page through results (newest first, keyset pagination)."""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import Engine, and_, or_, select, text
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from polypdet.store.engine import make_engine
from polypdet.store.migrate import upgrade
from polypdet.store.models import ResultRecord


class StoreError(RuntimeError):
    """The database cannot be reached or refused the operation."""


class InvalidCursorError(ValueError):
    """A pagination cursor that this store did not hand out."""


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
    """Results in any SQLAlchemy database; ``owner=None`` on reads means "any owner"."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._sessions = sessionmaker(engine, expire_on_commit=False)

    @classmethod
    def open(cls, url: str, migrate: bool = True) -> ResultStore:
        """Connect to ``url`` and, by default, run the migrations to head."""
        store = cls(make_engine(url))
        if migrate:
            upgrade(store.engine)
        return store

    def add(self, record: ResultRecord) -> None:
        try:
            with Session(self.engine, expire_on_commit=False) as session, session.begin():
                session.add(record)
        except SQLAlchemyError as error:
            raise StoreError(f"cannot save result: {type(error).__name__}") from error

    def get(self, record_id: str, owner: str | None = None) -> ResultRecord | None:
        with self._sessions() as session:
            record = session.get(ResultRecord, record_id)
        if record is None or (owner is not None and record.owner != owner):
            return None
        return record

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
        items = items[:limit]
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
