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

import tempfile
from pathlib import Path

from timing import arguments, openvino_inference, precisions_here, time_in_turns, write_report

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
    runs = {name: openvino_inference(path, threads, precision, *SHAPE[2:]) for name, path in onnx.items()}
    return time_in_turns(runs, rounds=10, per_turn=30)


def main() -> int:
    parser = arguments(__doc__, "head_width")
    args = parser.parse_args()

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
        for precision in precisions_here():
            ms = time_variants(onnx, precision, args.threads)
            base = ms[next(iter(VARIANTS))]
            results[precision] = {
                name: {"median_ms": took, "ratio_to_shipped": round(took / base, 3)} for name, took in ms.items()
            }
    what = "network only (OpenVINO, one 320x256 input), narrower detect-head branches with random weights"
    write_report(args.out, what, args.threads, results, model=shipped.model_version)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
