"""DICOM Comprehensive SR (TID 1500 Measurement Report) of the polyps found in one source instance.

Each polyp is one TID 1410 planar ROI group: a closed polyline (the box) on the referenced frame, a tracking
identifier and UID, the finding "Polyp of colon" in the colon, the algorithm's name and version and its
confidence as "Certainty of Finding" in percent. SCOORD pixel coordinates have their origin at the top-left
corner of the top-left pixel, the same convention as :class:`~polypdet.detections.Detections`, so boxes map
over unchanged.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import highdicom as hd
import numpy as np
from pydicom import Dataset
from pydicom.sr.codedict import codes
from pydicom.sr.coding import Code

from polypdet.clinical.source import ALGORITHM_NAME, MANUFACTURER, derived_uid, plain_image_header
from polypdet.detections import Detection, Detections
from polypdet.io.dicom import DicomImage

COLONOSCOPY = Code("73761001", "SCT", "Colonoscopy")
POLYP_OF_COLON: Code = codes.SCT.PolypOfColon
COLON: Code = codes.SCT.Colon
CERTAINTY_OF_FINDING: Code = codes.DCM.CertaintyOfFinding
ABSENT: Code = codes.SCT.Absent
PERCENT = Code("%", "UCUM", "Percent")
SR_SERIES_NUMBER = 900
SR_SERIES_DESCRIPTION = "polypdet polyp detections (AI, unverified)"


def build_sr(
    source: DicomImage | Dataset | None,
    frames: Sequence[Detections] | Detections,
    model_version: str,
    *,
    result_id: str | None = None,
    image_size: tuple[int, int] | None = None,
) -> hd.sr.ComprehensiveSR:
    """The SR for ``frames`` (one ``Detections`` per source frame, in frame order) found in ``source``.

    ``source`` is the decoded instance or its header; ``None`` means a plain image upload, for which
    ``result_id`` and ``image_size`` (width, height) are required and a Secondary Capture stand-in is
    referenced (see :func:`polypdet.clinical.source.plain_image_header`).
    """
    header = _source_header(source, result_id, image_size)
    per_frame = [frames] if isinstance(frames, Detections) else list(frames)
    seed = result_id or str(header.SOPInstanceUID)
    algorithm = hd.sr.AlgorithmIdentification(name=ALGORITHM_NAME, version=model_version)
    multi_frame = int(header.get("NumberOfFrames") or 1) > 1
    groups: list[hd.sr.PlanarROIMeasurementsAndQualitativeEvaluations | hd.sr.MeasurementsAndQualitativeEvaluations]
    groups = [
        _polyp_group(header, detection, frame_index + 1 if multi_frame else None, seed, number, algorithm)
        for frame_index, detections in enumerate(per_frame)
        for number, detection in enumerate(detections, start=1)
    ]
    if not groups:  # a negative finding is a result too: say the algorithm ran and found no polyp
        groups = [_no_polyp_group(header, seed, algorithm)]
    device = hd.sr.DeviceObserverIdentifyingAttributes(
        uid=derived_uid(ALGORITHM_NAME, model_version), name=ALGORITHM_NAME, model_name=model_version
    )
    context = hd.sr.ObservationContext(
        observer_device_context=hd.sr.ObserverContext(
            observer_type=codes.DCM.Device, observer_identifying_attributes=device
        )
    )
    report = hd.sr.MeasurementReport(
        observation_context=context,
        procedure_reported=COLONOSCOPY,
        imaging_measurements=groups,
    )
    sr = hd.sr.ComprehensiveSR(
        evidence=[header],
        content=report,
        series_instance_uid=derived_uid(str(header.SeriesInstanceUID), "sr-series"),
        series_number=SR_SERIES_NUMBER,
        sop_instance_uid=derived_uid(seed, model_version, "sr"),
        instance_number=int(header.get("InstanceNumber") or 1),
        manufacturer=MANUFACTURER,
        is_complete=True,
        series_description=SR_SERIES_DESCRIPTION,
    )
    return sr


def _source_header(
    source: DicomImage | Dataset | None, result_id: str | None, image_size: tuple[int, int] | None
) -> Dataset:
    if isinstance(source, DicomImage):
        return source.dataset
    if source is not None:
        return source
    if result_id is None or image_size is None:
        raise ValueError("a plain image source needs result_id and image_size")
    return plain_image_header(image_size[0], image_size[1], result_id)


def _polyp_group(
    header: Dataset,
    detection: Detection,
    frame_number: int | None,
    seed: str,
    number: int,
    algorithm: hd.sr.AlgorithmIdentification,
) -> hd.sr.PlanarROIMeasurementsAndQualitativeEvaluations:
    if detection.track_id is not None:  # the same polyp across the frames of a video keeps its UID
        label, uid = f"Polyp {detection.track_id}", derived_uid(seed, "track", str(detection.track_id))
    else:
        label = f"Polyp {number}" if frame_number is None else f"Polyp {number} (frame {frame_number})"
        uid = derived_uid(seed, "polyp", str(frame_number or 1), str(number))
    region = hd.sr.ImageRegion(
        graphic_type=hd.sr.GraphicTypeValues.POLYLINE,
        graphic_data=box_polyline(detection.bbox),
        source_image=hd.sr.SourceImageForRegion(
            referenced_sop_class_uid=str(header.SOPClassUID),
            referenced_sop_instance_uid=str(header.SOPInstanceUID),
            referenced_frame_numbers=None if frame_number is None else [frame_number],
        ),
    )
    confidence = hd.sr.Measurement(
        name=CERTAINTY_OF_FINDING,
        value=round(detection.confidence * 100.0, 2),
        unit=PERCENT,
        algorithm_id=algorithm,
    )
    return hd.sr.PlanarROIMeasurementsAndQualitativeEvaluations(
        tracking_identifier=hd.sr.TrackingIdentifier(uid=uid, identifier=label),
        referenced_region=region,
        finding_type=POLYP_OF_COLON,
        algorithm_id=algorithm,
        finding_sites=[hd.sr.FindingSite(anatomic_location=COLON)],
        measurements=[confidence],
    )


def _no_polyp_group(
    header: Dataset, seed: str, algorithm: hd.sr.AlgorithmIdentification
) -> hd.sr.MeasurementsAndQualitativeEvaluations:
    source = hd.sr.SourceImageForMeasurementGroup(
        referenced_sop_class_uid=str(header.SOPClassUID), referenced_sop_instance_uid=str(header.SOPInstanceUID)
    )
    return hd.sr.MeasurementsAndQualitativeEvaluations(
        tracking_identifier=hd.sr.TrackingIdentifier(uid=derived_uid(seed, "no-polyp"), identifier="Whole image"),
        algorithm_id=algorithm,
        finding_sites=[hd.sr.FindingSite(anatomic_location=COLON)],
        qualitative_evaluations=[hd.sr.QualitativeEvaluation(name=POLYP_OF_COLON, value=ABSENT)],
        source_images=[source],
    )


def box_polyline(bbox: tuple[float, float, float, float]) -> np.ndarray:
    """A box as a closed polyline of (column, row) points: five points, the last equal to the first."""
    x1, y1, x2, y2 = bbox
    return np.array([[x1, y1], [x2, y1], [x2, y2], [x1, y2], [x1, y1]], dtype=np.float32)


@dataclass(frozen=True)
class ReportedPolyp:
    """One polyp read back from an SR."""

    tracking_uid: str
    tracking_identifier: str
    bbox: tuple[float, float, float, float]
    confidence: float
    referenced_sop_instance_uid: str
    referenced_frame_numbers: tuple[int, ...]


def read_polyps(sr: Dataset) -> list[ReportedPolyp]:
    """Parse a polypdet SR back into its polyps (boxes from the polylines, confidence as 0..1)."""
    parsed = hd.sr.ComprehensiveSR.from_dataset(sr, copy=True)
    polyps = []
    report: hd.sr.MeasurementReport = parsed.content  # type: ignore[assignment]
    for group in report.get_planar_roi_measurement_groups():
        region = group.roi
        if region is None:  # a group outlined by a segmentation, not a polyline: not polypdet's
            continue
        points = np.asarray(region.value, dtype=np.float64)
        (x1, y1), (x2, y2) = points.min(axis=0), points.max(axis=0)
        certainty = group.get_measurements(name=CERTAINTY_OF_FINDING)
        reference = region.ContentSequence[0].ReferencedSOPSequence[0]
        frames = np.atleast_1d(reference.get("ReferencedFrameNumber", [])).tolist()
        polyps.append(
            ReportedPolyp(
                tracking_uid=str(group.tracking_uid),
                tracking_identifier=str(group.tracking_identifier),
                bbox=(float(x1), float(y1), float(x2), float(y2)),
                confidence=float(certainty[0].value) / 100.0 if certainty else float("nan"),
                referenced_sop_instance_uid=str(reference.ReferencedSOPInstanceUID),
                referenced_frame_numbers=tuple(int(f) for f in frames),
            )
        )
    return polyps
