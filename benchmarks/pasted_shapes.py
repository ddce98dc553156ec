#!/usr/bin/env python3
"""Flat shapes pasted beside the polyps of held-out images: how often a model boxes them, and whether they hide
the polyps.

Endoscopy frames can hold things that are round and smooth but no polyp: markers, on-screen symbols, occluders
(some PolypGen frames in shared/data carry flat discs and polygons). Each held-out image (Kvasir-SEG's 120, the 75
CVC-ClinicDB frames) gets one shape of each kind in each colour, one at a time (radius 12 % of the shorter side,
at a seeded place that touches no polyp's box), and each model runs on it as served (fp32 on onnxruntime, black
margins left out). A shape counts as boxed when a box at confidence 0.25 or more overlaps it at IoU 0.3 or more.
Then each image gets one random shape (train.backgrounds.paste_flat_shapes, another seed than training's) and the
polyps are scored against the same images without it (mAP, 95 % paired bootstrap interval of the difference).

Run: ``.venv/bin/python benchmarks/pasted_shapes.py [--model M ...] [--bootstrap N]`` (~3 min per model on 2
cores); writes ``benchmarks/results/pasted_shapes.json``.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np
from timing import REPO, arguments, write_report

DATA = Path(os.environ.get("POLYPDET_DATA", REPO.parent / "shared" / "data"))
COLOURS = {
    "red": (220, 30, 40),
    "white": (245, 245, 245),
    "grey": (128, 128, 128),
    "black": (0, 0, 0),
    "blue": (40, 80, 200),
}
RADIUS = 0.12
SEED = 7


def boxed_shares(detector: Any, images: list[np.ndarray], polyps: list[np.ndarray]) -> dict[str, Any]:
    """Share of pasted shapes boxed, by kind and by colour, and the highest confidence on one."""
    from polypdet.engine.postprocess import box_iou
    from polypdet.train.backgrounds import SHAPE_KINDS, draw_flat_shape, free_centre

    rng = np.random.default_rng(SEED)
    boxed: list[np.ndarray] = []  # per image: kinds x colours
    top = 0.0
    for image, boxes in zip(images, polyps, strict=True):
        height, width = image.shape[:2]
        radius = int(RADIUS * min(height, width))
        centre = free_centre(height, width, radius, boxes, rng, tries=50)
        if centre is None:
            continue
        (x, y), pasted = centre, []
        for kind in SHAPE_KINDS:
            for colour in COLOURS.values():
                copy = image.copy()
                draw_flat_shape(copy, kind, centre, radius, colour, rng)
                pasted.append(copy)
        shape_box = np.array([x - radius, y - radius, x + radius, y + radius], np.float32)
        hits = []
        for detections in detector.detect_batch(pasted):
            on_shape = box_iou(shape_box, detections.xyxy) >= 0.3 if len(detections) else np.zeros(0, bool)
            hits.append(bool(on_shape.any()))
            top = max([top, *detections.confidence[on_shape].tolist()])
        boxed.append(np.reshape(hits, (len(SHAPE_KINDS), len(COLOURS))))
    every = np.array(boxed)
    return {
        "shapes": int(every.size),
        "boxed": round(float(every.mean()), 3),
        "by_kind": {k: round(v, 3) for k, v in zip(SHAPE_KINDS, every.mean(axis=(0, 2)).tolist(), strict=True)},
        "by_colour": {c: round(v, 3) for c, v in zip(COLOURS, every.mean(axis=(0, 1)).tolist(), strict=True)},
        "highest_confidence": round(top, 3),
    }


def polyps_with_a_shape(detector: Any, images: list[np.ndarray], truths: list[np.ndarray], bootstrap: int) -> dict:
    """mAP of the polyps with one random shape pasted beside them, and its paired difference from as is."""
    from polypdet.engine.detector import DetectParams
    from polypdet.evaluation.holdout import rounded_maps
    from polypdet.evaluation.metrics import bootstrap_maps, evaluate
    from polypdet.evaluation.run import MAP_CONF
    from polypdet.train.backgrounds import paste_flat_shapes

    params = DetectParams(conf=MAP_CONF, max_det=100)
    rng = np.random.default_rng(SEED + 1)
    pasted = []
    for image, boxes in zip(images, truths, strict=True):
        copy = image.copy()
        paste_flat_shapes(copy, boxes, rng, count=1)
        pasted.append(copy)
    as_is = detector.detect_batch(images, params)
    with_shape = detector.detect_batch(pasted, params)
    change = bootstrap_maps(truths, with_shape, bootstrap, baseline=as_is)
    return {
        "as is": rounded_maps(evaluate(truths, as_is, 0.25)[0]),
        "one shape pasted": rounded_maps(evaluate(truths, with_shape, 0.25)[0]),
        **{f"diff_{key}_ci95": [round(v, 4) for v in ci] for key, ci in change.items()},
    }


def main() -> int:
    parser = arguments(__doc__, "pasted_shapes")
    parser.add_argument("--model", action="append", default=None, help="a model to score (default: the shipped one)")
    parser.add_argument("--bootstrap", type=int, default=500)
    args = parser.parse_args()

    from polypdet.cli.prepare import default_prepared
    from polypdet.engine.detector import Detector
    from polypdet.engine.models import resolve_model
    from polypdet.io.datasets import load_dataset
    from polypdet.io.images import read_image
    from polypdet.train.prepare import prepare_data

    holdout = prepare_data(DATA, default_prepared()).data_yaml.parent / "holdout"
    sets = {name: load_dataset(holdout / name) for name in ("kvasir", "clinicdb")}
    images = {name: [read_image(item.path) for item in items] for name, items in sets.items()}
    results: dict[str, Any] = {}
    for spec in args.model or [None]:
        model = resolve_model(spec)
        detector = Detector(model, backend="onnxruntime", threads=args.threads)
        figures = {}
        for name, items in sets.items():
            truths = [item.boxes for item in items]
            figures[f"{name}_holdout ({len(items)} images)"] = {
                "shapes boxed": boxed_shares(detector, images[name], truths),
                "polyps": polyps_with_a_shape(detector, images[name], truths, args.bootstrap),
            }
            print(model.model_version, name, figures[f"{name}_holdout ({len(items)} images)"], flush=True)
        results[model.model_version] = figures
    what = "flat shapes pasted beside held-out polyps: share boxed (conf >= 0.25, IoU >= 0.3), polyp mAP with one"
    write_report(args.out, what, args.threads, results, bootstrap=args.bootstrap, radius=RADIUS, seed=SEED)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
