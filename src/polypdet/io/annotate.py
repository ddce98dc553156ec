"""Draw detections on images: boxes, confidences and track ids, readable on any endoscopy frame."""

from __future__ import annotations

import cv2
import numpy as np
import numpy.typing as npt

from polypdet.detections import Detections

BOX_COLOUR = (0, 255, 128)  # RGB: bright green stands out against mucosa


def draw_detections(image: npt.NDArray[np.uint8], detections: Detections) -> npt.NDArray[np.uint8]:
    """Return a copy of the RGB ``image`` with each box and its label drawn."""
    out = np.ascontiguousarray(image.copy())
    scale = max(out.shape[:2]) / 640
    thickness = max(1, round(2 * scale))
    font = 0.5 * max(scale, 0.6)
    for det in detections:
        x1, y1, x2, y2 = (round(v) for v in det.bbox)
        cv2.rectangle(out, (x1, y1), (x2, y2), BOX_COLOUR, thickness, cv2.LINE_AA)
        label = f"{det.class_name} {det.confidence:.2f}"
        if det.track_id is not None:
            label = f"#{det.track_id} {label}"
        (tw, th), base = cv2.getTextSize(label, cv2.FONT_HERSHEY_SIMPLEX, font, thickness)
        top = max(y1 - th - base - 2, 0)
        cv2.rectangle(out, (x1, top), (x1 + tw + 2, top + th + base + 2), BOX_COLOUR, -1)
        cv2.putText(
            out, label, (x1 + 1, top + th + 1), cv2.FONT_HERSHEY_SIMPLEX, font, (0, 0, 0), thickness, cv2.LINE_AA
        )
    return out
