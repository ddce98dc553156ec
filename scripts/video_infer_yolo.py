#!/usr/bin/env python3
"""The seed's script, kept working: ``--weights W --video V --out O --csv C --conf C --imgsz N --skip N``.

It runs ``polypdet video`` with the same meaning, except that every frame is written (frames between
analysed ones carry the last boxes) and boxes carry track ids.
"""

from __future__ import annotations

import argparse
import sys

from polypdet.cli.main import main


def translate(argv: list[str]) -> list[str]:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--weights", "--model", dest="weights", default=None)
    parser.add_argument("--video", "--source", dest="video", required=True)
    parser.add_argument("--out", "--output", dest="out", default="results/video_out.mp4")
    parser.add_argument("--csv", default=None)
    parser.add_argument("--conf", type=float, default=0.25)
    parser.add_argument("--imgsz", type=int, default=None)
    parser.add_argument("--skip", type=int, default=1)
    args = parser.parse_args(argv)
    out = ["video", args.video, "--out", args.out, "--conf", str(args.conf), "--skip", str(args.skip)]
    if args.csv:
        out += ["--csv", args.csv]
    if args.weights:
        out += ["--model", args.weights]
    if args.imgsz:
        out += ["--imgsz", str(args.imgsz)]
    return out


if __name__ == "__main__":
    sys.exit(main(translate(sys.argv[1:])))
