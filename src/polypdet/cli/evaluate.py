"""``polypdet eval --data DATA``: COCO mAP50 / mAP50-95 and P/R/F1 of a model on labelled images."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from polypdet.cli.common import add_model_arguments, load_detector
from polypdet.cli.main import CliError


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
    from polypdet.evaluation.run import evaluate_detector
    from polypdet.io.datasets import DatasetError, load_dataset

    try:
        items = load_dataset(args.data, args.split)
    except (DatasetError, OSError) as error:
        raise CliError(str(error)) from None
    detector = load_detector(args, hint="throughput")
    result, curves, predictions = evaluate_detector(detector, items, args.conf)
    summary = {
        **result.to_json(),
        "model_version": detector.model_version,
        "imgsz": detector.input_size,
        "backend": detector.backend.name,
        "inference_precision": detector.backend.precision,
        "data": str(args.data),
    }
    print(json.dumps(summary) if args.json else " ".join(f"{k}={v}" for k, v in summary.items()))
    if args.plots:
        from polypdet.evaluation.plots import plot_pr_curve, save_examples

        args.plots.mkdir(parents=True, exist_ok=True)
        if curves is not None:
            plot_pr_curve(curves, result, args.plots / "pr_curve.png")
        truths = [item.boxes for item in items]
        kept = [p[p.confidence >= args.conf] for p in predictions]
        save_examples([i.path for i in items], truths, kept, args.plots)
    return 0
