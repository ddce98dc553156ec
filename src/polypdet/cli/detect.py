"""``polypdet detect PATH...``: boxes for images, as JSON lines or a summary, optionally drawn."""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from polypdet.cli.common import add_model_arguments, expand_inputs, load_detector
from polypdet.io.datasets import IMAGE_SUFFIXES


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("paths", nargs="+", metavar="PATH", help="image files, folders or globs")
    add_model_arguments(parser)
    parser.add_argument("--max-det", type=int, default=50, help="most boxes per image (default 50)")
    parser.add_argument("--save", type=Path, default=None, metavar="DIR", help="write annotated images here")
    parser.add_argument("--json", action="store_true", help="print one JSON object per image")


def run(args: argparse.Namespace) -> int:
    import cv2
    from tqdm import tqdm

    from polypdet.engine.detector import DetectParams
    from polypdet.io.annotate import draw_detections
    from polypdet.io.images import ImageDecodeError, read_image
    from polypdet.result import DetectionResult

    paths = expand_inputs(args.paths, IMAGE_SUFFIXES)
    detector = load_detector(args)
    params = DetectParams(conf=args.conf, max_det=args.max_det)
    if args.save:
        args.save.mkdir(parents=True, exist_ok=True)
    failed = 0
    show_progress = len(paths) > 1 and sys.stderr.isatty()
    for path in tqdm(paths, disable=not show_progress, unit="img", file=sys.stderr):
        try:
            image = read_image(path)
        except ImageDecodeError as error:
            failed += 1
            print(f"polypdet detect: {path}: {error}", file=sys.stderr)
            continue
        start = time.perf_counter()
        detections = detector.detect(image, params)
        elapsed = (time.perf_counter() - start) * 1000
        result = DetectionResult(detections, detector.model_version, image.shape[1], image.shape[0], elapsed)
        if args.json:
            print(json.dumps({"image": str(path), **result.to_json()}), flush=True)
        else:
            confs = ", ".join(f"{d.confidence:.2f}" for d in detections)
            print(f"{path}: {len(detections)} polyp(s){f' ({confs})' if confs else ''}")
        if args.save:
            drawn = draw_detections(image, detections)
            cv2.imwrite(str(args.save / f"{path.stem}.jpg"), cv2.cvtColor(drawn, cv2.COLOR_RGB2BGR))
    if failed:
        print(f"polypdet detect: {failed} of {len(paths)} file(s) failed", file=sys.stderr)
    return 1 if failed else 0
