#!/usr/bin/env python3
"""The seed's script, kept working: ``--weights W --imgs DIR --out DIR --conf C`` (or ``--image``/``--model``).

It runs ``polypdet detect --save`` with the same meaning.
"""

from __future__ import annotations

import argparse
import sys

from polypdet.cli.main import main


def translate(argv: list[str]) -> list[str]:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--weights", "--model", dest="weights", default=None)
    parser.add_argument("--imgs", "--image", "--source", dest="imgs", nargs="+", required=True)
    parser.add_argument("--out", default="runs/infer")
    parser.add_argument("--conf", type=float, default=0.25)
    parser.add_argument("--imgsz", type=int, default=None)
    args = parser.parse_args(argv)
    out = ["detect", *args.imgs, "--save", args.out, "--conf", str(args.conf)]
    if args.weights:
        out += ["--model", args.weights]
    if args.imgsz:
        out += ["--imgsz", str(args.imgsz)]
    return out


if __name__ == "__main__":
    sys.exit(main(translate(sys.argv[1:])))
