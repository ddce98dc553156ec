"""The tamper-evident audit trail: an append-only, hash-chained table.

Each record stores ``prev_hash`` (the previous record's hash; 64 zeros for the first) and ``hash`` = SHA-256 over
the canonical JSON (sorted keys, no spaces, UTF-8) of all its other fields. Changing, inserting or deleting a
record breaks the chain at that record; :meth:`AuditLog.verify` names the first broken one. Cutting records off
the end is caught by comparing with a head hash kept elsewhere (``polypdet audit verify --expect-head``).
"""

from __future__ import annotations

import hashlib
import json
import random
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Engine, select
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlalchemy.orm import Session

from polypdet.security.models import AuditRecord, as_utc, utc_now

GENESIS = "0" * 64
APPEND_ATTEMPTS = 30


class AuditError(RuntimeError):
    """The event could not be recorded: callers must not go on with the audited action."""


def canonical_json(value: Any) -> bytes:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def record_fields(record: AuditRecord) -> dict[str, Any]:
    """The hashed content of a record (everything but ``seq`` and ``hash``)."""
    return {
        "at": as_utc(record.at).isoformat(timespec="microseconds"),
        "actor": record.actor,
        "action": record.action,
        "outcome": record.outcome,
        "target": record.target,
        "client_ip": record.client_ip,
        "details": record.details,
        "prev_hash": record.prev_hash,
    }


def record_hash(record: AuditRecord) -> str:
    return hashlib.sha256(canonical_json(record_fields(record))).hexdigest()


def record_json(record: AuditRecord) -> dict[str, Any]:
    return {"seq": record.seq, **record_fields(record), "hash": record.hash}


@dataclass(frozen=True)
class VerifyReport:
    ok: bool
    records: int
    head_hash: str
    broken_seq: int | None = None
    reason: str | None = None

    def describe(self) -> str:
        if self.ok:
            return f"audit trail intact: {self.records} records, head {self.head_hash}"
        return f"audit trail BROKEN at record {self.broken_seq}: {self.reason}"


class AuditLog:
    def __init__(self, engine: Engine, clock: Callable[[], datetime] = utc_now) -> None:
        self.engine = engine
        self.clock = clock

    def append(
        self,
        action: str,
        actor: str,
        outcome: str = "success",
        target: str | None = None,
        client_ip: str | None = None,
        details: dict[str, Any] | None = None,
    ) -> AuditRecord:
        """Add one event at the head of the chain (retrying when another writer got there first)."""
        last_error: Exception | None = None
        for attempt in range(APPEND_ATTEMPTS):
            with Session(self.engine, expire_on_commit=False) as db:
                head = db.scalar(select(AuditRecord.hash).order_by(AuditRecord.seq.desc()).limit(1))
                record = AuditRecord(
                    at=self.clock(),
                    actor=actor[:160],
                    action=action,
                    outcome=outcome,
                    target=target[:160] if target else None,
                    client_ip=client_ip,
                    details=details or {},
                    prev_hash=head or GENESIS,
                )
                record.hash = record_hash(record)
                db.add(record)
                try:
                    db.commit()
                    return record
                except (IntegrityError, OperationalError) as error:  # a concurrent append took that head
                    db.rollback()
                    last_error = error
            time.sleep(random.uniform(0, 0.005 * (attempt + 1)))
        raise AuditError(f"cannot append to the audit log: {type(last_error).__name__}")

    def records(self, after_seq: int = 0, limit: int | None = None) -> Iterator[AuditRecord]:
        """Records in chain order, streamed from the database."""
        query = select(AuditRecord).where(AuditRecord.seq > after_seq).order_by(AuditRecord.seq)
        if limit is not None:
            query = query.limit(limit)
        with Session(self.engine) as db:
            yield from db.scalars(query.execution_options(yield_per=500))

    def verify(self, expect_head: str | None = None) -> VerifyReport:
        expected_prev, count, last_seq = GENESIS, 0, 0
        for record in self.records():
            if record.prev_hash != expected_prev:
                reason = "prev_hash does not match the record before it (a record was removed or inserted)"
                return VerifyReport(False, count, expected_prev, record.seq, reason)
            if record_hash(record) != record.hash:
                return VerifyReport(False, count, expected_prev, record.seq, "contents changed after writing")
            expected_prev, count, last_seq = record.hash, count + 1, record.seq
        if expect_head is not None and expect_head != expected_prev:
            reason = f"the chain ends at {expected_prev}, not at the expected head (records cut off the end)"
            return VerifyReport(False, count, expected_prev, last_seq + 1, reason)
        return VerifyReport(True, count, expected_prev)

    def export(self, after_seq: int = 0, limit: int | None = None) -> Iterator[dict[str, Any]]:
        for record in self.records(after_seq, limit):
            yield record_json(record)
