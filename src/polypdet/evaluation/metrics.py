"""Detection metrics: COCO mAP by pycocotools, precision/recall/F1 at an operating threshold."""

from __future__ import annotations

import contextlib
import io
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from polypdet.detections import Detections
from polypdet.engine.postprocess import box_iou


@dataclass(frozen=True)
class EvalResult:
    map50: float
    map50_95: float
    precision: float
    recall: float
    f1: float
    images: int
    instances: int
    conf: float

    def to_json(self) -> dict[str, Any]:
        return {k: round(v, 4) if isinstance(v, float) else v for k, v in asdict(self).items()}


@dataclass(frozen=True)
class CocoCurves:
    """Precision at 101 recall points (IoU 0.5), for the PR plot."""

    recall: npt.NDArray[np.float64]
    precision: npt.NDArray[np.float64]


def _coco_eval(truths: Sequence[npt.NDArray[np.float32]], predictions: Sequence[Detections]) -> Any:
    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval

    images: list[dict[str, Any]] = []
    annotations: list[dict[str, Any]] = []
    results: list[dict[str, Any]] = []
    for image_id, (gt, pred) in enumerate(zip(truths, predictions, strict=True), start=1):
        images.append({"id": image_id})
        for x1, y1, x2, y2 in gt.tolist():
            w, h = x2 - x1, y2 - y1
            annotations.append(
                {
                    "id": len(annotations) + 1,
                    "image_id": image_id,
                    "category_id": 1,
                    "bbox": [x1, y1, w, h],
                    "area": w * h,
                    "iscrowd": 0,
                }
            )
        for (x1, y1, x2, y2), score in zip(pred.xyxy.tolist(), pred.confidence.tolist(), strict=True):
            results.append({"image_id": image_id, "category_id": 1, "bbox": [x1, y1, x2 - x1, y2 - y1], "score": score})
    with contextlib.redirect_stdout(io.StringIO()):
        ground = COCO()
        ground.dataset = {"images": images, "annotations": annotations, "categories": [{"id": 1, "name": "polyp"}]}
        ground.createIndex()
        detected = ground.loadRes(results) if results else COCO()
        evaluator = COCOeval(ground, detected, "bbox")
        if results:
            evaluator.evaluate()
            evaluator.accumulate()
            evaluator.summarize()
    return evaluator if results else None


def _match_counts(
    truths: Sequence[npt.NDArray[np.float32]], predictions: Sequence[Detections], iou: float = 0.5
) -> tuple[int, int, int]:
    """True positives, false positives, false negatives by greedy matching in score order."""
    tp = fp = fn = 0
    for gt, pred in zip(truths, predictions, strict=True):
        matched = np.zeros(len(gt), dtype=bool)
        for i in np.argsort(-pred.confidence):
            if len(gt):
                ious = box_iou(pred.xyxy[i], gt)
                ious[matched] = 0
                best = int(ious.argmax())
                if ious[best] >= iou:
                    matched[best] = True
                    tp += 1
                    continue
            fp += 1
        fn += int((~matched).sum())
    return tp, fp, fn


def _maps(truths: Sequence[npt.NDArray[np.float32]], predictions: Sequence[Detections]) -> tuple[float, float, Any]:
    """COCO mAP50 and mAP50-95 (0 where nothing was detected or there is nothing to find), and the evaluator."""
    evaluator = _coco_eval(truths, predictions)
    if evaluator is None:
        return 0.0, 0.0, None
    return max(float(evaluator.stats[1]), 0.0), max(float(evaluator.stats[0]), 0.0), evaluator


def bootstrap_maps(
    truths: Sequence[npt.NDArray[np.float32]],
    predictions: Sequence[Detections],
    replicates: int,
    level: float = 0.95,
    seed: int = 0,
    baseline: Sequence[Detections] | None = None,
) -> dict[str, tuple[float, float]]:
    """Percentile bootstrap intervals of mAP50 and mAP50-95 over images drawn with replacement.

    They say how far the figures would move on another draw of as many images from the same source:
    on 120 images, a few hundredths. With ``baseline`` (another model's predictions on the same images) they are
    intervals of the difference ``predictions - baseline``, both scored on each same draw: a paired comparison,
    narrower than either model's own interval, as the images hard for one are mostly hard for the other.
    """
    rng = np.random.default_rng(seed)
    samples = []
    for _ in range(replicates):
        drawn = rng.integers(0, len(truths), len(truths))
        drawn_truths = [truths[i] for i in drawn]
        figures = np.asarray(_maps(drawn_truths, [predictions[i] for i in drawn])[:2])
        if baseline is not None:
            figures -= np.asarray(_maps(drawn_truths, [baseline[i] for i in drawn])[:2])
        samples.append(figures)
    tails = [50 * (1 - level), 50 * (1 + level)]
    low, high = np.percentile(np.asarray(samples), tails, axis=0)
    return {"map50": (float(low[0]), float(high[0])), "map50_95": (float(low[1]), float(high[1]))}


def evaluate(
    truths: Sequence[npt.NDArray[np.float32]], predictions: Sequence[Detections], conf: float
) -> tuple[EvalResult, CocoCurves | None]:
    """mAP over all scores in ``predictions``; precision/recall/F1 over boxes scoring >= ``conf``."""
    map50, map50_95, evaluator = _maps(truths, predictions)
    tp, fp, fn = _match_counts(truths, [p[p.confidence >= conf] for p in predictions])
    precision = tp / (tp + fp) if tp + fp else 0.0
    recall = tp / (tp + fn) if tp + fn else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    result = EvalResult(map50, map50_95, precision, recall, f1, len(truths), int(sum(len(t) for t in truths)), conf)
    curves = None
    if evaluator:
        curves = CocoCurves(
            np.asarray(evaluator.params.recThrs), np.asarray(evaluator.eval["precision"][0, :, 0, 0, -1]).clip(min=0)
        )
    return result, curves
