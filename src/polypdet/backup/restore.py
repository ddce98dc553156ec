"""``restore_backup``: open an archive, put the database and models back, and prove that they are whole."""

from __future__ import annotations

import shutil
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from polypdet.backup.archive import MODELS, BackupError, BackupManifest, extract_tar, unseal
from polypdet.backup.database import DatabaseBackupError, database_kind, restore_database, table_counts
from polypdet.backup.storage import StorageError, newest_archive, read_archive
from polypdet.config import Settings
from polypdet.engine.models import models_dir as default_models_dir
from polypdet.security.audit import AuditLog
from polypdet.security.crypto import Envelope
from polypdet.security.keys import key_provider_from_settings
from polypdet.store.engine import make_engine


@dataclass(frozen=True)
class RestoreReport:
    location: str
    manifest: BackupManifest
    audit: str | None
    """The audit chain's verification after the restore (None when the archive has no audit trail)."""
    seconds: float


def restore_models(extracted: Path, manifest: BackupManifest, models_dir: Path) -> None:
    """Replace each model folder the archive holds; other folders in ``models_dir`` stay."""
    for top in sorted({relative.split("/", 1)[0] for relative in manifest.models}):
        target = models_dir / top
        if target.is_dir():
            shutil.rmtree(target)
        elif target.exists():
            target.unlink()
    for relative in manifest.models:
        destination = models_dir / relative
        destination.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(extracted / MODELS / relative, destination)


def restore_backup(settings: Settings, source: str, models_dir: Path | None = None) -> RestoreReport:
    """Restore the archive ``source`` (or the newest one in that folder / S3 prefix) into the configured database
    and ``models_dir``; stop the service first. Raises :class:`BackupError` when anything does not check out."""
    start = time.perf_counter()
    url, models = settings.resolved_database_url, models_dir or default_models_dir()
    try:
        location = newest_archive(source)
        tar_bytes = unseal(Envelope(key_provider_from_settings(settings)), read_archive(location))
        with tempfile.TemporaryDirectory(prefix="polypdet-restore-") as scratch:
            extracted = Path(scratch)
            manifest = extract_tar(tar_bytes, extracted)
            if database_kind(url) != manifest.database_kind:
                raise BackupError(f"the archive holds a {manifest.database_kind} database, DATABASE_URL is not one")
            restore_database(url, extracted / manifest.database_file)
            restore_models(extracted, manifest, models)
    except (DatabaseBackupError, StorageError) as error:
        raise BackupError(str(error)) from None
    engine = make_engine(url)
    try:
        restored = table_counts(engine)
        audit = AuditLog(engine).verify(manifest.audit_head) if manifest.audit_head is not None else None
    finally:
        engine.dispose()
    missing = {t: n for t, n in manifest.tables.items() if restored.get(t) != n}
    if missing:
        raise BackupError(f"restored tables differ from the archive (table: rows expected): {missing}")
    if audit is not None and not audit.ok:
        raise BackupError(f"restored, but {audit.describe()}")
    return RestoreReport(location, manifest, audit.describe() if audit else None, time.perf_counter() - start)
