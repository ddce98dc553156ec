"""A stored result as clinical objects: DICOM SR, DICOM Secondary Capture and a FHIR R4 Bundle.

Everything comes from the result's encrypted payload (per-frame boxes, the source DICOM header) and, for the
SC only, from the source image kept with ``STORE_SOURCE_IMAGES``. Runs in a worker thread. pydicom, highdicom
and fhir.resources are imported on the first report, not at start: they would add ~100 MB to every worker.
"""

from __future__ import annotations

import io
import json
from typing import TYPE_CHECKING, Any

from polypdet.api.errors import ApiError
from polypdet.detections import Detections
from polypdet.io.images import ImageDecodeError, decode_image
from polypdet.result import DetectionResult
from polypdet.store import ResultRecord
from polypdet.store.store import as_utc

if TYPE_CHECKING:
    from pydicom import Dataset


def per_frame(record: ResultRecord) -> list[Detections]:
    """One ``Detections`` per source frame (a single one for images and single-frame DICOM)."""
    return [Detections.from_json(frame) for frame in record.frames or [record.detections]]


def source_header(record: ResultRecord) -> Dataset | None:
    """The source DICOM header, ``None`` for a plain image; 409 for a DICOM result stored without it."""
    if record.source != "dicom":
        return None
    if record.dicom_header is None:
        raise ApiError(409, "source_unavailable", "the DICOM header of this result's source was not kept")
    from pydicom import Dataset

    return Dataset.from_json(record.dicom_header)


def dicom_bytes(dataset: Dataset) -> bytes:
    buffer = io.BytesIO()
    dataset.save_as(buffer, enforce_file_format=True)
    return buffer.getvalue()


def sr_bytes(record: ResultRecord) -> bytes:
    """The Comprehensive SR (TID 1500) of the result, as a DICOM Part 10 file."""
    from polypdet.clinical.sr import build_sr

    header = source_header(record)
    size = (record.image_width, record.image_height)
    sr = build_sr(header, per_frame(record), record.model_version, result_id=record.id, image_size=size)
    return dicom_bytes(sr)


def sc_bytes(record: ResultRecord, source: bytes) -> bytes:
    """The Secondary Capture with the boxes burned in, drawn on the kept ``source`` upload."""
    from polypdet.clinical.sc import build_sc, plain_image_source
    from polypdet.io.dicom import DicomDecodeError, read_dicom_bytes

    try:
        if record.source == "dicom":
            image = read_dicom_bytes(source)
        else:
            image = plain_image_source(decode_image(source), record.id)
    except (DicomDecodeError, ImageDecodeError) as error:  # kept bytes were decoded once: only if libraries changed
        raise ApiError(409, "source_unavailable", f"the kept source no longer decodes: {error}") from None
    return dicom_bytes(build_sc(image, per_frame(record), record.model_version, result_id=record.id))


def fhir_json(record: ResultRecord) -> bytes:
    """The FHIR R4 Bundle (DiagnosticReport, an Observation per polyp, Device, ImagingStudy for DICOM)."""
    from polypdet.clinical.fhir import build_fhir_bundle

    frames = per_frame(record)
    processed_at = as_utc(record.created_at).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    result = DetectionResult(
        frames[0], record.model_version, record.image_width, record.image_height, record.inference_ms, processed_at
    )
    multi = frames if len(frames) > 1 else None
    bundle: dict[str, Any] = build_fhir_bundle(result, record.id, frames=multi, source=source_header(record))
    return json.dumps(bundle).encode()
