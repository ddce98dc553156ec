"""Restore drills: make results (real detections, encrypted payloads, audit events), back up, wipe everything,
restore, and find results, audit chain and models identical — on PostgreSQL and SQLite, to a folder and to S3
(moto's server on loopback), through the library and through ``polypdet backup`` / ``polypdet restore``."""

from __future__ import annotations

import base64
import hashlib
import os
import secrets
import shutil
import subprocess
import sys
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from deploy_paths import REPO
from deploy_processes import free_port, start, stop, wait_http
from sqlalchemy import text

from polypdet.backup import BackupError, create_backup, restore_backup
from polypdet.config import Settings
from polypdet.security.audit import AuditLog
from polypdet.security.crypto import Envelope
from polypdet.security.keys import key_provider_from_settings
from polypdet.store import ResultStore
from polypdet.store.engine import make_engine
from polypdet.store.models import ResultRecord
from postgres_db import throwaway_database

IMAGES = ["cju1d31sp4d4k0878r3fr02ul.jpg", "cju0roawvklrq0799vmjorwfv.jpg", "cju0rx1idathl0835detmsp84.jpg"]


def new_master_key() -> str:
    return base64.b64encode(secrets.token_bytes(32)).decode()


def settings_for(url: str, home: Path, master_key: str) -> Settings:
    return Settings(database_url=url, polypdet_home=home, master_key=master_key, environment="development")


def make_results(settings: Settings, detector: Any, data: Path) -> None:
    """What the service does per request: detect, store the encrypted result, append the audit event."""
    from polypdet.io.images import read_image

    store = ResultStore.open(settings.resolved_database_url, cipher=Envelope(key_provider_from_settings(settings)))
    audit = AuditLog(store.engine)
    for round_ in range(3):
        for name in IMAGES:
            path = data / "kvasir-seg" / "images" / name
            image = read_image(path)
            detections = detector.detect(image)
            record = ResultRecord(
                id=uuid.uuid4().hex,
                created_at=datetime.now(UTC),
                model_version=detector.model_version,
                params={"conf": 0.25, "round": round_},
                detections=detections.to_json(),
                image_width=image.shape[1],
                image_height=image.shape[0],
                inference_ms=1.0,
                content_hash=hashlib.sha256(path.read_bytes()).hexdigest(),
                source="upload",
                owner="drill",
            )
            store.add(record)
            audit.append("result.created", "drill", target=f"result:{record.id}", client_ip="127.0.0.1")
    store.close()


def snapshot(settings: Settings, models: Path) -> dict[str, Any]:
    """Everything a restore must give back: raw rows, decrypted results, the audit chain, the model files."""
    store = ResultStore.open(
        settings.resolved_database_url, migrate=False, cipher=Envelope(key_provider_from_settings(settings))
    )
    with store.engine.connect() as connection:
        raw = [tuple(row) for row in connection.execute(text("SELECT * FROM results ORDER BY id"))]
    decrypted = [(r.id, r.detections, r.params) for r in (store.get(row[0]) for row in raw) if r is not None]
    audit = list(AuditLog(store.engine).export())
    store.close()
    files = {p.relative_to(models).as_posix(): p.read_bytes() for p in sorted(models.rglob("*")) if p.is_file()}
    return {"raw": raw, "decrypted": decrypted, "audit": audit, "models": files}


def wipe(settings: Settings, models: Path) -> None:
    url = settings.resolved_database_url
    if url.startswith("sqlite"):
        for path in settings.polypdet_home.glob("polypdet.db*"):
            path.unlink()
    else:
        engine = make_engine(url)
        with engine.begin() as connection:
            connection.execute(text("DROP SCHEMA public CASCADE"))
            connection.execute(text("CREATE SCHEMA public"))
        engine.dispose()
    shutil.rmtree(models)


@pytest.fixture
def models(tmp_path: Path) -> Path:
    copy = tmp_path / "models"
    shutil.copytree(REPO / "models", copy)
    return copy


@pytest.fixture
def postgres_settings(tmp_path: Path) -> Iterator[Settings]:
    with throwaway_database("polypdet_restore") as url:
        yield settings_for(url, tmp_path / "home", new_master_key())


