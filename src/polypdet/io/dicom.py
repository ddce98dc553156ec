"""Read DICOM instances into RGB ``uint8`` frames, with the header kept for DICOM SR / SC / FHIR outputs.

pydicom 3's pixel pipeline decodes every common transfer syntax (JPEG baseline/extended/lossless, JPEG-LS,
JPEG 2000, RLE) through the pylibjpeg plugins and converts YBR to RGB once. For monochrome data the modality
LUT and then the VOI LUT (window or LUT) are applied before scaling to 8 bits; MONOCHROME1 is inverted.
Endoscopy video (MPEG-2, H.264, HEVC) goes to :mod:`polypdet.io.dicom_video`.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
from pydicom import Dataset, dcmread
from pydicom.errors import InvalidDicomError
from pydicom.pixels.decoders.base import get_decoder
from pydicom.pixels.processing import apply_color_lut, apply_modality_lut, apply_voi_lut
from pydicom.uid import UID

from polypdet.io.dicom_video import VIDEO_TRANSFER_SYNTAXES, decode_video_frames
from polypdet.io.images import DEFAULT_MAX_PIXELS, ImageDecodeError, RGBImage

DEFAULT_MAX_TOTAL_PIXELS = 150_000_000
"""Most pixels decoded from one instance, all frames together (~450 MB of RGB: 75 frames of 1080p video)."""

_PIXEL_KEYWORDS = ("PixelData", "FloatPixelData", "DoubleFloatPixelData")


class DicomDecodeError(ImageDecodeError):
    """The input is not a DICOM image polypdet can read; the message says why in one line."""


@dataclass
class DicomImage:
    """A decoded instance: its header (pixel data removed) and every frame as RGB ``uint8``."""

    dataset: Dataset
    frames: list[RGBImage]

    @property
    def sop_class_uid(self) -> str:
        return str(self.dataset.SOPClassUID)

    @property
    def sop_instance_uid(self) -> str:
        return str(self.dataset.SOPInstanceUID)

    @property
    def study_instance_uid(self) -> str:
        return str(self.dataset.StudyInstanceUID)

    @property
    def series_instance_uid(self) -> str:
        return str(self.dataset.SeriesInstanceUID)

    @property
    def width(self) -> int:
        return int(self.frames[0].shape[1])

    @property
    def height(self) -> int:
        return int(self.frames[0].shape[0])


def is_dicom(data: bytes) -> bool:
    """True for a DICOM Part 10 file (``DICM`` after the 128-byte preamble)."""
    return data[128:132] == b"DICM"


def read_dicom_bytes(data: bytes, max_total_pixels: int = DEFAULT_MAX_TOTAL_PIXELS) -> DicomImage:
    """Parse and decode a DICOM Part 10 file; every failure is a :class:`DicomDecodeError`."""
    if not data:
        raise DicomDecodeError("empty file (0 bytes)")
    try:
        dataset = dcmread(io.BytesIO(data))
    except InvalidDicomError:
        raise DicomDecodeError("not a DICOM file (no DICM header)") from None
    except Exception as error:  # pydicom raises many types on truncated or malformed data
        raise DicomDecodeError(f"corrupt DICOM file: {_one_line(error)}") from None
    return decode_dataset(dataset, max_total_pixels)


def read_dicom(path: Path, max_total_pixels: int = DEFAULT_MAX_TOTAL_PIXELS) -> DicomImage:
    """Read and decode one ``.dcm`` file."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise DicomDecodeError("no such file") from None
    except IsADirectoryError:
        raise DicomDecodeError("is a folder, not a DICOM file") from None
    except OSError as error:
        raise DicomDecodeError(f"cannot read: {error.strerror or error}") from None
    return read_dicom_bytes(data, max_total_pixels)


def decode_dicom_frames(data: bytes, max_total_pixels: int = DEFAULT_MAX_TOTAL_PIXELS) -> list[RGBImage]:
    """Every frame of a DICOM file as RGB ``uint8`` arrays (one for a single-frame image)."""
    return read_dicom_bytes(data, max_total_pixels).frames


