#!/usr/bin/env python3
"""How the shipped recipe holds up at a hospital it never saw: train on Kvasir-SEG alone, score on CVC-ClinicDB.

The shipped model trains on both datasets, so every held-out figure of it comes from a hospital it has seen. This
trains its first stage (1.8.0's recipe: 60 epochs at 320 from the COCO start, forward pass in bf16 where the CPU
has it) on the 760 Kvasir-SEG training images only, exports it as the shipped models are, and scores it in fp32
(onnxruntime) with 95 % bootstrap intervals on all 503 CVC-ClinicDB frames (Barcelona, train and val) and on the
Kvasir-SEG hold-out; the shipped model is scored on the same Kvasir hold-out for comparison.

Run: ``.venv/bin/python benchmarks/cross_hospital.py [--run-dir DIR]`` (needs the train extra and
``polypdet prepare-data``; ~30 min on 2 cores, resumes an interrupted run in ``--run-dir``); writes
``benchmarks/results/cross_hospital.json``.
"""

from __future__ import annotations

import argparse
import os
from dataclasses import asdict
from pathlib import Path
from typing import Any

import yaml
from timing import write_report

REPO = Path(__file__).resolve().parents[1]
DATA = Path(os.environ.get("POLYPDET_DATA", REPO.parent / "shared" / "data"))
PREPARED = Path.home() / ".cache" / "polypdet" / "data"
BOOTSTRAP = 1000


def kvasir_only_yaml(prepared: Path) -> Path:
    """A data.yaml beside the prepared layout whose training set is its Kvasir-SEG images alone (no validation
    runs during training: ``val`` is there because ultralytics wants one)."""
    listing = prepared / "kvasir_only_train.txt"
    listing.write_text("".join(f"{path}\n" for path in sorted((prepared / "images" / "train").glob("kvasir_*"))))
    data_yaml = prepared / "kvasir_only.yaml"
    layout = {"path": str(prepared), "train": str(listing), "val": "holdout/kvasir/images", "names": {0: "polyp"}}
    data_yaml.write_text(yaml.safe_dump(layout))
    return data_yaml


def score(onnx: Path, data: Path) -> dict[str, Any]:
    """fp32 figures of ``onnx`` on ``data`` (any layout ``polypdet eval`` reads), with bootstrap intervals."""
    from polypdet.engine.detector import Detector
    from polypdet.engine.models import resolve_model
    from polypdet.evaluation.metrics import bootstrap_maps
    from polypdet.evaluation.run import evaluate_detector
    from polypdet.io.datasets import load_dataset

    items = load_dataset(data)
    result, _, predictions = evaluate_detector(Detector(resolve_model(onnx), backend="onnxruntime"), items, 0.25)
    intervals = bootstrap_maps([item.boxes for item in items], predictions, BOOTSTRAP)
    return {**result.to_json(), **{f"{key}_ci95": [round(v, 4) for v in ci] for key, ci in intervals.items()}}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--run-dir", type=Path, default=Path.home() / ".cache/polypdet/runs/kvasir_only")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--out", type=Path, default=REPO / "benchmarks/results/cross_hospital.json")
    args = parser.parse_args()

    from polypdet.engine.models import resolve_model
    from polypdet.train.export import onnx_from_checkpoint
    from polypdet.train.prepare import prepare_data
    from polypdet.train.trainer import TrainRecipe, train

    prepared = prepare_data(DATA, PREPARED).data_yaml.parent
    kvasir_holdout = prepared / "holdout" / "kvasir"
    clinicdb = args.run_dir / "clinicdb_all.yaml"  # every CVC-ClinicDB frame, its train and val parts
    clinicdb.parent.mkdir(parents=True, exist_ok=True)
    clinicdb.write_text(yaml.safe_dump({"path": str(DATA / "cvc-clinicdb"), "val": ["images/train", "images/val"]}))

    recipe = TrainRecipe(bf16=True)
    start = DATA / "weights" / "coco-yolov8n-int8.onnx"
    last = train(kvasir_only_yaml(prepared), args.run_dir, start, recipe, args.threads)
    onnx = onnx_from_checkpoint(last, recipe.imgsz, args.run_dir / "weights" / "last.onnx")
    shipped = resolve_model()
    results = {
        "trained on Kvasir-SEG alone": {
            "cvc_clinicdb_all_503": score(onnx, clinicdb),
            "kvasir_holdout": score(onnx, kvasir_holdout),
        },
        f"shipped {shipped.model_version}": {"kvasir_holdout": score(shipped.onnx_path, kvasir_holdout)},
    }
    what = "mAP on a hospital never trained on: 1.8.0's recipe trained on Kvasir-SEG alone, scored in fp32"
    write_report(args.out, what, args.threads, results, recipe=asdict(recipe) | {"train_images": "Kvasir-SEG, 760"})
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
