"""The audit trail's hash chain: intact under concurrent writers, broken by any change, at the right record."""

from __future__ import annotations

import json
import threading

import pytest
from sqlalchemy import Engine, text

from polypdet.security.audit import GENESIS, AuditLog, canonical_json, record_hash


@pytest.fixture
def audit(engine: Engine) -> AuditLog:
    log = AuditLog(engine)
    for number in range(1, 6):
        log.append("result.read", f"user:{number}", target=f"result:r{number}", client_ip="10.0.0.7")
    return log


def test_intact_chain(audit: AuditLog) -> None:
    report = audit.verify()
    assert report.ok and report.records == 5
    records = list(audit.export())
    assert records[0]["prev_hash"] == GENESIS
    assert [r["prev_hash"] for r in records[1:]] == [r["hash"] for r in records[:-1]]
    assert report.head_hash == records[-1]["hash"]
    json.dumps(records)  # the export is plain JSON


def test_hash_is_sha256_of_canonical_json(audit: AuditLog) -> None:
    import hashlib

    exported = next(audit.export())
    content = {k: v for k, v in exported.items() if k not in ("seq", "hash")}
    assert hashlib.sha256(canonical_json(content)).hexdigest() == exported["hash"]
    record = next(audit.records())
    assert record_hash(record) == record.hash


def third_seq(engine: Engine) -> int:
    with engine.connect() as connection:
        return int(connection.execute(text("SELECT seq FROM audit_log ORDER BY seq LIMIT 1 OFFSET 2")).scalar_one())


@pytest.mark.parametrize(
    "tamper",
    [
        "UPDATE audit_log SET actor = 'user:someone-else' WHERE seq = :seq",
        "UPDATE audit_log SET outcome = 'denied' WHERE seq = :seq",
        "UPDATE audit_log SET client_ip = '1.2.3.4' WHERE seq = :seq",
        "UPDATE audit_log SET details = '{\"x\": 1}' WHERE seq = :seq",
    ],
)
def test_changed_record_is_named(audit: AuditLog, engine: Engine, tamper: str) -> None:
    seq = third_seq(engine)
    with engine.begin() as connection:
        connection.execute(text(tamper), {"seq": seq})
    report = audit.verify()
    assert not report.ok and report.broken_seq == seq and report.reason == "contents changed after writing"
    assert f"record {seq}" in report.describe()


def test_recomputed_hash_still_breaks_the_next_link(audit: AuditLog, engine: Engine) -> None:
    seq = third_seq(engine)
    record = next(r for r in audit.records() if r.seq == seq)
    record.actor = "user:someone-else"
    with engine.begin() as connection:
        connection.execute(
            text("UPDATE audit_log SET actor = :actor, hash = :hash WHERE seq = :seq"),
            {"actor": record.actor, "hash": record_hash(record), "seq": seq},
        )
    report = audit.verify()
    assert not report.ok and report.broken_seq is not None and report.broken_seq > seq
    assert "prev_hash" in (report.reason or "")


def test_deleted_record_is_detected(audit: AuditLog, engine: Engine) -> None:
    seq = third_seq(engine)
    with engine.begin() as connection:
        connection.execute(text("DELETE FROM audit_log WHERE seq = :seq"), {"seq": seq})
    report = audit.verify()
    assert not report.ok and report.broken_seq is not None and report.broken_seq > seq


def test_truncation_is_caught_with_the_expected_head(audit: AuditLog, engine: Engine) -> None:
    head = audit.verify().head_hash
    with engine.begin() as connection:
        connection.execute(text("DELETE FROM audit_log WHERE seq = (SELECT MAX(seq) FROM audit_log)"))
    assert audit.verify().ok  # cutting the end leaves a valid, shorter chain ...
    report = audit.verify(expect_head=head)
    assert not report.ok and "cut off" in (report.reason or "")  # ... which the kept head hash exposes


def test_concurrent_writers_keep_one_chain(audit: AuditLog, engine: Engine) -> None:
    errors: list[BaseException] = []

    def write(worker: int) -> None:
        try:
            for number in range(10):
                audit.append("detect", f"key:w{worker}", details={"n": number})
        except BaseException as error:
            errors.append(error)

    threads = [threading.Thread(target=write, args=(w,)) for w in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors
    report = audit.verify()
    assert report.ok and report.records == 5 + 40
