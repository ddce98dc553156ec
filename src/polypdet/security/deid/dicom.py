"""De-identify DICOM datasets by the PS3.15 Annex E Basic Application Level Confidentiality Profile.

Every attribute at every nesting level gets its Table E.1-1 action; private attributes are removed. Keyed
replacements instead of random ones: UIDs map through HMAC (consistent within a study and across runs with the
same key), patient ID and name become the patient's pseudonym, and with ``shift_dates`` every date of a patient
moves by the same keyed number of days (Retain Longitudinal Temporal Information with Modified Dates Option).
Pixel data is not touched: burned-in text is reported, not removed.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from pydicom import Dataset, Sequence
from pydicom.dataelem import DataElement

from polypdet.security.deid.profile import TABLE_VERSION, Action, BasicProfile, basic_profile
from polypdet.security.deid.pseudonym import Pseudonymizer

PATIENT_ID = 0x00100020
PATIENT_NAME = 0x00100010
ISSUER_OF_PATIENT_ID = 0x00100021
TEXT_VRS = frozenset({"AE", "CS", "LO", "LT", "PN", "SH", "ST", "UC", "UT"})
NUMBER_VRS = frozenset({"FD", "FL", "SL", "SS", "SV", "UL", "US", "UV", "AT"})
BYTES_VRS = frozenset({"OB", "OD", "OF", "OL", "OV", "OW", "UN"})
DUMMY = {"DA": "19000101", "TM": "000000", "DT": "19000101000000", "AS": "000Y", "DS": "0", "IS": "0"}
DUMMY_TEXT = "ANONYMIZED"
# Inside a sequence the profile replaces (D), coded strings and numbers keep the structure readable and name nobody.
KEPT_IN_REPLACED_SEQUENCES = NUMBER_VRS | {"SQ", "CS"}
DUMMY_URL = "https://anonymized.invalid"


@dataclass
class DeidReport:
    removed: int = 0
    emptied: int = 0
    replaced: int = 0
    uids: int = 0
    dates_shifted: int = 0
    warnings: list[str] = field(default_factory=list)


def shift_date(value: str, days: int) -> str:
    """``YYYYMMDD`` moved by ``days``; anything unparsable becomes empty rather than staying."""
    try:
        moved = dt.datetime.strptime(value.strip()[:8], "%Y%m%d").date() + dt.timedelta(days=days)
    except ValueError:
        return ""
    return moved.strftime("%Y%m%d")


def shift_datetime(value: str, days: int) -> str:
    """A DT value with its date part moved; the time and offset stay. Partial dates cannot move: emptied."""
    value = value.strip()
    date = shift_date(value, days) if len(value) >= 8 else ""
    return date + value[8:] if date else ""


def _map_values(element: DataElement, change: Callable[[str], str]) -> None:
    values = element.value if element.VM > 1 else [element.value]
    changed = [change(str(v)) for v in values if v not in (None, "")]
    element.value = changed if len(changed) > 1 else (changed[0] if changed else "")


class DicomDeidentifier:
    """One de-identifier per batch; keyed, so separate runs with the same key agree on every replacement."""

    def __init__(self, pseudonyms: Pseudonymizer, shift_dates: bool = False, profile: BasicProfile | None = None):
        self.pseudonyms = pseudonyms
        self.shift_dates = shift_dates
        self.profile = profile or basic_profile()

    def deidentify(self, dataset: Dataset) -> DeidReport:
        """De-identify ``dataset`` in place (file meta included)."""
        report = DeidReport()
        patient_id, issuer = str(dataset.get("PatientID", "") or ""), str(dataset.get("IssuerOfPatientID", "") or "")
        study = str(dataset.get("StudyInstanceUID", ""))
        pseudonym = self.pseudonyms.patient_id(patient_id, issuer) if patient_id else None
        pseudonym = pseudonym or "ANON-S" + self.pseudonyms.token("study", study)
        shift = self.pseudonyms.date_shift_days(f"{issuer}\0{patient_id or study}") if self.shift_dates else 0
        if str(dataset.get("BurnedInAnnotation", "")).upper() == "YES":
            report.warnings.append("BurnedInAnnotation is YES: text in the pixels is not removed")
        self._clean(dataset, report, pseudonym, shift, dummy=False)
        meta = getattr(dataset, "file_meta", None)
        if meta is not None and "MediaStorageSOPInstanceUID" in meta:
            meta.MediaStorageSOPInstanceUID = self.pseudonyms.uid(str(meta.MediaStorageSOPInstanceUID))
        self._mark(dataset)
        return report

    def _clean(self, dataset: Dataset, report: DeidReport, pseudonym: str, shift: int, dummy: bool) -> None:
        for element in list(dataset):
            tag = element.tag
            if tag.is_private:
                del dataset[tag]
                report.removed += 1
                continue
            if tag in (PATIENT_ID, PATIENT_NAME):  # a name is the family-name component alone: "ANON-...^"
                element.value = pseudonym if tag == PATIENT_ID else f"{pseudonym}^"
                report.replaced += 1
                continue
            action = self.profile.action_for(tag)
            if self.shift_dates and element.VR in ("DA", "DT"):
                shifter = shift_date if element.VR == "DA" else shift_datetime
                _map_values(element, lambda v, move=shifter: move(v, shift))  # type: ignore[misc]
                report.dates_shifted += 1
            elif self.shift_dates and element.VR == "TM":
                pass  # the option keeps times: without their true dates they identify nobody
            elif action is Action.REMOVE:
                del dataset[tag]
                report.removed += 1
                continue
            elif action is Action.EMPTY:
                self._empty(element)
                report.emptied += 1
            elif action is Action.REPLACE_UID or (element.VR == "UI" and dummy):
                _map_values(element, self.pseudonyms.uid)
                report.uids += 1
            elif action is Action.DUMMY or (dummy and element.VR not in KEPT_IN_REPLACED_SEQUENCES):
                self._dummy(element)
                report.replaced += 1
            if element.VR == "SQ" and tag in dataset:
                for item in element.value:
                    self._clean(item, report, pseudonym, shift, dummy or action is Action.DUMMY)

    def _empty(self, element: DataElement) -> None:
        if element.VR == "SQ":
            element.value = Sequence()
        elif element.VR in BYTES_VRS:
            element.value = b""
        elif element.VR in NUMBER_VRS:
            element.value = None
        else:
            element.value = ""

    def _dummy(self, element: DataElement) -> None:
        vr = element.VR
        value: Any
        if vr == "SQ":
            return  # a replaced sequence keeps its items; their values are replaced one by one
        if vr == "UI":
            _map_values(element, self.pseudonyms.uid)
            return
        if vr in TEXT_VRS:
            value = DUMMY_TEXT
        elif vr in DUMMY:
            value = DUMMY[vr]
        elif vr == "UR":
            value = DUMMY_URL
        elif vr in NUMBER_VRS:
            value = 0
        else:
            value = b"\x00\x00"
        element.value = value

    def _mark(self, dataset: Dataset) -> None:
        dataset.PatientIdentityRemoved = "YES"
        methods = [f"PS3.15 E.1-1 Basic Profile {TABLE_VERSION}", "polypdet HMAC-SHA256 pseudonyms"]
        codes = [("113100", "Basic Application Confidentiality Profile")]
        if self.shift_dates:
            methods.append("dates shifted per patient")
            codes.append(("113107", "Retain Longitudinal Temporal Information Modified Dates Option"))
        dataset.DeidentificationMethod = methods
        dataset.DeidentificationMethodCodeSequence = Sequence([_code(value, meaning) for value, meaning in codes])
        dataset.LongitudinalTemporalInformationModified = "MODIFIED" if self.shift_dates else "REMOVED"


def _code(value: str, meaning: str) -> Dataset:
    item = Dataset()
    item.CodeValue, item.CodingSchemeDesignator, item.CodeMeaning = value, "DCM", meaning
    return item
