"""DICOM de-identification checked tag by tag against PS3.15 Table E.1-1 (Basic Profile)."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pydicom
import pytest
from pydicom import Dataset
from pydicom.dataset import FileMetaDataset
from pydicom.uid import ExplicitVRLittleEndian, VLEndoscopicImageStorage, generate_uid

from polypdet.security.deid import DicomDeidentifier, Pseudonymizer
from polypdet.security.deid.dicom import shift_date, shift_datetime

KEY = b"a-pseudonym-key-of-32-bytes-or-more!"
PHI = [
    "Doe^Jane", "PDT-0001", "General Hospital", "19600101", "1 Main Street", "555-0100", "OLD-77", "ACC42",
    "Colonoscopy for Jane", "Who^Doctor", "Cutter^Carl", "Nurse^Nina", "Hospital Road 5", "ENDO-ROOM-3", "SN123",
    "ACME secret", "lives alone", "RP-991", "Jane has a polyp", "066Y", "20260115",
]  # fmt: skip


def endoscopy_instance(study: str, series: str, instance: str, referenced: str) -> Dataset:
    ds = Dataset()
    ds.file_meta = FileMetaDataset()
    ds.file_meta.MediaStorageSOPClassUID = VLEndoscopicImageStorage
    ds.file_meta.MediaStorageSOPInstanceUID = instance
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.SOPClassUID, ds.SOPInstanceUID = VLEndoscopicImageStorage, instance
    ds.StudyInstanceUID, ds.SeriesInstanceUID, ds.FrameOfReferenceUID = study, series, generate_uid()
    ds.PatientName, ds.PatientID, ds.IssuerOfPatientID = "Doe^Jane", "PDT-0001", "General Hospital"
    ds.PatientBirthDate, ds.PatientSex, ds.PatientAge = "19600101", "F", "066Y"
    ds.PatientAddress, ds.PatientTelephoneNumbers, ds.OtherPatientIDs = "1 Main Street", "555-0100", "OLD-77"
    ds.AdditionalPatientHistory = "lives alone"
    ds.StudyDate = ds.AcquisitionDate = ds.ContentDate = ds.SeriesDate = "20260115"
    ds.StudyTime, ds.AcquisitionDateTime = "093000", "20260115093000.000000"
    ds.AccessionNumber, ds.StudyID, ds.StudyDescription = "ACC42", "S1", "Colonoscopy for Jane"
    ds.ReferringPhysicianName, ds.PerformingPhysicianName, ds.OperatorsName = "Who^Doctor", "Cutter^Carl", "Nurse^Nina"
    ds.InstitutionName, ds.InstitutionAddress = "General Hospital", "Hospital Road 5"
    ds.StationName, ds.DeviceSerialNumber = "ENDO-ROOM-3", "SN123"
    ds.Manufacturer, ds.Modality, ds.BodyPartExamined, ds.BurnedInAnnotation = "Olympus", "ES", "COLON", "NO"
    reference = Dataset()
    reference.ReferencedSOPClassUID, reference.ReferencedSOPInstanceUID = VLEndoscopicImageStorage, referenced
    ds.ReferencedImageSequence = [reference]
    request = Dataset()
    request.RequestedProcedureID = "RP-991"
    ds.RequestAttributesSequence = [request]
    note = Dataset()
    note.ValueType, note.TextValue, note.PersonName = "TEXT", "Jane has a polyp", "Doe^Jane"
    ds.ContentSequence = [note]
    block = ds.private_block(0x0009, "ACME", create=True)
    block.add_new(0x01, "LO", "ACME secret")
    ds.add_new(0x60003000, "OW", b"\x01\x00" * 8)  # overlay bits: may draw names
    ds.add_new(0x60000010, "US", 4)
    ds.Rows = ds.Columns = 4
    ds.SamplesPerPixel, ds.PhotometricInterpretation, ds.PlanarConfiguration = 3, "RGB", 0
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 8, 8, 7, 0
    ds.PixelData = np.arange(48, dtype=np.uint8).tobytes()
    return ds


@pytest.fixture
def study() -> list[Dataset]:
    study, series = generate_uid(), generate_uid()
    first, second = generate_uid(), generate_uid()
    return [endoscopy_instance(study, series, first, second), endoscopy_instance(study, series, second, first)]


def deidentified(ds: Dataset, shift_dates: bool = False, key: bytes = KEY) -> Dataset:
    DicomDeidentifier(Pseudonymizer(key), shift_dates=shift_dates).deidentify(ds)
    buffer = io.BytesIO()
    ds.save_as(buffer, enforce_file_format=True)
    return pydicom.dcmread(io.BytesIO(buffer.getvalue()))


REMOVED = [
    "IssuerOfPatientID", "PatientAge", "PatientAddress", "PatientTelephoneNumbers", "OtherPatientIDs",
    "AdditionalPatientHistory", "StudyDescription", "PerformingPhysicianName", "InstitutionAddress",
    "RequestAttributesSequence",
]  # fmt: skip
EMPTIED = ["PatientBirthDate", "PatientSex", "StudyDate", "AcquisitionDate", "StudyTime", "AccessionNumber", "StudyID"]
EMPTIED += ["ReferringPhysicianName"]
DUMMIES = {
    "ContentDate": "19000101",
    "SeriesDate": "19000101",
    "AcquisitionDateTime": "19000101000000",
    "OperatorsName": "ANONYMIZED",
    "InstitutionName": "ANONYMIZED",
    "StationName": "ANONYMIZED",
    "DeviceSerialNumber": "ANONYMIZED",
}
KEPT = {
    "Manufacturer": "Olympus",
    "Modality": "ES",
    "BodyPartExamined": "COLON",
    "SOPClassUID": VLEndoscopicImageStorage,
}


def test_basic_profile_tag_by_tag(study: list[Dataset]) -> None:
    original = study[0]
    uids = {k: str(original[k].value) for k in ("SOPInstanceUID", "StudyInstanceUID", "SeriesInstanceUID")}
    pixels = original.PixelData
    out = deidentified(original)
    pseudonym = Pseudonymizer(KEY).patient_id("PDT-0001", "General Hospital")
    assert out.PatientID == pseudonym and str(out.PatientName) == f"{pseudonym}^"
    assert pseudonym.startswith("ANON-") and len(pseudonym) == 25
    for keyword in REMOVED:
        assert keyword not in out, keyword
    for keyword in EMPTIED:
        assert keyword in out and out[keyword].value in ("", None), keyword
    for keyword, value in DUMMIES.items():
        assert out[keyword].value == value, keyword
    for keyword, value in KEPT.items():
        assert out[keyword].value == value, keyword
    for keyword, old in uids.items():
        new = str(out[keyword].value)
        assert new != old and new.startswith("2.25.") and len(new) <= 64, keyword
        assert new == Pseudonymizer(KEY).uid(old)
    assert out.file_meta.MediaStorageSOPInstanceUID == out.SOPInstanceUID
    assert all(not element.tag.is_private for element in out)
    assert 0x60003000 not in out and out[0x60000010].value == 4  # overlay bits removed, geometry kept
    note = out.ContentSequence[0]
    assert note.TextValue == "ANONYMIZED" and str(note.PersonName) == "ANONYMIZED" and note.ValueType == "TEXT"
    assert out.PixelData == pixels
    assert out.PatientIdentityRemoved == "YES"
    assert out.DeidentificationMethod[0] == "PS3.15 E.1-1 Basic Profile 2026c"
    assert [c.CodeValue for c in out.DeidentificationMethodCodeSequence] == ["113100"]
    assert out.LongitudinalTemporalInformationModified == "REMOVED"


def test_no_identifier_survives_anywhere_in_the_file(study: list[Dataset], tmp_path: Path) -> None:
    original = study[0]
    identifiers = [*PHI, str(original.StudyInstanceUID), str(original.SOPInstanceUID)]
    path = tmp_path / "out.dcm"
    DicomDeidentifier(Pseudonymizer(KEY)).deidentify(original)
    original.save_as(path, enforce_file_format=True)
    raw = path.read_bytes()
    assert [phi for phi in identifiers if phi.encode() in raw] == []


def test_uids_stay_consistent_within_a_study(study: list[Dataset]) -> None:
    first, second = (deidentified(ds) for ds in study)
    assert first.StudyInstanceUID == second.StudyInstanceUID
    assert first.SeriesInstanceUID == second.SeriesInstanceUID
    assert first.SOPInstanceUID != second.SOPInstanceUID
    # The references between the two instances still resolve after remapping.
    assert first.ReferencedImageSequence[0].ReferencedSOPInstanceUID == second.SOPInstanceUID
    assert second.ReferencedImageSequence[0].ReferencedSOPInstanceUID == first.SOPInstanceUID
    assert first.ReferencedImageSequence[0].ReferencedSOPClassUID == VLEndoscopicImageStorage


def test_pseudonyms_depend_on_the_key(study: list[Dataset]) -> None:
    one = deidentified(study[0], key=KEY)
    other = deidentified(study[1], key=KEY[::-1])
    assert one.PatientID != other.PatientID and one.StudyInstanceUID != other.StudyInstanceUID
    with pytest.raises(ValueError, match="32 bytes"):
        Pseudonymizer(b"secure_random_salt")


def test_date_shifting_keeps_intervals(study: list[Dataset]) -> None:
    out = deidentified(study[0], shift_dates=True)
    days = Pseudonymizer(KEY).date_shift_days("General Hospital\0PDT-0001")
    assert -3650 <= days <= -30
    assert out.StudyDate == shift_date("20260115", days) != "20260115"
    assert out.PatientBirthDate == shift_date("19600101", days)
    assert out.AcquisitionDateTime == shift_datetime("20260115093000.000000", days)
    assert out.AcquisitionDateTime.endswith("093000.000000")
    assert out.StudyTime == "093000"  # times stay with the option
    assert out.LongitudinalTemporalInformationModified == "MODIFIED"
    assert [c.CodeValue for c in out.DeidentificationMethodCodeSequence] == ["113100", "113107"]
    again = deidentified(study[1], shift_dates=True)
    assert again.StudyDate == out.StudyDate  # the same patient moves by the same amount


def test_burned_in_annotation_is_reported(study: list[Dataset]) -> None:
    study[0].BurnedInAnnotation = "YES"
    report = DicomDeidentifier(Pseudonymizer(KEY)).deidentify(study[0])
    assert any("BurnedInAnnotation" in w for w in report.warnings)


@pytest.mark.parametrize(
    ("value", "days", "expected"),
    [("20240301", -1, "20240229"), ("2024", -5, ""), ("garbage!", -5, "")],
)
def test_shift_date_edges(value: str, days: int, expected: str) -> None:
    assert shift_date(value, days) == expected
    assert shift_datetime(value, days) == (expected if len(value) >= 8 else "")
