"""``polypdet prepare-data``: per-polyp boxes, YOLO layout and reproducible held-out splits."""

from __future__ import annotations

import argparse
import os
from pathlib import Path


def default_data_root() -> Path:
    """``POLYPDET_DATA``, else ``../shared/data`` (where the project's datasets live)."""
    return Path(os.environ.get("POLYPDET_DATA", "../shared/data"))


def default_prepared() -> Path:
    return Path.home() / ".cache" / "polypdet" / "data"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--source", type=Path, default=None, help="raw datasets (default POLYPDET_DATA)")
    parser.add_argument("--out", type=Path, default=None, help="layout to write (default ~/.cache/polypdet/data)")


def run(args: argparse.Namespace) -> int:
    from polypdet.train.prepare import prepare_data

    prepared = prepare_data(args.source or default_data_root(), args.out or default_prepared())
    print(f"train {prepared.train} images; held out: " + ", ".join(f"{k} {v}" for k, v in prepared.holdout.items()))
    print(prepared.data_yaml)
    return 0