def decode_dataset(dataset: Dataset, max_total_pixels: int = DEFAULT_MAX_TOTAL_PIXELS) -> DicomImage:
    """Decode an already parsed dataset (e.g. one received by C-STORE)."""
    if not any(keyword in dataset for keyword in _PIXEL_KEYWORDS):
        sop_class = UID(str(dataset.get("SOPClassUID", ""))).name or "unknown SOP class"
        raise DicomDecodeError(f"no pixel data (not an image: {sop_class})")
    if "PixelData" not in dataset:
        raise DicomDecodeError("float pixel data is not supported (parametric maps are not endoscopy images)")
    for keyword in ("SOPClassUID", "SOPInstanceUID", "StudyInstanceUID", "SeriesInstanceUID"):
        if not dataset.get(keyword):
            raise DicomDecodeError(f"missing {keyword}")
    transfer_syntax = _transfer_syntax(dataset)
    try:
        if transfer_syntax in VIDEO_TRANSFER_SYNTAXES:
            frames = decode_video_frames(dataset.PixelData, transfer_syntax, max_total_pixels)
        else:
            frames = _decode_image_frames(dataset, transfer_syntax, max_total_pixels)
    except (ImageDecodeError, MemoryError):
        raise
    except Exception as error:  # decoder plugins raise RuntimeError, ValueError, struct.error, ...
        raise DicomDecodeError(f"corrupt pixel data ({transfer_syntax.name}): {_one_line(error)}") from None
    if not frames:
        raise DicomDecodeError("no frames in the pixel data")
    header = dataset.copy()
    del header.PixelData
    return DicomImage(dataset=header, frames=frames)


def _transfer_syntax(dataset: Dataset) -> UID:
    meta = getattr(dataset, "file_meta", None)
    uid = UID(str(meta.get("TransferSyntaxUID", ""))) if meta is not None else UID("")
    if not uid:
        raise DicomDecodeError("no transfer syntax in the file meta information")
    if uid in VIDEO_TRANSFER_SYNTAXES:
        return uid
    try:
        available = get_decoder(uid).is_available
    except NotImplementedError:
        available = False
    if not available:
        raise DicomDecodeError(f"unsupported transfer syntax: {uid.name or 'unknown'} ({uid})")
    return uid


def _decode_image_frames(dataset: Dataset, transfer_syntax: UID, max_total_pixels: int) -> list[RGBImage]:
    rows, columns = int(dataset.Rows), int(dataset.Columns)
    count = int(dataset.get("NumberOfFrames") or 1)
    if rows * columns > DEFAULT_MAX_PIXELS or rows * columns * count > max_total_pixels:
        raise DicomDecodeError(f"image too large: {count} frame(s) of {columns}x{rows} pixels")
    frames = []
    for array, meta in get_decoder(transfer_syntax).iter_array(dataset, as_rgb=True):
        frames.append(_to_rgb8(array, dataset, str(meta["photometric_interpretation"])))
    return frames


def _to_rgb8(array: npt.NDArray[Any], dataset: Dataset, photometric: str) -> RGBImage:
    """One decoded frame to RGB ``uint8`` following the DICOM grayscale/colour pipelines."""
    if photometric == "PALETTE COLOR":
        array = apply_color_lut(array, dataset)
        return _scale_to_uint8(array, 0.0, float(np.iinfo(array.dtype).max) if array.dtype != np.uint8 else 255.0)
    if array.ndim == 3:  # RGB (YBR already converted by pydicom)
        bits = int(dataset.get("BitsStored") or 8)
        return _scale_to_uint8(array, 0.0, float(2**bits - 1))
    values = apply_modality_lut(array, dataset)
    if "WindowCenter" in dataset or "VOILUTSequence" in dataset:
        values = apply_voi_lut(values, dataset)
        lo, hi = (float(v) for v in apply_voi_lut(np.array([-1e30, 1e30]), dataset))
    elif int(dataset.get("BitsStored") or 8) <= 8:  # 8-bit data keeps its scale: no contrast stretching
        lo, hi = (float(v) for v in apply_modality_lut(np.array([0, 255]), dataset))
    else:
        lo, hi = float(values.min()), float(values.max())
    gray = _scale_to_uint8(values, lo, hi)
    if photometric == "MONOCHROME1":
        gray = 255 - gray
    return np.ascontiguousarray(np.repeat(gray[..., None], 3, axis=2))


def _scale_to_uint8(values: npt.NDArray[Any], lo: float, hi: float) -> RGBImage:
    if values.dtype == np.uint8 and (lo, hi) == (0.0, 255.0):
        return np.ascontiguousarray(values)
    scaled = (values.astype(np.float32) - lo) * (255.0 / ((hi - lo) or 1.0))
    return np.ascontiguousarray(np.clip(np.rint(scaled), 0, 255).astype(np.uint8))


def _one_line(error: BaseException) -> str:
    text = " ".join(str(error).split())
    return (text[:200] + "...") if len(text) > 200 else text or type(error).__name__
