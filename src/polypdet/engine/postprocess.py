"""Decode YOLOv8 outputs: confidence filter, class-aware NMS and the detection limit."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

MAX_WH = 7680.0
"""Offset per class id so one NMS pass never suppresses boxes of different classes (as ultralytics)."""
MAX_NMS = 30000


def xywh_to_xyxy(boxes: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
    """Centre-size boxes to corner boxes."""
    out = np.empty_like(boxes)
    half_w, half_h = boxes[:, 2] / 2, boxes[:, 3] / 2
    out[:, 0] = boxes[:, 0] - half_w
    out[:, 1] = boxes[:, 1] - half_h
    out[:, 2] = boxes[:, 0] + half_w
    out[:, 3] = boxes[:, 1] + half_h
    return out


def box_iou(box: npt.NDArray[np.float32], boxes: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
    """IoU of one xyxy box against (N, 4) boxes."""
    w = (np.minimum(box[2], boxes[:, 2]) - np.maximum(box[0], boxes[:, 0])).clip(min=0)
    h = (np.minimum(box[3], boxes[:, 3]) - np.maximum(box[1], boxes[:, 1])).clip(min=0)
    inter = w * h
    area = (box[2] - box[0]) * (box[3] - box[1])
    areas = (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])
    return np.asarray(inter / (area + areas - inter + 1e-9), dtype=np.float32)


def non_max_suppression(
    boxes: npt.NDArray[np.float32], scores: npt.NDArray[np.float32], iou_threshold: float
) -> npt.NDArray[np.int64]:
    """Greedy NMS; indices of kept boxes by descending score (same result as ``torchvision.ops.nms``).

    >>> b = np.array([[0, 0, 10, 10], [1, 1, 10, 10], [20, 20, 30, 30]], np.float32)
    >>> non_max_suppression(b, np.array([0.9, 0.8, 0.7], np.float32), 0.5).tolist()
    [0, 2]
    """
    order = np.argsort(-scores, kind="stable")
    keep: list[int] = []
    while order.size:
        best = int(order[0])
        keep.append(best)
        rest = order[1:]
        order = rest[box_iou(boxes[best], boxes[rest]) <= iou_threshold]
    return np.asarray(keep, dtype=np.int64)


def decode_yolo(
    output: npt.NDArray[np.float32], conf: float, iou: float, max_det: int
) -> tuple[npt.NDArray[np.float32], npt.NDArray[np.float32], npt.NDArray[np.int64]]:
    """One image's raw output ``(4 + classes, anchors)`` to xyxy boxes, scores and class ids.

    Boxes stay in network-input pixels; :class:`~polypdet.engine.preprocess.LetterboxTransform` maps
    them back.
    """
    scores_all = output[4:]
    class_ids = scores_all.argmax(axis=0)
    scores = scores_all[class_ids, np.arange(scores_all.shape[1])]
    mask = scores > conf
    if not mask.any():
        return np.zeros((0, 4), np.float32), np.zeros(0, np.float32), np.zeros(0, np.int64)
    boxes = xywh_to_xyxy(output[:4, mask].T.astype(np.float32))
    scores, class_ids = scores[mask].astype(np.float32), class_ids[mask].astype(np.int64)
    if len(scores) > MAX_NMS:
        top = np.argsort(-scores, kind="stable")[:MAX_NMS]
        boxes, scores, class_ids = boxes[top], scores[top], class_ids[top]
    keep = non_max_suppression(boxes + (class_ids[:, None] * MAX_WH).astype(np.float32), scores, iou)[:max_det]
    return boxes[keep], scores[keep], class_ids[keep]
