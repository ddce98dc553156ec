"""``polypdet eval --data DATA``: COCO mAP50 / mAP50-95 and P/R/F1 of a model on labelled images."""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

from polypdet.cli.common import add_model_arguments, load_detector
from polypdet.cli.main import CliError

if TYPE_CHECKING:
    from polypdet.detections import Detections
    from polypdet.evaluation.metrics import CocoCurves, EvalResult
    from polypdet.io.datasets import LabeledImage


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--data",
        type=Path,
        required=True,
        help="YOLO folder (images/ + labels/), data.yaml, Kvasir-SEG folder (images/ + masks/ or bbox/), "
        "COCO JSON, or Pascal VOC folder (Annotations/ + JPEGImages/)",
    )
    parser.add_argument("--split", default="val", help="which entry of a data.yaml (default val)")
    add_model_arguments(parser)
    parser.add_argument(
        "--tile",
        type=int,
        default=1,
        metavar="N",
        help="score N x N tiled frames of DATA instead (each polyp N times smaller): a small-polyp stress test",
    )
    parser.add_argument(
        "--bootstrap",
        type=int,
        default=0,
        metavar="N",
        help="also give 95%% intervals of mAP50 and mAP50-95 from N resamplings of the images (1000 is usual)",
    )
    parser.add_argument(
        "--baseline",
        default=None,
        metavar="MODEL",
        help="also score MODEL on the same images and give 95%% intervals of the difference (this model minus it) "
        "over the same resamplings (--bootstrap, default 1000): is a new model really better?",
    )
    parser.add_argument("--json", action="store_true", help="print one JSON object with the metrics")
    parser.add_argument(
        "--plots", type=Path, default=None, metavar="DIR", help="write pr_curve.png and example predictions here"
    )


def run(args: argparse.Namespace) -> int:
    from polypdet.evaluation.metrics import bootstrap_maps
    from polypdet.evaluation.run import Unreadable, evaluate_detector, readable
    from polypdet.evaluation.tiles import tile_dataset
    from polypdet.io.datasets import DatasetError, load_dataset

    if args.tile < 1:
        raise CliError(f"--tile must be 1 or more, got {args.tile}")
    if args.bootstrap < 0:
        raise CliError(f"--bootstrap must be 0 or more, got {args.bootstrap}")
    try:
        items = load_dataset(args.data, args.split)
    except (DatasetError, OSError) as error:
        raise CliError(str(error)) from None
    detector = load_detector(args, hint="throughput")
    baseline = load_detector(args, hint="throughput", model=args.baseline) if args.baseline else None
    replicates = args.bootstrap or (1000 if baseline else 0)
    unreadable: list[Unreadable] = []
    with tempfile.TemporaryDirectory(prefix="polypdet-tiles-") as scratch:
        if args.tile > 1:
            items = tile_dataset(items, args.tile, Path(scratch), unreadable)
            if not items:
                raise CliError(f"--tile {args.tile} needs at least {args.tile**2} images in {args.data}")
        result, curves, predictions = evaluate_detector(detector, items, args.conf, unreadable)
        for bad in unreadable:
            print(f"polypdet eval: {bad.item.path}: {bad.reason}", file=sys.stderr)
        items = readable(items, unreadable)
        if not items:
            raise CliError(f"{args.data}: no image could be read")
        if args.plots:
            _plots(args, items, result, curves, predictions)
        compared = evaluate_detector(baseline, items, args.conf) if baseline else None
    truths = [item.boxes for item in items]
    extra: dict[str, object] = {}
    if replicates:
        extra = _intervals(bootstrap_maps(truths, predictions, replicates), "")
        extra["bootstrap"] = replicates
    if baseline and compared:
        base_result, _, base_predictions = compared
        extra |= {
            "baseline_model_version": baseline.model_version,
            "baseline_map50": round(base_result.map50, 4),
            "baseline_map50_95": round(base_result.map50_95, 4),
            **_intervals(bootstrap_maps(truths, predictions, replicates, baseline=base_predictions), "diff_"),
        }
    summary = {
        **result.to_json(),
        **extra,
        "model_version": detector.model_version,
        "imgsz": detector.input_size,
        "backend": detector.backend.name,
        "inference_precision": detector.backend.precision,
        "data": str(args.data),
        **({"tile": args.tile} if args.tile > 1 else {}),
    }
    print(json.dumps(summary) if args.json else " ".join(f"{k}={v}" for k, v in summary.items()))
    if unreadable:
        print(f"polypdet eval: {len(unreadable)} image(s) could not be read: not in the figures", file=sys.stderr)
    return 1 if unreadable else 0


def _intervals(cis: dict[str, tuple[float, float]], prefix: str) -> dict[str, object]:
    return {f"{prefix}{name}_ci95": [round(low, 4), round(high, 4)] for name, (low, high) in cis.items()}


def _plots(
    args: argparse.Namespace,
    items: list[LabeledImage],
    result: EvalResult,
    curves: CocoCurves | None,
    predictions: list[Detections],
) -> None:
    from polypdet.evaluation.plots import plot_pr_curve, save_examples

    args.plots.mkdir(parents=True, exist_ok=True)
    if curves is not None:
        plot_pr_curve(curves, result, args.plots / "pr_curve.png")
    truths = [item.boxes for item in items]
    kept = [p[p.confidence >= args.conf] for p in predictions]
    save_examples([i.path for i in items], truths, kept, args.plots)
