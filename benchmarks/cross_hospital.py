#!/usr/bin/env python3
"""How the shipped recipe holds up at a hospital it never saw: train on one dataset, score on the other.

The shipped model trains on both datasets, so every held-out figure of it comes from a hospital it has seen. This
trains its first stage (1.8.0's recipe: 60 epochs at 320 from the COCO start, forward pass in bf16 where the CPU
has it) on the training images of one hospital only, exports it as the shipped models are, and scores it in fp32
(onnxruntime) with 95 % bootstrap intervals on every image of the other (never trained on) and on its own
hospital's hold-out:

- ``kvasir``: the 760 Kvasir-SEG training images (Norway); scored on all 503 CVC-ClinicDB frames;
- ``clinicdb``: the 428 CVC-ClinicDB training frames (Barcelona); scored on all 880 Kvasir-SEG images.

Run: ``.venv/bin/python benchmarks/cross_hospital.py [--train-on kvasir clinicdb] [--runs DIR]`` (needs the train
extra; ~35 min for kvasir, ~20 for clinicdb on 2 cores; an interrupted run resumes in its folder under ``--runs``);
writes ``benchmarks/results/cross_hospital.json``.
"""

from __future__ import annotations

import os
from dataclasses import asdict
from pathlib import Path
from typing import Any

import yaml
from timing import REPO, arguments, write_report

DATA = Path(os.environ.get("POLYPDET_DATA", REPO.parent / "shared" / "data"))
BOOTSTRAP = 1000


def unseen_hospital(name: str, runs: Path) -> Path:
    """Every image of the hospital that training on ``name`` never sees (a layout ``polypdet eval`` reads)."""
    if name == "clinicdb":
        return DATA / "kvasir-seg"
    every_frame = runs / "clinicdb_all.yaml"  # CVC-ClinicDB's train and val parts together
    every_frame.parent.mkdir(parents=True, exist_ok=True)
    every_frame.write_text(yaml.safe_dump({"path": str(DATA / "cvc-clinicdb"), "val": ["images/train", "images/val"]}))
    return every_frame


def one_hospital_yaml(prepared: Path, name: str) -> tuple[Path, int]:
    """A data.yaml beside the prepared layout whose training set is ``name``'s images alone, and their count
    (no validation runs during training: ``val`` is there because ultralytics wants one)."""
    images = sorted((prepared / "images" / "train").glob(f"{name}_*"))
    listing = prepared / f"{name}_only_train.txt"
    listing.write_text("".join(f"{path}\n" for path in images))
    data_yaml = prepared / f"{name}_only.yaml"
    layout = {"path": str(prepared), "train": str(listing), "val": f"holdout/{name}/images", "names": {0: "polyp"}}
    data_yaml.write_text(yaml.safe_dump(layout))
    return data_yaml, len(images)


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
    parser = arguments(__doc__, "cross_hospital")
    parser.add_argument("--train-on", nargs="+", choices=["kvasir", "clinicdb"], default=["kvasir", "clinicdb"])
    parser.add_argument("--runs", type=Path, default=Path.home() / ".cache/polypdet/runs")
    args = parser.parse_args()

    from polypdet.cli.prepare import default_prepared
    from polypdet.engine.models import resolve_model
    from polypdet.train.export import onnx_from_checkpoint
    from polypdet.train.prepare import prepare_data
    from polypdet.train.trainer import TrainRecipe, train

    prepared = prepare_data(DATA, default_prepared()).data_yaml.parent
    recipe = TrainRecipe(bf16=True)
    start = DATA / "weights" / "coco-yolov8n-int8.onnx"
    results: dict[str, Any] = {}
    for name in args.train_on:
        data_yaml, train_images = one_hospital_yaml(prepared, name)
        run_dir = args.runs / f"{name}_only"
        last = train(data_yaml, run_dir, start, recipe, args.threads)
        onnx = onnx_from_checkpoint(last, recipe.imgsz, run_dir / "weights" / "last.onnx")
        results[f"trained on {name} alone ({train_images} images)"] = {
            "other_hospital_never_trained_on": score(onnx, unseen_hospital(name, args.runs)),
            f"{name}_holdout": score(onnx, prepared / "holdout" / name),
        }
    shipped = resolve_model()
    results[f"shipped {shipped.model_version}"] = {
        f"{name}_holdout": score(shipped.onnx_path, prepared / "holdout" / name) for name in args.train_on
    }
    what = "mAP at a hospital never trained on: 1.8.0's recipe trained on one hospital's images, scored in fp32"
    write_report(args.out, what, args.threads, results, recipe=asdict(recipe))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
