"""Uploaded bytes to RGB frames (every frame of a DICOM or of a multi-page image); runs in a worker thread."""

from __future__ import annotations

import importlib
import io
import logging
from dataclasses import dataclass
from typing import Any

import numpy as np

from polypdet.api.errors import ApiError, bad_input
from polypdet.api.intake import Upload
from polypdet.io.images import ImageDecodeError, ReducedImage, RGBImage, decode_frames_for_input, image_size
from polypdet.video.frames import VIDEO_HEAD, is_video

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Decoded:
    """The frames of one upload and, for DICOM, its header without pixel data as a DICOM JSON dict."""

    frames: list[RGBImage] | list[RGBImage | ReducedImage]
    dicom_header: dict[str, Any] | None = None

    @property
    def size(self) -> tuple[int, int]:
        """Width and height of the uploaded image (of its first frame), whatever scale it was decoded at."""
        return image_size(self.frames[0])


def dicom_module() -> Any:
    """``polypdet.io.dicom``, imported on first use (it pulls in pydicom)."""
    try:
        return importlib.import_module("polypdet.io.dicom")
    except ImportError:
        raise ApiError(415, "dicom_unsupported", "DICOM input is not available in this installation") from None


def as_rgb(frame: np.ndarray) -> RGBImage:
    if frame.ndim == 2:
        frame = np.repeat(frame[..., None], 3, axis=2)
    if frame.ndim != 3 or frame.shape[2] != 3 or frame.dtype != np.uint8:
        raise ApiError(422, "invalid_dicom", f"unsupported DICOM frame: shape {frame.shape}, {frame.dtype}")
    return np.ascontiguousarray(frame)


def refused(error: Exception) -> ApiError:
    log.info("DICOM refused: %s: %s", type(error).__name__, error)
    return ApiError(422, "invalid_dicom", f"not a readable DICOM image: {error}"[:300])


def decode_dicom(data: bytes) -> Decoded:
    """Every frame of a DICOM file, and its header for the SR / FHIR outputs."""
    reader = dicom_module()
    try:
        image = reader.read_dicom_bytes(data)
    except Exception as error:
        raise refused(error) from None
    if not image.frames:
        raise ApiError(422, "invalid_dicom", "the DICOM file has no image frames")
    return Decoded([as_rgb(frame) for frame in image.frames], header_json(image.dataset))


def dicom_header(data: bytes) -> dict[str, Any]:
    """Only the header of a DICOM file (a cached answer needs no pixels), as a DICOM JSON dict."""
    dicom_module()
    from pydicom import dcmread

    try:
        dataset = dcmread(io.BytesIO(data), stop_before_pixels=True)
    except Exception as error:  # pydicom raises many types on malformed data
        raise refused(error) from None
    return header_json(dataset)


def header_json(dataset: Any) -> dict[str, Any]:
    try:
        header: dict[str, Any] = dataset.to_json_dict()
    except Exception as error:  # an element that has no DICOM JSON form
        raise refused(error) from None
    return header


def decode_upload(upload: Upload, input_size: int) -> Decoded:
    """The frames to detect in; a large JPEG comes reduced to what a network of ``input_size`` needs."""
    if upload.kind == "dicom":
        return decode_dicom(upload.data)
    try:
        return Decoded(decode_frames_for_input(upload.data, input_size))
    except ImageDecodeError as error:
        if is_video(upload.data[:VIDEO_HEAD]):
            raise bad_input("a video, not an image: POST it to /api/jobs/video") from None
        raise bad_input(str(error)) from None
