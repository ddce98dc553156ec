#!/usr/bin/env python3
"""The seed's script, kept working: ``--weights W --data D --imgsz N`` (or ``--model``).

It runs ``polypdet eval`` with the same meaning.
"""

from __future__ import annotations

import argparse
import sys

from polypdet.cli.main import main


def translate(argv: list[str]) -> list[str]:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--weights", "--model", dest="weights", default=None)
    parser.add_argument("--data", required=True)
    parser.add_argument("--imgsz", type=int, default=None)
    parser.add_argument("--conf", type=float, default=0.25)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    out = ["eval", "--data", args.data, "--conf", str(args.conf)]
    if args.weights:
        out += ["--model", args.weights]
    if args.imgsz:
        out += ["--imgsz", str(args.imgsz)]
    return out + (["--json"] if args.json else [])


if __name__ == "__main__":
    sys.exit(main(translate(sys.argv[1:])))
