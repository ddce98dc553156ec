"""Letterbox pre-processing and the inverse mapping of boxes, exactly as ultralytics does them."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

import cv2
import numpy as np
import numpy.typing as npt

PAD_VALUE = 114
MARGIN_LEVEL = 20
"""A pixel whose brightest channel is at most this is black margin (JPEG leaves black at 0-15)."""
PICTURE_SHARE = 0.2
"""A column or row with more bright pixels than this share may be picture; overlay text in a margin has fewer."""
PICTURE_RUN = 0.02
"""The picture's columns (rows) come in runs at least this share of the side long; a line of text is narrower."""

Region = tuple[int, int, int, int]
"""``(x0, y0, x1, y1)`` in pixels, ``x1`` and ``y1`` exclusive."""


@dataclass(frozen=True)
class LetterboxTransform:
    """How a region of the original image was placed in the network input:
    ``input = (original - origin) * gain + pad``.

    The region is the whole image unless black margins were cropped; ``width`` x ``height`` is its size, and boxes
    are clipped to it. Each axis has its own gain because each resized side is rounded to whole pixels.
    """

    gain_x: float
    gain_y: float
    pad_x: int
    pad_y: int
    width: int
    height: int
    origin_x: int = 0
    origin_y: int = 0

    def for_full_size(self, scale: int, width: int, height: int) -> LetterboxTransform:
        """The same placement for an image that was decoded at ``1/scale`` of its ``width`` x ``height``."""
        x, y = self.origin_x * scale, self.origin_y * scale
        return replace(
            self,
            gain_x=self.gain_x / scale,
            gain_y=self.gain_y / scale,
            width=min(self.width * scale, width - x),
            height=min(self.height * scale, height - y),
            origin_x=x,
            origin_y=y,
        )

    def to_original(self, boxes: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
        """Map xyxy boxes from network-input pixels back to original-image pixels, clipped to the region."""
        out = boxes.astype(np.float32, copy=True)
        out[:, [0, 2]] = ((out[:, [0, 2]] - self.pad_x) / self.gain_x).clip(0, self.width) + self.origin_x
        out[:, [1, 3]] = ((out[:, [1, 3]] - self.pad_y) / self.gain_y).clip(0, self.height) + self.origin_y
        return out


def picture_region(image: npt.NDArray[np.uint8]) -> Region:
    """The endoscope's picture inside the black margins around it, as ``(x0, y0, x1, y1)``.

    Endoscopy processors show the round or octagonal picture on black, HD ones between wide black sides with the
    patient's details in them. The picture spans the columns (rows) in which more than :data:`PICTURE_SHARE` of the
    pixels (every 8th) are brighter than :data:`MARGIN_LEVEL`, counted from the first to the last run of such
    columns :data:`PICTURE_RUN` of the side long: overlay text in a margin is sparser and narrower. The whole image
    is returned when there is no margin, or when the "picture" would be less than half of either side (a dark frame,
    not a margin).

    >>> frame = np.zeros((90, 160, 3), np.uint8); frame[:, 30:130] = 200
    >>> picture_region(frame)
    (30, 0, 130, 90)
    """
    height, width = image.shape[:2]
    columns = _span(_bright(image[::8]).mean(axis=0) > PICTURE_SHARE)
    rows = _span(_bright(image[:, ::8]).mean(axis=1) > PICTURE_SHARE)
    if columns is None or rows is None:
        return 0, 0, width, height
    (x0, x1), (y0, y1) = columns, rows
    if 2 * (x1 - x0) < width or 2 * (y1 - y0) < height:
        return 0, 0, width, height
    return x0, y0, x1, y1


def _bright(image: npt.NDArray[np.uint8]) -> npt.NDArray[np.bool_]:
    brightest = np.maximum(np.maximum(image[..., 0], image[..., 1]), image[..., 2])
    return np.asarray(brightest > MARGIN_LEVEL)


def _span(picture: npt.NDArray[np.bool_]) -> tuple[int, int] | None:
    """From the start of the first to the end of the last run of ``True`` that is long enough, if any."""
    run = max(1, round(len(picture) * PICTURE_RUN))
    starts = np.flatnonzero(np.convolve(picture, np.ones(run, np.int32), "valid") == run)
    return (int(starts[0]), int(starts[-1]) + run) if starts.size else None


def letterbox(
    image: npt.NDArray[np.uint8], size: tuple[int, int], stride: int | None = None, region: Region | None = None
) -> tuple[npt.NDArray[np.uint8], LetterboxTransform]:
    """Resize keeping the aspect ratio and pad to ``size`` (height, width) with grey 114, centred.

    With ``region`` (x0, y0, x1, y1) only that part of the image is letterboxed; boxes still map back to the
    whole image.

    With ``stride`` the padding stops at the next multiple of it (a 4:3 image at 320 becomes 320x256),
    as ultralytics pads for models that take any input shape; rounding follows its ``LetterBox``
    (``round(d - 0.1)`` on the top/left) so boxes match.

    >>> img, t = letterbox(np.zeros((240, 320, 3), np.uint8), (320, 320))
    >>> img.shape, t.gain_x, t.pad_x, t.pad_y
    ((320, 320, 3), 1.0, 0, 40)
    >>> letterbox(np.zeros((240, 320, 3), np.uint8), (320, 320), stride=32)[0].shape
    (256, 320, 3)
    """
    x0, y0, x1, y1 = region or (0, 0, image.shape[1], image.shape[0])
    image = image[y0:y1, x0:x1]
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
    transform = LetterboxTransform(new_w / width, new_h / height, left, top, width, height, x0, y0)
    return np.asarray(padded, dtype=np.uint8), transform


def to_input_tensor(images: Sequence[npt.NDArray[np.uint8]]) -> npt.NDArray[np.float32]:
    """Stack letterboxed RGB images (H, W, 3) into a float32 NCHW batch scaled to [0, 1]."""
    batch = np.stack(images).transpose(0, 3, 1, 2)
    return np.ascontiguousarray(batch, dtype=np.float32) * np.float32(1 / 255)
