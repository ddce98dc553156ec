"""The Secondary Capture: the boxes are burned in, the study and the source are kept."""

from __future__ import annotations

import io

import numpy as np
import pydicom

from dicom_samples import multi_frame, rgb_native, to_bytes
from polypdet.clinical.sc import build_sc, plain_image_source
from polypdet.clinical.sr import build_sr, read_polyps
from polypdet.detections import Detections
from polypdet.io.dicom import read_dicom_bytes


def _decoded(sc: pydicom.Dataset) -> tuple[pydicom.Dataset, np.ndarray]:
    buffer = io.BytesIO()
    sc.save_as(buffer, enforce_file_format=True)
    image = read_dicom_bytes(buffer.getvalue())
    return image.dataset, image.frames[0]


def test_boxes_are_burned_in_and_the_rest_is_the_source(polyp_image: np.ndarray) -> None:
    source = read_dicom_bytes(to_bytes(rgb_native(polyp_image)))
    dets = Detections(xyxy=[[100, 100, 300, 250]], confidence=[0.9])
    header, pixels = _decoded(build_sc(source, dets, "v1"))
    changed = np.any(pixels != polyp_image, axis=2)
    assert changed[100, 150:250].all()  # the top edge of the box
    assert not changed[400:, :].any() and not changed[150:200, 150:250].any()  # away from the box and label
    assert header.BurnedInAnnotation == "YES" and header.Modality == "OT"
    assert header.StudyInstanceUID == source.study_instance_uid and header.PatientID == source.dataset.PatientID
    assert header.SourceImageSequence[0].ReferencedSOPInstanceUID == source.sop_instance_uid


def test_multi_frame_takes_the_frame_with_the_most_confident_polyp(polyp_image: np.ndarray) -> None:
    flipped = np.ascontiguousarray(polyp_image[:, ::-1])
    source = read_dicom_bytes(to_bytes(multi_frame([polyp_image, flipped])))
    frames = [
        Detections(xyxy=[[1, 1, 20, 20]], confidence=[0.3]),
        Detections(xyxy=[[50, 50, 90, 90]], confidence=[0.8]),
    ]
    header, pixels = _decoded(build_sc(source, frames, "v1"))
    assert header.SourceImageSequence[0].ReferencedFrameNumber == 2
    assert np.array_equal(pixels[300:], flipped[300:])


def test_plain_image_sc_is_what_its_sr_refers_to(polyp_image: np.ndarray) -> None:
    dets = Detections(xyxy=[[10, 10, 60, 60]], confidence=[0.6])
    source = plain_image_source(polyp_image, "result-9")
    sc = build_sc(source, dets, "v1", result_id="result-9")
    sr = build_sr(None, dets, "v1", result_id="result-9", image_size=(polyp_image.shape[1], polyp_image.shape[0]))
    assert sc.SourceImageSequence[0].ReferencedSOPInstanceUID == read_polyps(sr)[0].referenced_sop_instance_uid
    assert sc.StudyInstanceUID == sr.StudyInstanceUID
