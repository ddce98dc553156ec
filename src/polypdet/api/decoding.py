"""Uploaded bytes to one RGB image; runs in a worker thread, never on the event loop."""

from __future__ import annotations

import importlib
import logging
from collections.abc import Callable

import numpy as np

from polypdet.api.errors import ApiError, bad_input
from polypdet.api.intake import Upload
from polypdet.io.images import ImageDecodeError, RGBImage, decode_image

log = logging.getLogger(__name__)


def dicom_decoder() -> Callable[[bytes], list[np.ndarray]]:
    """``polypdet.io.dicom.decode_dicom_frames``, imported on first use (it pulls in pydicom)."""
    try:
        module = importlib.import_module("polypdet.io.dicom")
    except ImportError:
        raise ApiError(415, "dicom_unsupported", "DICOM input is not available in this installation") from None
    decoder: Callable[[bytes], list[np.ndarray]] = module.decode_dicom_frames
    return decoder


def as_rgb(frame: np.ndarray) -> RGBImage:
    if frame.ndim == 2:
        frame = np.repeat(frame[..., None], 3, axis=2)
    if frame.ndim != 3 or frame.shape[2] != 3 or frame.dtype != np.uint8:
        raise ApiError(422, "invalid_dicom", f"unsupported DICOM frame: shape {frame.shape}, {frame.dtype}")
    return np.ascontiguousarray(frame)


def decode_dicom(data: bytes) -> RGBImage:
    """The first frame of a DICOM file (multi-frame video is the job of the video pipeline)."""
    decode = dicom_decoder()
    try:
        frames = decode(data)
    except Exception as error:
        log.info("DICOM refused: %s: %s", type(error).__name__, error)
        raise ApiError(422, "invalid_dicom", f"not a readable DICOM image: {error}"[:300]) from None
    if not frames:
        raise ApiError(422, "invalid_dicom", "the DICOM file has no image frames")
    return as_rgb(frames[0])


def decode_upload(upload: Upload) -> RGBImage:
    if upload.kind == "dicom":
        return decode_dicom(upload.data)
    try:
        return decode_image(upload.data)
    except ImageDecodeError as error:
        raise bad_input(str(error)) from None
