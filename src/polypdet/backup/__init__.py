"""Backups and restore: the database (results, users, API keys, the audit trail) and the model registry in one
AES-256-GCM encrypted archive, kept in a folder or in S3.

>>> report = create_backup(settings, "s3://hospital-backups/polypdet/")   # doctest: +SKIP
>>> restore_backup(settings, report.location)                             # doctest: +SKIP
"""

from polypdet.backup.archive import BackupError, BackupManifest
from polypdet.backup.create import BackupReport, create_backup
from polypdet.backup.restore import RestoreReport, restore_backup

__all__ = ["BackupError", "BackupManifest", "BackupReport", "RestoreReport", "create_backup", "restore_backup"]
