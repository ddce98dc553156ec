"""``polypdet restore``: put back the database and the models from an archive of ``polypdet backup``.

Stop the service first: the database's contents are replaced. The archive's tables, row counts and audit chain
(up to its recorded head) are checked after the restore.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("source", help="an archive, or a folder / s3://bucket/prefix/ (its newest archive)")
    parser.add_argument("--models-dir", type=Path, default=None, help="model registry (default: the models folder)")
    parser.add_argument("--yes", action="store_true", help="confirm: the database and models are replaced")
    parser.add_argument("--json", action="store_true", help="print the report as JSON")


def run(args: argparse.Namespace) -> int:
    from polypdet.backup import BackupError, restore_backup
    from polypdet.cli.main import CliError
    from polypdet.cli.security_common import cli_actor, load_settings, open_context

    if not args.yes:
        raise CliError("restore replaces the database and the models: stop the service, then pass --yes")
    settings = load_settings()
    try:
        report = restore_backup(settings, args.source, args.models_dir)
    except BackupError as error:
        raise CliError(str(error)) from None
    context = open_context()
    try:
        context.audit.append(
            "backup.restored", cli_actor(), target=report.location, details={"archive_id": report.manifest.archive_id}
        )
    finally:
        context.engine.dispose()
    manifest = report.manifest
    if args.json:
        print(
            json.dumps(
                {
                    "location": report.location,
                    "seconds": round(report.seconds, 3),
                    "tables": manifest.tables,
                    "audit": report.audit,
                    "models": len(manifest.models),
                }
            )
        )
    else:
        print(
            f"restored {sum(manifest.tables.values())} rows, {len(manifest.models)} model files from "
            f"{report.location} in {report.seconds:.1f} s; {report.audit or 'no audit trail in the archive'}"
        )
    return 0
