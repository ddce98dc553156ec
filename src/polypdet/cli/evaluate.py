"""``polypdet eval --data DATA``: COCO mAP50 / mAP50-95 and P/R/F1 of a model on labelled images."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from polypdet.cli.common import add_model_arguments, load_detector
from polypdet.cli.main import CliError

MAP_CONF = 0.001
"""Boxes down to this score go into mAP (as ultralytics' val does); P/R/F1 use ``--conf``."""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--data", type=Path, required=True, help="YOLO folder (images/ + labels/), data.yaml, or Kvasir-SEG folder"
    )
    parser.add_argument("--split", default="val", help="which entry of a data.yaml (default val)")
    add_model_arguments(parser)
    parser.add_argument("--json", action="store_true", help="print one JSON object with the metrics")
    parser.add_argument(
        "--plots", type=Path, default=None, metavar="DIR", help="write pr_curve.png and example predictions here"
    )


def run(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from polypdet.engine.detector import DetectParams
    from polypdet.evaluation.metrics import evaluate
    from polypdet.io.datasets import DatasetError, load_dataset
    from polypdet.io.images import read_image

    try:
        items = load_dataset(args.data, args.split)
    except (DatasetError, OSError) as error:
        raise CliError(str(error)) from None
    detector = load_detector(args, hint="throughput")
    params = DetectParams(conf=MAP_CONF, max_det=100)  # COCO counts at most 100 per image
    predictions = []
    chunk = 16
    for start in tqdm(range(0, len(items), chunk), disable=not sys.stderr.isatty(), unit="batch", file=sys.stderr):
        images = [read_image(item.path) for item in items[start : start + chunk]]
        predictions += detector.detect_batch(images, params)
    truths = [item.boxes for item in items]
    result, curves = evaluate(truths, predictions, args.conf)
    summary = {
        **result.to_json(),
        "model_version": detector.model_version,
        "imgsz": detector.input_size,
        "data": str(args.data),
    }
    if args.json:
        print(json.dumps(summary))
    else:
        print(" ".join(f"{k}={v}" for k, v in summary.items()))
    if args.plots:
        from polypdet.evaluation.plots import plot_pr_curve, save_examples

        args.plots.mkdir(parents=True, exist_ok=True)
        if curves is not None:
            plot_pr_curve(curves, result, args.plots / "pr_curve.png")
        save_examples([i.path for i in items], truths, [p[p.confidence >= args.conf] for p in predictions], args.plots)
    return 0
