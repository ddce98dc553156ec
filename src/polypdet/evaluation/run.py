"""Run a detector over a labelled dataset and score it."""

from __future__ import annotations

import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import TypeVar

from tqdm import tqdm

from polypdet.detections import Detections
from polypdet.engine.detector import Detector, DetectParams
from polypdet.evaluation.metrics import CocoCurves, EvalResult, evaluate
from polypdet.io.datasets import LabeledImage
from polypdet.io.images import ImageDecodeError, read_for_input

MAP_CONF = 0.001
"""Boxes down to this score go into mAP (as ultralytics' val does); P/R/F1 use the operating threshold."""
CHUNK = 16
T = TypeVar("T")


@dataclass(frozen=True)
class Unreadable:
    """A dataset image that could not be read, and why (one line)."""

    item: LabeledImage
    reason: str


def readable(items: Sequence[LabeledImage], unreadable: Sequence[Unreadable]) -> list[LabeledImage]:
    """``items`` without those found unreadable."""
    left_out = {bad.item.path for bad in unreadable}
    return [item for item in items if item.path not in left_out]


def read_noting(item: LabeledImage, read: Callable[[Path], T], unreadable: list[Unreadable] | None) -> T | None:
    """``read(item.path)``; an image that cannot be read raises, or with ``unreadable`` given is noted there."""
    try:
        return read(item.path)
    except ImageDecodeError as error:
        if unreadable is None:
            raise
        unreadable.append(Unreadable(item, str(error)))
        return None


def predict_dataset(
    detector: Detector, items: Sequence[LabeledImage], unreadable: list[Unreadable] | None = None
) -> list[Detections]:
    """Every image's boxes down to :data:`MAP_CONF` (at most 100 each, as COCO counts), read as serving reads them.

    An image that cannot be read raises :class:`ImageDecodeError`; with ``unreadable`` given it is added there
    instead and has no entry in the returned list.
    """
    params = DetectParams(conf=MAP_CONF, max_det=100)
    predictions: list[Detections] = []
    progress = tqdm(total=len(items), disable=not sys.stderr.isatty(), unit="img", file=sys.stderr)
    read_one = partial(read_for_input, input_size=detector.input_size)
    for start in range(0, len(items), CHUNK):
        chunk = items[start : start + CHUNK]
        read = (read_noting(item, read_one, unreadable) for item in chunk)
        images = [image for image in read if image is not None]
        predictions += detector.detect_batch(images, params) if images else []
        progress.update(len(chunk))
    progress.close()
    return predictions


def evaluate_detector(
    detector: Detector, items: Sequence[LabeledImage], conf: float, unreadable: list[Unreadable] | None = None
) -> tuple[EvalResult, CocoCurves | None, list[Detections]]:
    """Metrics of ``detector`` on ``items``, plus the curves and predictions for plots; with ``unreadable`` given,
    images that cannot be read are added there and left out of the metrics."""
    predictions = predict_dataset(detector, items, unreadable)
    result, curves = evaluate([item.boxes for item in readable(items, unreadable or [])], predictions, conf)
    return result, curves, predictions
