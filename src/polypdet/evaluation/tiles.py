"""Small-polyp stress set: labelled images tiled ``n`` x ``n`` into one frame, each polyp ``n`` times smaller.

Kvasir-SEG and CVC-ClinicDB polyps fill a large part of the frame; other hospitals' HD frames (ETIS-Larib,
PolypGen) hold smaller ones. Tiling the held-out images keeps real polyps and real mucosa around them while the
polyps shrink relative to the frame, which is what the network's fixed input size sees.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import cv2
import numpy as np

from polypdet.evaluation.run import Unreadable, read_noting
from polypdet.io.datasets import LabeledImage
from polypdet.io.images import RGBImage, read_image

CELL = (640, 540)
"""Width and height of one tile: a Kvasir-SEG frame's usual size; 3 x 3 tiles make a 1920 x 1620 frame."""


def tile_dataset(
    items: Sequence[LabeledImage], n: int, out: Path, unreadable: list[Unreadable] | None = None
) -> list[LabeledImage]:
    """Write ``len(items) // n**2`` tiled frames (JPEG) into ``out``, each image letterboxed into its cell on black,
    and return them with their boxes. An image that cannot be read raises, or with ``unreadable`` given is noted
    there and left out."""
    out.mkdir(parents=True, exist_ok=True)
    tiled: list[LabeledImage] = []
    group: list[tuple[LabeledImage, RGBImage]] = []
    for item in items:
        image = read_noting(item, read_image, unreadable)
        if image is not None:
            group.append((item, image))
        if len(group) == n * n:
            tiled.append(_tile(group, n, out / f"tiled{n}x{n}_{len(tiled):03d}.jpg"))
            group = []
    return tiled


def _tile(group: list[tuple[LabeledImage, RGBImage]], n: int, path: Path) -> LabeledImage:
    cell_w, cell_h = CELL
    canvas = np.zeros((cell_h * n, cell_w * n, 3), np.uint8)
    boxes: list[np.ndarray] = []
    for k, (item, image) in enumerate(group):
        gain = min(cell_w / image.shape[1], cell_h / image.shape[0])
        width, height = round(image.shape[1] * gain), round(image.shape[0] * gain)
        left = (k % n) * cell_w + (cell_w - width) // 2
        top = (k // n) * cell_h + (cell_h - height) // 2
        resized = cv2.resize(image, (width, height), interpolation=cv2.INTER_AREA)
        canvas[top : top + height, left : left + width] = resized
        boxes.append(item.boxes * gain + np.array([left, top, left, top], np.float32))
    cv2.imwrite(str(path), cv2.cvtColor(canvas, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, 95])
    return LabeledImage(path, np.concatenate(boxes).astype(np.float32).reshape(-1, 4))
