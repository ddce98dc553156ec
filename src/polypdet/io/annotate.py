"""Draw detections on images: boxes, confidences and track ids, readable on any endoscopy frame."""

from __future__ import annotations

import cv2
import numpy as np
import numpy.typing as npt

from polypdet.detections import Detections

BOX_COLOUR = (0, 255, 128)  # RGB: bright green stands out against mucosa
FONT = cv2.FONT_HERSHEY_SIMPLEX

Rect = tuple[int, int, int, int]


def draw_detections(image: npt.NDArray[np.uint8], detections: Detections) -> npt.NDArray[np.uint8]:
    """Return a copy of the RGB ``image`` with each box and its label drawn, no label hiding another."""
    out = np.ascontiguousarray(image.copy())
    scale = max(out.shape[:2]) / 640
    thickness = max(1, round(2 * scale))
    font = 0.5 * max(scale, 0.6)
    placed: list[Rect] = []
    for det in detections:
        x1, y1, x2, y2 = (round(v) for v in det.bbox)
        cv2.rectangle(out, (x1, y1), (x2, y2), BOX_COLOUR, thickness, cv2.LINE_AA)
        label = f"{det.class_name} {det.confidence:.2f}"
        if det.track_id is not None:
            label = f"#{det.track_id} {label}"
        (tw, th), base = cv2.getTextSize(label, FONT, font, thickness)
        tag = label_place((x1, y1, x2, y2), (tw + 2, th + base + 2), out.shape[1], out.shape[0], placed)
        placed.append(tag)
        left, top, right, bottom = tag
        cv2.rectangle(out, (left, top), (right, bottom), BOX_COLOUR, -1)
        cv2.putText(out, label, (left + 1, top + th + 1), FONT, font, (0, 0, 0), thickness, cv2.LINE_AA)
    return out


def label_place(box: Rect, size: tuple[int, int], width: int, height: int, placed: list[Rect]) -> Rect:
    """Where a label tag of ``size`` goes: above the box, else just inside its top, below it, inside its bottom.

    The first of these that stays in the image and overlaps no tag already ``placed`` wins; if none does, above.
    """
    x1, y1, _, y2 = box
    tw, th = size
    left = min(max(x1, 0), max(width - tw, 0))
    tops = (y1 - th, y1, y2, y2 - th)
    candidates = [(left, top, left + tw, top + th) for top in tops]
    for tag in candidates:
        inside = tag[1] >= 0 and tag[3] <= height
        if inside and not any(_overlap(tag, other) for other in placed):
            return tag
    top = min(max(y1 - th, 0), max(height - th, 0))
    return left, top, left + tw, top + th


def _overlap(a: Rect, b: Rect) -> bool:
    return a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]
