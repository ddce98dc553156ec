"""Letterbox pre-processing and the inverse mapping of boxes, exactly as ultralytics does them."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

import cv2
import numpy as np
import numpy.typing as npt

PAD_VALUE = 114


@dataclass(frozen=True)
class LetterboxTransform:
    """How an original image was placed in the network input: ``input = original * gain + pad``.

    Each axis has its own gain because each resized side is rounded to whole pixels.
    """

    gain_x: float
    gain_y: float
    pad_x: int
    pad_y: int
    width: int
    height: int

    def for_full_size(self, scale: int, width: int, height: int) -> LetterboxTransform:
        """The same placement for an image that was decoded at ``1/scale`` of its ``width`` x ``height``."""
        return replace(self, gain_x=self.gain_x / scale, gain_y=self.gain_y / scale, width=width, height=height)

    def to_original(self, boxes: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
        """Map xyxy boxes from network-input pixels back to original-image pixels, clipped to it."""
        out = boxes.astype(np.float32, copy=True)
        out[:, [0, 2]] = ((out[:, [0, 2]] - self.pad_x) / self.gain_x).clip(0, self.width)
        out[:, [1, 3]] = ((out[:, [1, 3]] - self.pad_y) / self.gain_y).clip(0, self.height)
        return out


def letterbox(
    image: npt.NDArray[np.uint8], size: tuple[int, int], stride: int | None = None
) -> tuple[npt.NDArray[np.uint8], LetterboxTransform]:
    """Resize keeping the aspect ratio and pad to ``size`` (height, width) with grey 114, centred.

    With ``stride`` the padding stops at the next multiple of it (a 4:3 image at 320 becomes 320x256),
    as ultralytics pads for models that take any input shape; rounding follows its ``LetterBox``
    (``round(d - 0.1)`` on the top/left) so boxes match.

    >>> img, t = letterbox(np.zeros((240, 320, 3), np.uint8), (320, 320))
    >>> img.shape, t.gain_x, t.pad_x, t.pad_y
    ((320, 320, 3), 1.0, 0, 40)
    >>> letterbox(np.zeros((240, 320, 3), np.uint8), (320, 320), stride=32)[0].shape
    (256, 320, 3)
    """
    height, width = image.shape[:2]
    gain = min(size[0] / height, size[1] / width)
    new_w, new_h = max(round(width * gain), 1), max(round(height * gain), 1)
    dw, dh = size[1] - new_w, size[0] - new_h
    if stride:
        dw, dh = dw % stride, dh % stride
    dw, dh = dw / 2, dh / 2
    resized: npt.NDArray[Any] = image
    if (new_w, new_h) != (width, height):
        resized = cv2.resize(image, (new_w, new_h), interpolation=cv2.INTER_LINEAR)
    top, bottom = round(dh - 0.1), round(dh + 0.1)
    left, right = round(dw - 0.1), round(dw + 0.1)
    padded = cv2.copyMakeBorder(resized, top, bottom, left, right, cv2.BORDER_CONSTANT, value=(PAD_VALUE,) * 3)
    transform = LetterboxTransform(new_w / width, new_h / height, left, top, width, height)
    return np.asarray(padded, dtype=np.uint8), transform


def to_input_tensor(images: Sequence[npt.NDArray[np.uint8]]) -> npt.NDArray[np.float32]:
    """Stack letterboxed RGB images (H, W, 3) into a float32 NCHW batch scaled to [0, 1]."""
    batch = np.stack(images).transpose(0, 3, 1, 2)
    return np.ascontiguousarray(batch, dtype=np.float32) * np.float32(1 / 255)
