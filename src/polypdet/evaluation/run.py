"""Run a detector over a labelled dataset and score it."""

from __future__ import annotations

import sys
from collections.abc import Sequence

from tqdm import tqdm

from polypdet.detections import Detections
from polypdet.engine.detector import Detector, DetectParams
from polypdet.evaluation.metrics import CocoCurves, EvalResult, evaluate
from polypdet.io.datasets import LabeledImage
from polypdet.io.images import read_for_input

MAP_CONF = 0.001
"""Boxes down to this score go into mAP (as ultralytics' val does); P/R/F1 use the operating threshold."""
CHUNK = 16


def predict_dataset(detector: Detector, items: Sequence[LabeledImage]) -> list[Detections]:
    """Every image's boxes down to :data:`MAP_CONF` (at most 100 each, as COCO counts), read as serving reads them."""
    params = DetectParams(conf=MAP_CONF, max_det=100)
    predictions: list[Detections] = []
    progress = tqdm(total=len(items), disable=not sys.stderr.isatty(), unit="img", file=sys.stderr)
    for start in range(0, len(items), CHUNK):
        chunk = items[start : start + CHUNK]
        predictions += detector.detect_batch([read_for_input(item.path, detector.input_size) for item in chunk], params)
        progress.update(len(chunk))
    progress.close()
    return predictions


def evaluate_detector(
    detector: Detector, items: Sequence[LabeledImage], conf: float
) -> tuple[EvalResult, CocoCurves | None, list[Detections]]:
    """Metrics of ``detector`` on ``items``, plus the curves and predictions for plots."""
    predictions = predict_dataset(detector, items)
    result, curves = evaluate([item.boxes for item in items], predictions, conf)
    return result, curves, predictions
