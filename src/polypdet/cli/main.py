"""The ``polypdet`` command: one sub-command per module in this package, imported only when used."""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

COMMANDS = {
    "detect": ("polypdet.cli.detect", "detect polyps in images and print or save the results"),
    "eval": ("polypdet.cli.evaluate", "measure a model on a labelled dataset (COCO mAP, P/R/F1)"),
    "models": ("polypdet.cli.models", "list the installed models"),
    "prepare-data": ("polypdet.cli.prepare", "build the YOLO training layout and held-out splits"),
    "train": ("polypdet.cli.train", "train the polyp model and install it with its model card"),
    "quantize": ("polypdet.cli.quantize", "give an installed model int8 OpenVINO weights, scored on the held-out sets"),
    "export": ("polypdet.cli.export", "export a model to onnx/openvino/coreml/tflite/engine"),
    "serve": ("polypdet.cli.serve", "run the HTTP service"),
    "keys": ("polypdet.cli.keys", "create, list and revoke API keys; rotate the master key"),
    "users": ("polypdet.cli.users", "create, list and disable users; enrol TOTP"),
    "audit": ("polypdet.cli.audit", "verify the audit trail's hash chain, or export it"),
    "anonymize": ("polypdet.cli.anonymize", "de-identify DICOM files and strip image metadata"),
    "pacs": ("polypdet.cli.pacs", "PACS integration: C-STORE listener sending DICOM SR results"),
    "video": ("polypdet.cli.video", "annotate a video file: tracked boxes, per-frame CSV, polyp count"),
    "stream": ("polypdet.cli.stream", "detect live on a camera, RTSP/HTTP stream or file, newest frame first"),
    "worker": ("polypdet.cli.worker", "process video jobs from the Redis queue (RQ); run several to share them"),
    "backup": ("polypdet.cli.backup", "back up the database, audit trail and models into one encrypted archive"),
    "restore": ("polypdet.cli.restore", "restore the database and models from a backup archive"),
}


class CliError(Exception):
    """A user error: printed as one line, exit code 2."""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="polypdet", description="Polyp detection for colonoscopy.")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name, (module, help_text) in COMMANDS.items():
        command = sub.add_parser(name, help=help_text, description=help_text)
        importlib.import_module(module).add_arguments(command)
        command.set_defaults(module=module)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        code: int = importlib.import_module(args.module).run(args)
    except CliError as error:
        print(f"polypdet {args.command}: error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    return code
