"""De-identification on ingestion: the listener de-identifies each instance before detection, the outbox and the SR."""

from __future__ import annotations

import argparse
import io
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
import pydicom
import pytest

from dicom_samples import rgb_native, to_bytes
from polypdet.cli.pacs import ingestion_deidentifier
from polypdet.clinical.pacs.listener import STATUS_CANNOT_PARSE, STATUS_SUCCESS, ListenerConfig, PacsListener
from polypdet.clinical.pacs.outbox import Outbox
from polypdet.clinical.sr import read_polyps
from polypdet.config import Settings
from polypdet.detections import Detections
from polypdet.security.crypto import Envelope
from polypdet.security.deid import DicomDeidentifier, Pseudonymizer
from polypdet.security.keys import LocalKeyProvider

KEY = b"a pseudonym key for the listener tests, 32+ bytes"
IDENTIFYING = (b"Doe^Jane", b"PDT-0001", b"ACC42", b"Who^Doctor", b"19600101", b"20260115")


class RecordingDetector:
    """One box per frame; notes which patient the received instance named when detection ran."""

    model_version = "stub-1"

    def __init__(self, received: list[pydicom.Dataset]) -> None:
        self.received = received
        self.patients_at_detection: list[str] = []

    def detect_batch(self, frames: list[np.ndarray], params: Any) -> list[Detections]:
        self.patients_at_detection.append(str(self.received[-1].PatientID))
        return [Detections(xyxy=[[2, 3, 20, 24]], confidence=[0.9]) for _ in frames]


def _study() -> list[pydicom.Dataset]:
    """Two instances of one study and series, as C-STORE hands them to the listener (parsed from bytes)."""
    first, second = (rgb_native(np.full((32, 48, 3), seed, np.uint8)) for seed in (40, 80))
    second.StudyInstanceUID, second.SeriesInstanceUID, second.InstanceNumber = (
        first.StudyInstanceUID,
        first.SeriesInstanceUID,
        2,
    )
    return [pydicom.dcmread(io.BytesIO(to_bytes(ds))) for ds in (first, second)]


def _receive(
    instances: list[pydicom.Dataset], tmp_path: Path, deidentifier: Any, send_sc: bool = False
) -> tuple[list[int], Outbox, RecordingDetector]:
    received: list[pydicom.Dataset] = []
    detector = RecordingDetector(received)
    outbox = Outbox(tmp_path / "outbox", Envelope(LocalKeyProvider.generate()))
    listener = PacsListener(ListenerConfig(send_sc=send_sc), detector, outbox, deidentifier)  # type: ignore[arg-type]
    statuses = []
    for dataset in instances:
        received.append(dataset)
        event = SimpleNamespace(
            dataset=dataset,
            file_meta=dataset.file_meta,
            assoc=SimpleNamespace(requestor=SimpleNamespace(ae_title="STORESCU")),
        )
        statuses.append(listener.handle_store(event))  # type: ignore[arg-type]
    return statuses, outbox, detector


def _plain_bytes(dataset: pydicom.Dataset) -> bytes:
    buffer = io.BytesIO()
    dataset.save_as(buffer, enforce_file_format=True)
    return buffer.getvalue()


def test_instances_are_deidentified_before_detection_and_the_sr_refers_to_the_deidentified_study(
    tmp_path: Path,
) -> None:
    instances = _study()
    original = [(str(ds.StudyInstanceUID), str(ds.SeriesInstanceUID), str(ds.SOPInstanceUID)) for ds in instances]
    pseudonyms = Pseudonymizer(KEY)
    statuses, outbox, detector = _receive(instances, tmp_path, DicomDeidentifier(pseudonyms), send_sc=True)
    assert statuses == [STATUS_SUCCESS, STATUS_SUCCESS]
    pseudonym = pseudonyms.patient_id("PDT-0001")
    assert detector.patients_at_detection == [pseudonym, pseudonym]  # de-identified before the detector ran

    objects = [outbox.read(path) for path in outbox.pending()]
    srs = [ds for ds in objects if ds.Modality == "SR"]
    scs = [ds for ds in objects if ds.Modality == "OT"]
    assert len(srs) == len(scs) == 2
    study, series = pseudonyms.uid(original[0][0]), pseudonyms.uid(original[0][1])
    assert study != original[0][0] and series != original[0][1]
    for number, sr in enumerate(srs):
        assert sr.PatientName.family_name == sr.PatientID == pseudonym
        assert sr.PatientIdentityRemoved == "YES"
        assert sr.DeidentificationMethodCodeSequence[0].CodeValue == "113100"  # Basic Application Confidentiality
        assert sr.StudyInstanceUID == study  # both instances, one study: remapped the same way
        evidence = sr.CurrentRequestedProcedureEvidenceSequence[0]
        assert evidence.StudyInstanceUID == study and evidence.ReferencedSeriesSequence[0].SeriesInstanceUID == series
        referenced = evidence.ReferencedSeriesSequence[0].ReferencedSOPSequence[0].ReferencedSOPInstanceUID
        assert referenced == pseudonyms.uid(original[number][2]) == read_polyps(sr)[0].referenced_sop_instance_uid
    for sc in scs:
        assert (sc.PatientID, sc.StudyInstanceUID, sc.PatientIdentityRemoved) == (pseudonym, study, "YES")
    for sent in objects:  # nothing identifying is left in what goes to the PACS
        raw = _plain_bytes(sent)
        for value in (*IDENTIFYING, *(uid.encode() for uids in original for uid in uids)):
            assert value not in raw, (sent.Modality, value)


def test_without_a_deidentifier_the_sr_names_the_patient(tmp_path: Path) -> None:
    statuses, outbox, detector = _receive(_study()[:1], tmp_path, None)
    assert statuses == [STATUS_SUCCESS] and detector.patients_at_detection == ["PDT-0001"]
    sr = outbox.read(outbox.pending()[0])
    assert sr.PatientID == "PDT-0001" and "PatientIdentityRemoved" not in sr


def test_an_instance_that_cannot_be_deidentified_is_refused_and_not_analysed(tmp_path: Path) -> None:
    class Failing:
        def deidentify(self, dataset: pydicom.Dataset) -> None:
            raise ValueError(f"bad value {dataset.PatientName}")

    statuses, outbox, detector = _receive(_study()[:1], tmp_path, Failing())
    (status,) = statuses
    assert isinstance(status, pydicom.Dataset) and status.Status == STATUS_CANNOT_PARSE
    assert "Doe" not in status.ErrorComment  # the reason names no patient
    assert detector.patients_at_detection == [] and outbox.pending() == []


@pytest.mark.parametrize(
    ("flag", "setting", "expected"), [(None, False, False), (True, False, True), (None, True, True)]
)
def test_deidentify_flag_or_setting(flag: bool | None, setting: bool, expected: bool, tmp_path: Path) -> None:
    settings = Settings(polypdet_home=tmp_path, pacs_deidentify=setting, pseudonym_key=KEY.decode())
    deidentifier = ingestion_deidentifier(argparse.Namespace(deidentify=flag), settings)
    assert (deidentifier is not None) == expected
    if deidentifier is not None:  # keyed by the configured pseudonym key
        assert deidentifier.pseudonyms.patient_id("X") == Pseudonymizer(KEY).patient_id("X")
