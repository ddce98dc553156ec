#!/usr/bin/env python3
"""How much network time a narrower detect head would save: a timing of the arithmetic, not a model.

At each of its three scales a YOLOv8n head fine-tuned from COCO has a class branch of two 3x3 convolutions 80
channels wide (ultralytics takes the width from the backbone and COCO's 80 classes, not from the one class) and a
box branch 64 wide (``polypdet.train.head``). This rebuilds the shipped network with other widths, the new branches
randomly initialised (their boxes mean nothing; their arithmetic is what a trained head that wide costs), exports
each to ONNX and times polypdet's OpenVINO backend on one 320x256 input, the variants taking turns, in f32 and, on a
CPU with bf16, bf16.

Run: ``.venv/bin/python benchmarks/head_width.py`` (needs the train extra; about a minute); writes
``benchmarks/results/head_width.json``.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
from timing import time_in_turns

REPO = Path(__file__).resolve().parents[1]
VARIANTS = {"as shipped": (0, 0), "class 16": (16, 0), "class 16, box 32": (16, 32)}
"""Inner widths of the class and box branches (0: as the shipped model has it)."""
SHAPE = (1, 3, 256, 320)


def export_variant(pt: Path, class_width: int, box_width: int, out: Path) -> Path:
    """The network in ``pt`` with its head's branches ``class_width`` / ``box_width`` wide, exported to ONNX as the
    shipped models are (:func:`polypdet.train.export.onnx_from_checkpoint`)."""
    from ultralytics import YOLO

    from polypdet.train.export import onnx_from_checkpoint
    from polypdet.train.head import resize_head

    yolo = YOLO(str(pt))
    resize_head(yolo.model.model[-1], class_width, box_width)
    yolo.save(out.with_suffix(".pt"))
    return onnx_from_checkpoint(out.with_suffix(".pt"), SHAPE[3], out)


def time_variants(onnx: dict[str, Path], precision: str, threads: int) -> dict[str, float]:
    """Median milliseconds of one inference of each variant in polypdet's OpenVINO backend, taking turns."""
    from polypdet.engine.backends import OpenVinoBackend

    pixels = np.random.default_rng(0).integers(0, 256, (1, *SHAPE[2:], 3), dtype=np.uint8)
    runs: dict[str, Callable[[], Any]] = {}
    for name, path in onnx.items():
        backend = OpenVinoBackend(path, threads, precision)  # type: ignore[arg-type]
        runs[name] = lambda backend=backend: backend.infer(pixels)
    return time_in_turns(runs, rounds=10, per_turn=30)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--out", type=Path, default=REPO / "benchmarks/results/head_width.json")
    args = parser.parse_args()

    from polypdet.engine.backends import cpu_has_bf16, cpu_name
    from polypdet.engine.models import resolve_model
    from polypdet.train.pretrained import cached_checkpoint
    from polypdet.train.torch_compat import prepare_ultralytics

    prepare_ultralytics(args.threads)
    shipped = resolve_model()
    pt = cached_checkpoint(shipped.onnx_path)
    results: dict[str, dict[str, dict[str, float]]] = {}
    with tempfile.TemporaryDirectory() as scratch:
        onnx = {
            name: export_variant(pt, *widths, Path(scratch) / f"{i}.onnx")
            for i, (name, widths) in enumerate(VARIANTS.items())
        }
        for precision in ["f32"] + (["bf16"] if cpu_has_bf16() else []):
            ms = time_variants(onnx, precision, args.threads)
            base = ms[next(iter(VARIANTS))]
            results[precision] = {
                name: {"median_ms": took, "ratio_to_shipped": round(took / base, 3)} for name, took in ms.items()
            }
    report = {
        "what": "network only (OpenVINO, one 320x256 input), narrower detect-head branches with random weights",
        "model": shipped.model_version,
        "threads": args.threads,
        "cpu": cpu_name(),
        "date": time.strftime("%Y-%m-%d %H:%M"),
        "results": results,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n")
    print(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
