"""``polypdet audit verify|export``: check the hash chain of the audit trail, or export it as JSON.

``verify`` exits 1 and names the first broken record when the trail was changed; ``--expect-head`` also catches
records cut off the end, given a head hash kept elsewhere (an earlier ``verify`` or export).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from polypdet.security.audit import AuditLog


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
    verify = sub.add_parser("verify", help="check the hash chain; exit 1 naming the first broken record")
    verify.add_argument("--expect-head", default=None, metavar="HASH", help="the head hash recorded earlier")
    verify.add_argument("--json", action="store_true", help="print the report as JSON")
    export = sub.add_parser("export", help="write the audit trail as a JSON document")
    export.add_argument("--output", "-o", type=Path, default=None, help="file to write (default: standard output)")
    export.add_argument("--after-seq", type=int, default=0, help="only records after this sequence number")


def run(args: argparse.Namespace) -> int:
    from polypdet.cli.security_common import open_context

    context = open_context()
    try:
        return _verify(context.audit, args) if args.action == "verify" else _export(context.audit, args)
    finally:
        context.engine.dispose()


def _verify(audit: AuditLog, args: argparse.Namespace) -> int:
    report = audit.verify(expect_head=args.expect_head)
    if args.json:
        print(json.dumps(report.__dict__))
    else:
        print(report.describe(), file=sys.stdout if report.ok else sys.stderr)
    return 0 if report.ok else 1


def _export(audit: AuditLog, args: argparse.Namespace) -> int:
    from polypdet.cli.security_common import cli_actor

    records = list(audit.export(after_seq=args.after_seq))
    report = audit.verify()
    document = {"head_hash": report.head_hash, "chain_ok": report.ok, "records": records}
    text = json.dumps(document, ensure_ascii=False, indent=1)
    if args.output:
        args.output.write_text(text + "\n")
        print(f"{len(records)} audit records written to {args.output}")
    else:
        print(text)
    audit.append("audit.exported", cli_actor(), details={"records": len(records), "after_seq": args.after_seq})
    return 0
