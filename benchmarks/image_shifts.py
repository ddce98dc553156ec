#!/usr/bin/env python3
"""How the shipped model holds up when the same images look different, as another hospital's would.

Endoscopes and recording chains differ in exposure, white balance, contrast, sharpness, sensor noise, resolution
and compression, and HD systems show the picture between black sides. Each held-out image (Kvasir-SEG's 120, the
75 CVC-ClinicDB frames) is changed in one of those ways, written losslessly (PNG; JPEG for the compression case),
read back as serving reads it and scored in fp32 (onnxruntime) against the same boxes. Each change's figures come
with a 95 % bootstrap interval of its difference from the unchanged images on the same draws (paired), which says
whether the 120 or 75 images can tell the two apart.

Run: ``.venv/bin/python benchmarks/image_shifts.py [--model M] [--bootstrap N]`` (~15 min on 2 cores, most of it
the bootstrap); writes ``benchmarks/results/image_shifts.json``.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import cv2
import numpy as np
from timing import REPO, arguments, write_report

DATA = Path(os.environ.get("POLYPDET_DATA", REPO.parent / "shared" / "data"))

Shift = Callable[[np.ndarray, np.random.Generator], tuple[np.ndarray, int]]
"""An RGB image (and a generator for noise) to the changed image and how far right its content moved."""


def _lut(gamma: float) -> Shift:
    table = np.clip(255 * (np.arange(256) / 255) ** gamma, 0, 255).astype(np.uint8)
    return lambda image, _: (table[image], 0)


def _gains(red: float, blue: float) -> Shift:
    return lambda image, _: (np.clip(image * np.array([red, 1.0, blue]), 0, 255).astype(np.uint8), 0)


def _contrast(factor: float) -> Shift:
    def shift(image: np.ndarray, _: np.random.Generator) -> tuple[np.ndarray, int]:
        mean = float(image.mean())
        return np.clip((image - mean) * factor + mean, 0, 255).astype(np.uint8), 0

    return shift


def _blur(sigma_at_620: float) -> Shift:
    return lambda image, _: (cv2.GaussianBlur(image, (0, 0), sigma_at_620 * image.shape[1] / 620), 0)


def _noise(sigma: float) -> Shift:
    return lambda image, rng: (np.clip(image + rng.normal(0, sigma, image.shape), 0, 255).astype(np.uint8), 0)


def _half_resolution(image: np.ndarray, _: np.random.Generator) -> tuple[np.ndarray, int]:
    small = cv2.resize(image, None, fx=0.5, fy=0.5, interpolation=cv2.INTER_AREA)
    return cv2.resize(small, (image.shape[1], image.shape[0]), interpolation=cv2.INTER_LINEAR), 0


def _black_sides(image: np.ndarray, _: np.random.Generator) -> tuple[np.ndarray, int]:
    height, width = image.shape[:2]
    wide = max(width, round(height * 16 / 9))
    left = (wide - width) // 2
    canvas = np.zeros((height, wide, 3), np.uint8)
    canvas[:, left : left + width] = image
    return canvas, left


JPEG_QUALITY = 30
SHIFTS: dict[str, Shift | None] = {
    "darker (gamma 1.5)": _lut(1.5),
    "brighter (gamma 0.67)": _lut(0.67),
    "warmer (red x1.12, blue x0.88)": _gains(1.12, 0.88),
    "cooler (red x0.88, blue x1.12)": _gains(0.88, 1.12),
    "lower contrast (x0.7)": _contrast(0.7),
    "blurred (sigma 2 px at 620 px wide)": _blur(2.0),
    "sensor noise (sigma 8)": _noise(8.0),
    "half the resolution, scaled back up": _half_resolution,
    f"JPEG quality {JPEG_QUALITY}": None,
    "between black sides, 16:9": _black_sides,
}


def shifted_predictions(detector: Any, items: list[Any], shift: Shift | None, folder: Path) -> list[Any]:
    """The detector's boxes on each changed image, in the unchanged image's pixels (matching its true boxes)."""
    from polypdet.evaluation.run import predict_dataset
    from polypdet.io.datasets import LabeledImage
    from polypdet.io.images import read_image

    rng = np.random.default_rng(0)
    changed, moved = [], []
    for item in items:
        image = read_image(item.path)
        if shift is None:
            path = folder / f"{item.path.stem}.jpg"
            cv2.imwrite(str(path), image[..., ::-1], [cv2.IMWRITE_JPEG_QUALITY, JPEG_QUALITY])
            left = 0
        else:
            image, left = shift(image, rng)
            path = folder / f"{item.path.stem}.png"
            cv2.imwrite(str(path), image[..., ::-1])
        changed.append(LabeledImage(path, item.boxes))
        moved.append(left)
    predictions = predict_dataset(detector, changed)
    return [
        replace(p, xyxy=p.xyxy - np.array([left, 0, left, 0], np.float32))
        for p, left in zip(predictions, moved, strict=True)
    ]


def main() -> int:
    parser = arguments(__doc__, "image_shifts")
    parser.add_argument("--model", default=None, help="model to score (default: the shipped one)")
    parser.add_argument("--bootstrap", type=int, default=200, help="paired resamplings per change")
    args = parser.parse_args()

    from polypdet.cli.prepare import default_prepared
    from polypdet.engine.detector import Detector
    from polypdet.engine.models import resolve_model
    from polypdet.evaluation.holdout import rounded_maps
    from polypdet.evaluation.metrics import bootstrap_maps, evaluate
    from polypdet.evaluation.run import predict_dataset
    from polypdet.io.datasets import load_dataset
    from polypdet.train.prepare import prepare_data

    model = resolve_model(args.model)
    detector = Detector(model, backend="onnxruntime", threads=args.threads)
    holdout = prepare_data(DATA, default_prepared()).data_yaml.parent / "holdout"
    results: dict[str, Any] = {}
    for name in ("kvasir", "clinicdb"):
        items = load_dataset(holdout / name)
        truths = [item.boxes for item in items]
        unchanged = predict_dataset(detector, items)
        figures: dict[str, Any] = {"as is": rounded_maps(evaluate(truths, unchanged, 0.25)[0])}
        for label, shift in SHIFTS.items():
            with tempfile.TemporaryDirectory(prefix="polypdet-shift-") as scratch:
                predictions = shifted_predictions(detector, items, shift, Path(scratch))
            change = bootstrap_maps(truths, predictions, args.bootstrap, baseline=unchanged)
            figures[label] = {
                **rounded_maps(evaluate(truths, predictions, 0.25)[0]),
                **{f"diff_{key}_ci95": [round(v, 4) for v in ci] for key, ci in change.items()},
            }
            print(name, label, figures[label], flush=True)
        results[f"{name}_holdout ({len(items)} images)"] = figures
    what = "held-out images changed as another hospital's might look, fp32 (onnxruntime), paired bootstrap vs as is"
    write_report(args.out, what, args.threads, results, model=model.model_version, bootstrap=args.bootstrap)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