@pytest.fixture
def s3(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """moto's S3 server on loopback with an empty bucket; boto3 is pointed at it through the environment."""
    boto3 = pytest.importorskip("boto3")
    server = Path(sys.executable).parent / "moto_server"
    port = free_port()
    process = start([str(server), "-H", "127.0.0.1", "-p", str(port)], {}, tmp_path / "moto.log")
    try:
        wait_http(f"http://127.0.0.1:{port}/moto-api/", process, timeout=30)
        for name, value in {
            "AWS_ACCESS_KEY_ID": "drill",
            "AWS_SECRET_ACCESS_KEY": "drill",
            "AWS_DEFAULT_REGION": "us-east-1",
            "AWS_ENDPOINT_URL": f"http://127.0.0.1:{port}",
        }.items():
            monkeypatch.setenv(name, value)
        boto3.client("s3").create_bucket(Bucket="hospital-backups")
        yield "s3://hospital-backups/polypdet/"
    finally:
        stop(process, grace=5)


@pytest.mark.postgres
def test_postgres_restore_drill_to_a_folder(
    postgres_settings: Settings, models: Path, detector: Any, data: Path, tmp_path: Path
) -> None:
    make_results(postgres_settings, detector, data)
    before = snapshot(postgres_settings, models)
    assert len(before["raw"]) == 9 and len(before["audit"]) == 9 and any(d for _, d, _ in before["decrypted"])

    report = create_backup(postgres_settings, str(tmp_path / "backups"), models)
    assert report.manifest.database_kind == "postgresql" and report.manifest.audit_records == 9
    archive = Path(report.location).read_bytes()
    assert b"cju1d31sp4d4k0878r3fr02ul" not in archive and b"polyp-yolov8n" not in archive[200:], "not encrypted"

    wipe(postgres_settings, models)
    restored = restore_backup(postgres_settings, str(tmp_path / "backups"), models)
    assert restored.audit is not None and "intact: 9 records" in restored.audit
    assert snapshot(postgres_settings, models) == before


@pytest.mark.postgres
def test_postgres_restore_drill_through_s3_and_the_cli(
    postgres_settings: Settings, models: Path, detector: Any, data: Path, s3: str
) -> None:
    make_results(postgres_settings, detector, data)
    env = {
        **os.environ,
        "DATABASE_URL": postgres_settings.resolved_database_url,
        "POLYPDET_HOME": str(postgres_settings.polypdet_home),
        "MASTER_KEY": postgres_settings.master_key.get_secret_value(),  # type: ignore[union-attr]
    }
    polypdet = str(Path(sys.executable).parent / "polypdet")

    def cli(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([polypdet, *args], env=env, capture_output=True, text=True, timeout=120)

    backup = cli("backup", "--to", s3, "--models-dir", str(models))
    assert backup.returncode == 0, backup.stderr
    assert "to s3://hospital-backups/polypdet/polypdet-backup-" in backup.stdout
    before = snapshot(postgres_settings, models)  # with the backup's own audit event
    wipe(postgres_settings, models)

    refused = cli("restore", s3, "--models-dir", str(models))
    assert refused.returncode == 2 and "--yes" in refused.stderr
    restore = cli("restore", s3, "--models-dir", str(models), "--yes")
    assert restore.returncode == 0, restore.stderr
    assert "audit trail intact: 9 records" in restore.stdout
    after = snapshot(postgres_settings, models)
    # The archive was taken before its own "backup.created" event: that one record is gone, the restore adds one.
    assert after["raw"] == before["raw"] and after["models"] == before["models"]
    assert after["audit"][:9] == before["audit"][:9]
    assert [e["action"] for e in after["audit"][9:]] == ["backup.restored"]
    verify = cli("audit", "verify")
    assert verify.returncode == 0, verify.stdout + verify.stderr


def test_sqlite_restore_drill(tmp_path: Path, models: Path, detector: Any, data: Path) -> None:
    settings = settings_for(f"sqlite:///{tmp_path / 'home' / 'polypdet.db'}", tmp_path / "home", new_master_key())
    make_results(settings, detector, data)
    before = snapshot(settings, models)
    report = create_backup(settings, str(tmp_path / "backups"), models)
    assert report.manifest.database_kind == "sqlite"
    wipe(settings, models)
    restore_backup(settings, report.location, models)
    assert snapshot(settings, models) == before


def test_wrong_key_and_tampering_are_refused(tmp_path: Path, models: Path, detector: Any, data: Path) -> None:
    settings = settings_for(f"sqlite:///{tmp_path / 'home' / 'polypdet.db'}", tmp_path / "home", new_master_key())
    make_results(settings, detector, data)
    report = create_backup(settings, str(tmp_path / "backups"), models)

    stranger = settings_for(settings.resolved_database_url, settings.polypdet_home, new_master_key())
    with pytest.raises(BackupError, match="cannot decrypt"):
        restore_backup(stranger, report.location, models)

    archive = bytearray(Path(report.location).read_bytes())
    archive[len(archive) // 2] ^= 0x01
    tampered = tmp_path / "tampered.pdbk"
    tampered.write_bytes(bytes(archive))
    with pytest.raises(BackupError, match="cannot decrypt"):
        restore_backup(settings, str(tampered), models)
    with pytest.raises(BackupError, match="no backup archives"):
        restore_backup(settings, str(tmp_path / "empty"), models)
