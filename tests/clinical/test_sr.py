"""The TID 1500 SR: parsed back with pydicom/highdicom, its content tree, coordinates and references hold."""

from __future__ import annotations

import io

import highdicom as hd
import numpy as np
import pydicom
import pytest
from pydicom.sr.codedict import codes

from dicom_samples import multi_frame, rgb_native, to_bytes, ybr_jpeg_baseline
from polypdet.clinical.sr import COLONOSCOPY, POLYP_OF_COLON, build_sr, read_polyps
from polypdet.detections import Detections
from polypdet.io.dicom import DicomImage, read_dicom_bytes


def _round_trip(sr: pydicom.Dataset) -> pydicom.Dataset:
    buffer = io.BytesIO()
    sr.save_as(buffer, enforce_file_format=True)
    return pydicom.dcmread(io.BytesIO(buffer.getvalue()))


def _walk(items):  # type: ignore[no-untyped-def]
    for item in items:
        yield item
        yield from _walk(item.get("ContentSequence", []))


@pytest.fixture()
def source(polyp_image: np.ndarray) -> DicomImage:
    return read_dicom_bytes(to_bytes(ybr_jpeg_baseline(polyp_image)))


def test_model_boxes_survive_the_round_trip(detector, source: DicomImage) -> None:  # type: ignore[no-untyped-def]
    detections = detector.detect(source.frames[0])
    assert len(detections) >= 1
    sr = _round_trip(build_sr(source, detections, detector.model_version))
    polyps = read_polyps(sr)
    assert len(polyps) == len(detections)
    for polyp, expected in zip(polyps, detections, strict=True):
        np.testing.assert_allclose(polyp.bbox, expected.bbox, atol=1e-2)
        assert polyp.confidence == pytest.approx(expected.confidence, abs=1e-4)
        assert polyp.referenced_sop_instance_uid == source.sop_instance_uid
        assert polyp.referenced_frame_numbers == ()  # single-frame source: no frame numbers


def test_content_tree_follows_tid_1500(source: DicomImage) -> None:
    dets = Detections(xyxy=[[10, 20, 110, 220.5]], confidence=[0.8])
    sr = hd.sr.ComprehensiveSR.from_dataset(_round_trip(build_sr(source, dets, "polyp-yolov8n@abc")))
    assert sr.SOPClassUID == "1.2.840.10008.5.1.4.1.1.88.33"  # Comprehensive SR
    assert sr.ContentTemplateSequence[0].TemplateIdentifier == "1500"
    report = sr.content
    assert report[0].ConceptNameCodeSequence[0].CodeValue == codes.DCM.ImagingMeasurementReport.value
    procedure = [i for i in report[0].ContentSequence if i.ConceptNameCodeSequence[0].CodeValue == "121058"]
    assert procedure[0].ConceptCodeSequence[0].CodeValue == COLONOSCOPY.value
    (group,) = report.get_planar_roi_measurement_groups()
    assert group.finding_type.value == POLYP_OF_COLON.value
    assert group.tracking_identifier == "Polyp 1" and group.tracking_uid
    assert group.roi.graphic_type == hd.sr.GraphicTypeValues.POLYLINE
    points = np.asarray(group.roi.value)
    assert points.shape == (5, 2) and np.array_equal(points[0], points[-1])  # closed
    np.testing.assert_allclose(points[:4], [[10, 20], [110, 20], [110, 220.5], [10, 220.5]])
    texts = {i.ConceptNameCodeSequence[0].CodeValue: i.get("TextValue") for i in _walk(group)}
    assert texts[codes.DCM.AlgorithmName.value] == "polypdet"
    assert texts[codes.DCM.AlgorithmVersion.value] == "polyp-yolov8n@abc"


def test_patient_and_study_come_from_the_source(source: DicomImage) -> None:
    sr = _round_trip(build_sr(source, Detections(xyxy=[[1, 2, 30, 40]], confidence=[0.5]), "v1"))
    for keyword in (
        "PatientName",
        "PatientID",
        "PatientBirthDate",
        "PatientSex",
        "StudyInstanceUID",
        "AccessionNumber",
    ):
        assert sr.get(keyword) == source.dataset.get(keyword), keyword
    assert sr.SeriesInstanceUID != source.series_instance_uid and sr.Modality == "SR"
    evidence = sr.CurrentRequestedProcedureEvidenceSequence[0].ReferencedSeriesSequence[0]
    assert evidence.ReferencedSOPSequence[0].ReferencedSOPInstanceUID == source.sop_instance_uid


def test_multi_frame_boxes_reference_their_frame(polyp_image: np.ndarray) -> None:
    source = read_dicom_bytes(to_bytes(multi_frame([polyp_image] * 3)))
    frames = [
        Detections(xyxy=[[1, 1, 10, 10]], confidence=[0.9]),
        Detections.empty(),
        Detections(xyxy=[[5, 6, 50, 60], [100, 100, 200, 200]], confidence=[0.7, 0.4]),
    ]
    polyps = read_polyps(_round_trip(build_sr(source, frames, "v1")))
    assert [p.referenced_frame_numbers for p in polyps] == [(1,), (3,), (3,)]
    assert polyps[2].bbox == (100.0, 100.0, 200.0, 200.0)
    assert len({p.tracking_uid for p in polyps}) == 3


def test_tracked_polyp_keeps_one_uid_across_frames(polyp_image: np.ndarray) -> None:
    source = read_dicom_bytes(to_bytes(multi_frame([polyp_image] * 2)))
    track = [Detections(xyxy=[[1, 1, 10, 10]], confidence=[0.9], tracker_id=[7]) for _ in range(2)]
    polyps = read_polyps(_round_trip(build_sr(source, track, "v1")))
    assert polyps[0].tracking_uid == polyps[1].tracking_uid and polyps[0].tracking_identifier == "Polyp 7"


def test_no_polyp_is_reported_as_a_negative_finding(polyp_image: np.ndarray) -> None:
    source = read_dicom_bytes(to_bytes(rgb_native(polyp_image)))
    sr = hd.sr.ComprehensiveSR.from_dataset(_round_trip(build_sr(source, Detections.empty(), "v1")))
    assert sr.content.get_planar_roi_measurement_groups() == []
    (group,) = sr.content.get_image_measurement_groups()
    (evaluation,) = group.get_qualitative_evaluations()
    assert evaluation.name.value == POLYP_OF_COLON.value and evaluation.value.value == codes.SCT.Absent.value


def test_plain_image_sr_is_deterministic_and_needs_its_size() -> None:
    dets = Detections(xyxy=[[1, 2, 3, 4]], confidence=[0.5])
    first = build_sr(None, dets, "v1", result_id="r-1", image_size=(640, 480))
    again = build_sr(None, dets, "v1", result_id="r-1", image_size=(640, 480))
    assert first.SOPInstanceUID == again.SOPInstanceUID and first.StudyInstanceUID == again.StudyInstanceUID
    assert read_polyps(first)[0].referenced_sop_instance_uid == read_polyps(again)[0].referenced_sop_instance_uid
    assert build_sr(None, dets, "v1", result_id="r-2", image_size=(640, 480)).SOPInstanceUID != first.SOPInstanceUID
    with pytest.raises(ValueError, match="result_id and image_size"):
        build_sr(None, dets, "v1")
