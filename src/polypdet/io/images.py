"""Decode image files or bytes into RGB ``uint8`` arrays, refusing what is not a sane image.

Handles EXIF orientation, grayscale, palette, RGBA/LA (alpha dropped, as OpenCV does), 16-bit and
float (scaled to 8 bits), and CMYK. Decompression bombs are refused from the header, before decoding.
"""

from __future__ import annotations

import io
from pathlib import Path

import cv2
import numpy as np
import numpy.typing as npt
from PIL import Image, ImageOps, UnidentifiedImageError

DEFAULT_MAX_PIXELS = 80_000_000
"""Above this many pixels an image is refused (a 16k x 5k frame; endoscopes give 1-2 MP)."""

RGBImage = npt.NDArray[np.uint8]


class ImageDecodeError(ValueError):
    """The input is not an image polypdet can read; the message says why in one line."""


def _to_rgb(image: Image.Image) -> RGBImage:
    if image.mode in {"I;16", "I;16B", "I;16L", "I;16N", "I", "F"}:
        values = np.asarray(image)
        if image.mode == "F":
            lo, hi = float(np.nanmin(values)), float(np.nanmax(values))
            scaled = (values - lo) / ((hi - lo) or 1.0) * 255.0
        else:
            scaled = values.astype(np.float64) / 257.0 if values.max() > 255 else values
        gray = np.clip(np.nan_to_num(scaled), 0, 255).astype(np.uint8)
        return np.ascontiguousarray(np.repeat(gray[..., None], 3, axis=2))
    if image.mode != "RGB":
        image = image.convert("RGB")
    return np.asarray(image, dtype=np.uint8)


_FAST_MODES = frozenset({"RGB", "L", "RGBA", "LA", "P"})
_END_MARKERS = {"JPEG": b"\xff\xd9", "PNG": b"IEND\xaeB`\x82"}


def _decode_fast(data: bytes, image_format: str | None, mode: str) -> RGBImage | None:
    """OpenCV's decoder (faster than Pillow's, EXIF orientation included) for complete 8-bit JPEG/PNG files.

    A truncated file would decode silently in part, so only files that end with their format's end marker
    take this path; anything else is left to Pillow, which refuses truncation.
    """
    marker = _END_MARKERS.get(image_format or "")
    if marker is None or mode not in _FAST_MODES or marker not in data[-64:]:
        return None
    decoded = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
    return None if decoded is None else np.asarray(cv2.cvtColor(decoded, cv2.COLOR_BGR2RGB), dtype=np.uint8)


def decode_image(data: bytes, max_pixels: int = DEFAULT_MAX_PIXELS) -> RGBImage:
    """Decode encoded image bytes (JPEG, PNG, BMP, TIFF, WebP, ...) to an RGB array."""
    if not data:
        raise ImageDecodeError("empty file (0 bytes)")
    try:
        with Image.open(io.BytesIO(data)) as image:
            width, height = image.size
            if width * height > max_pixels:
                raise ImageDecodeError(f"image too large: {width}x{height} pixels (limit {max_pixels})")
            if width == 0 or height == 0:
                raise ImageDecodeError("image has no pixels")
            fast = _decode_fast(data, image.format, image.mode)
            if fast is not None:
                return fast
            image.load()
            return _to_rgb(ImageOps.exif_transpose(image) or image)
    except ImageDecodeError:
        raise
    except (UnidentifiedImageError, ImportError):  # ImportError: a format plugin that is not installed
        raise ImageDecodeError("not an image (unknown or unsupported format)") from None
    except Image.DecompressionBombError:
        raise ImageDecodeError("image too large: refused as a decompression bomb") from None
    except (OSError, SyntaxError, ValueError) as error:
        raise ImageDecodeError(f"corrupt or truncated image: {error}") from None


def read_image(path: Path, max_pixels: int = DEFAULT_MAX_PIXELS) -> RGBImage:
    """Read and decode one image file; every failure is an :class:`ImageDecodeError`."""
    if not path.exists():
        raise ImageDecodeError("no such file")
    if path.is_dir():
        raise ImageDecodeError("is a folder, not an image")
    try:
        data = path.read_bytes()
    except OSError as error:
        raise ImageDecodeError(f"cannot read: {error.strerror or error}") from None
    return decode_image(data, max_pixels)
