"""The source an output refers to: a received DICOM instance, or a stand-in for a plain (JPEG/PNG) upload.

UIDs derived here are deterministic (hashes of the result id), so building the SR, SC and FHIR of one result
twice gives the same identifiers and the objects keep referring to each other.
"""

from __future__ import annotations

from datetime import UTC, datetime

from pydicom import Dataset
from pydicom.uid import SecondaryCaptureImageStorage, generate_uid

ALGORITHM_NAME = "polypdet"
MANUFACTURER = "polypdet"


def derived_uid(*parts: str) -> str:
    """A UID that is the same for the same ``parts`` (e.g. a result id and the object's role)."""
    return str(generate_uid(entropy_srcs=[ALGORITHM_NAME, *parts]))


def plain_image_header(width: int, height: int, result_id: str) -> Dataset:
    """Header of the Secondary Capture that stands for a plain uploaded image of ``result_id``.

    There is no patient for a plain upload: the patient module is left empty (type 2), as for an
    unidentified subject, and the study/series/instance UIDs derive from the result id.
    """
    ds = Dataset()
    ds.SOPClassUID = SecondaryCaptureImageStorage
    ds.SOPInstanceUID = derived_uid(result_id, "source-image")
    ds.StudyInstanceUID = derived_uid(result_id, "study")
    ds.SeriesInstanceUID = derived_uid(result_id, "source-series")
    ds.PatientName, ds.PatientID, ds.PatientBirthDate, ds.PatientSex = "", result_id[:64], "", ""
    now = datetime.now(UTC)
    ds.StudyDate, ds.StudyTime = now.strftime("%Y%m%d"), now.strftime("%H%M%S")
    ds.AccessionNumber, ds.StudyID, ds.ReferringPhysicianName = "", "", ""
    ds.Modality, ds.SeriesNumber, ds.InstanceNumber = "OT", 1, 1
    ds.Rows, ds.Columns = height, width
    return ds
