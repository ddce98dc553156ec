"""``polypdet anonymize IN OUT``: de-identify DICOM files (PS3.15 Basic Profile) and strip image metadata.

IN and OUT are files or folders. Patient IDs become keyed pseudonyms (``PSEUDONYM_KEY``), so the same patient
gets the same pseudonym in every run; ``--shift-dates`` moves each patient's dates by a keyed number of days.
A bad file gets one line on standard error and the rest go on; the exit code is 1 if any failed.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("source", type=Path, metavar="IN", help="a DICOM/JPEG/PNG/TIFF file or a folder")
    parser.add_argument("target", type=Path, metavar="OUT", help="output file, or folder (created)")
    parser.add_argument("--shift-dates", action="store_true", help="shift dates per patient instead of removing")


def run(args: argparse.Namespace) -> int:
    from polypdet.cli.main import CliError
    from polypdet.cli.security_common import cli_actor, open_context
    from polypdet.security.deid import DicomDeidentifier, Pseudonymizer, deidentify_path
    from polypdet.security.keys import KeyConfigError, load_secret

    if not args.source.exists():
        raise CliError(f"{args.source}: no such file or folder")
    if args.source.is_dir():
        args.target.mkdir(parents=True, exist_ok=True)
    context = open_context()
    try:
        try:
            pseudonyms = Pseudonymizer(load_secret(context.settings, "pseudonym_key"))
        except (KeyConfigError, ValueError) as error:
            raise CliError(str(error)) from None
        deidentifier = DicomDeidentifier(pseudonyms, shift_dates=args.shift_dates)
        done = failed = 0
        for outcome in deidentify_path(args.source, args.target, deidentifier):
            if outcome.error:
                failed += 1
                print(f"polypdet anonymize: {outcome.source}: {outcome.error}", file=sys.stderr)
                continue
            done += 1
            for warning in outcome.warnings:
                print(f"polypdet anonymize: {outcome.source}: warning: {warning}", file=sys.stderr)
        context.audit.append(
            "deid.anonymized",
            cli_actor(),
            outcome="success" if not failed else "partial",
            details={"files": done, "failed": failed, "shift_dates": args.shift_dates},
        )
    finally:
        context.engine.dispose()
    print(f"{done} files de-identified into {args.target}" + (f", {failed} failed" if failed else ""))
    return 1 if failed else 0
