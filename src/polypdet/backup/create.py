"""``create_backup``: snapshot the database and the model registry into one sealed archive at a destination."""

from __future__ import annotations

import tempfile
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

from sqlalchemy import inspect

from polypdet.backup.archive import BackupError, BackupManifest, build_tar, model_files, seal
from polypdet.backup.database import DatabaseBackupError, database_kind, dump_database, table_counts
from polypdet.backup.storage import SUFFIX, StorageError, write_archive
from polypdet.config import Settings
from polypdet.engine.models import models_dir as default_models_dir
from polypdet.security.audit import AuditLog
from polypdet.security.crypto import Envelope
from polypdet.security.keys import key_provider_from_settings
from polypdet.store.engine import make_engine


@dataclass(frozen=True)
class BackupReport:
    location: str
    manifest: BackupManifest
    size_bytes: int
    seconds: float


def polypdet_version() -> str:
    try:
        return version("polypdet")
    except PackageNotFoundError:
        return "unknown"


def create_backup(settings: Settings, destination: str, models_dir: Path | None = None) -> BackupReport:
    """Dump the database, add the models, seal with the master key, store in ``destination`` (folder or s3://)."""
    start = time.perf_counter()
    url, models = settings.resolved_database_url, models_dir or default_models_dir()
    now = datetime.now(UTC)
    archive_id = uuid.uuid4().hex
    engine = make_engine(url)
    try:
        kind = database_kind(url)
        tables = table_counts(engine)
        audit = AuditLog(engine).verify() if "audit_log" in inspect(engine).get_table_names() else None
        with tempfile.TemporaryDirectory(prefix="polypdet-backup-") as scratch:
            dump = Path(scratch) / "database"
            dump_database(url, dump)
            manifest = BackupManifest(
                archive_id=archive_id,
                created_at=now.isoformat(timespec="seconds"),
                polypdet_version=polypdet_version(),
                database_kind=kind,
                database_file="database.dump" if kind == "postgresql" else "database.sqlite",
                tables=tables,
                audit_records=audit.records if audit else None,
                audit_head=audit.head_hash if audit else None,
                models=model_files(models),
            )
            tar_bytes = build_tar(manifest, dump, models)
        envelope = Envelope(key_provider_from_settings(settings))
        sealed = seal(envelope, archive_id, manifest.created_at, tar_bytes)
        name = f"polypdet-backup-{now:%Y%m%dT%H%M%SZ}-{archive_id[:8]}{SUFFIX}"
        location = write_archive(destination, name, sealed)
    except (DatabaseBackupError, StorageError) as error:
        raise BackupError(str(error)) from None
    finally:
        engine.dispose()
    if audit is not None and not audit.ok:
        raise BackupError(f"backed up to {location}, but {audit.describe()}")
    return BackupReport(location, manifest, len(sealed), time.perf_counter() - start)
