"""``polypdet backup``: the database (results, users, keys, audit trail) and the models in one encrypted archive.

The archive is sealed with the master key (``MASTER_KEY`` / ``MASTER_KEY_FILE``): keep that key apart from the
backups, a restore needs it.
"""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--to",
        default=os.environ.get("POLYPDET_BACKUP_TO"),
        help="a folder or s3://bucket/prefix/ (default: POLYPDET_BACKUP_TO, else POLYPDET_HOME/backups)",
    )
    parser.add_argument("--models-dir", type=Path, default=None, help="model registry (default: the models folder)")
    parser.add_argument("--json", action="store_true", help="print the report as JSON")


def run(args: argparse.Namespace) -> int:
    from polypdet.backup import BackupError, create_backup
    from polypdet.cli.main import CliError
    from polypdet.cli.security_common import cli_actor, load_settings, open_context

    settings = load_settings()
    destination = args.to or str(settings.polypdet_home / "backups")
    try:
        report = create_backup(settings, destination, args.models_dir)
    except BackupError as error:
        raise CliError(str(error)) from None
    context = open_context()
    try:
        context.audit.append(
            "backup.created",
            cli_actor(),
            target=report.location,
            details={"archive_id": report.manifest.archive_id, "bytes": report.size_bytes},
        )
    finally:
        context.engine.dispose()
    manifest = report.manifest
    if args.json:
        print(
            json.dumps(
                {
                    "location": report.location,
                    "bytes": report.size_bytes,
                    "seconds": round(report.seconds, 3),
                    "tables": manifest.tables,
                    "audit_records": manifest.audit_records,
                    "audit_head": manifest.audit_head,
                    "models": len(manifest.models),
                }
            )
        )
    else:
        rows = sum(manifest.tables.values())
        print(
            f"backed up {rows} rows in {len(manifest.tables)} tables, {len(manifest.models)} model files "
            f"({report.size_bytes / 2**20:.1f} MiB, {report.seconds:.1f} s) to {report.location}"
        )
    return 0
