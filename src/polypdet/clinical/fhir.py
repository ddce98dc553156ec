"""FHIR R4 for the EMR: a Bundle with a DiagnosticReport and one Observation per polyp.

Resources are validated with ``fhir.resources`` (its R4B models: R4B is R4 with no changes to the resources
used here). Each Observation carries the polyp code, the confidence and the box as components, ``device``
the model and ``derivedFrom`` the imaging study (a DICOM source gives an ImagingStudy with its series and
instance UIDs). Ids are UUIDs derived from the result id, so the same result always gives the same bundle.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any, Literal

from fhir.resources.R4B.bundle import Bundle
from pydicom import Dataset

from polypdet.clinical.source import ALGORITHM_NAME
from polypdet.detections import Detection, Detections
from polypdet.io.dicom import DicomImage
from polypdet.result import DetectionResult

SNOMED = "http://snomed.info/sct"
LOINC = "http://loinc.org"
DICOM_DCM = "http://dicom.nema.org/resources/ontology/DCM"
UCUM = "http://unitsofmeasure.org"
DICOM_UID = "urn:dicom:uid"
BOX_CODE_SYSTEM = "urn:polypdet:codes"
"""polypdet's own codes for the box components (no standard terminology names box corners)."""
RESULT_ID_SYSTEM = "urn:polypdet:result-id"
OBSERVATION_CATEGORY = "http://terminology.hl7.org/CodeSystem/observation-category"

POLYP_OF_COLON = {"system": SNOMED, "code": "68496003", "display": "Polyp of colon"}
COLON = {"system": SNOMED, "code": "71854001", "display": "Colon"}
COLONOSCOPY_STUDY = {"system": LOINC, "code": "18746-8", "display": "Colonoscopy study"}
CERTAINTY_OF_FINDING = {"system": DICOM_DCM, "code": "111012", "display": "Certainty of Finding"}
BOX_COMPONENTS = (("bbox-x1", "Box left"), ("bbox-y1", "Box top"), ("bbox-x2", "Box right"), ("bbox-y2", "Box bottom"))

BundleType = Literal["collection", "transaction"]


def build_fhir_bundle(
    result: DetectionResult,
    result_id: str,
    *,
    frames: Sequence[Detections] | None = None,
    source: DicomImage | Dataset | None = None,
    patient_reference: str | None = None,
    bundle_type: BundleType = "collection",
) -> dict[str, Any]:
    """The validated Bundle (as JSON-ready dict) for ``result``.

    ``frames`` gives per-frame detections of a multi-frame source (default: ``result.detections`` as one
    frame); ``source`` the DICOM instance or header; ``patient_reference`` e.g. ``"Patient/123"`` (default:
    the DICOM Patient ID as a logical reference, or no subject for a plain image). A ``transaction`` bundle
    can be POSTed to a FHIR server's base URL (see :func:`polypdet.clinical.fhir_client.post_bundle`).
    """
    header = source.dataset if isinstance(source, DicomImage) else source
    per_frame = list(frames) if frames is not None else [result.detections]
    subject = _subject(header, patient_reference)
    entries: list[dict[str, Any]] = []

    device_url = _urn(result_id, "device", result.model_version)
    entries.append(_entry(device_url, _device(result.model_version), bundle_type, "Device"))
    study_url = None
    if header is not None:
        study_url = _urn(str(header.StudyInstanceUID), "imaging-study")
        study = _imaging_study(header, subject)
        if_none_exist = f"identifier={DICOM_UID}|urn:oid:{header.StudyInstanceUID}"
        entries.append(_entry(study_url, study, bundle_type, "ImagingStudy", if_none_exist))

    observation_urls = []
    for frame_index, detections in enumerate(per_frame):
        for number, detection in enumerate(detections, start=1):
            url = _urn(result_id, "observation", str(frame_index), str(number))
            frame = frame_index + 1 if len(per_frame) > 1 else None
            observation = _observation(detection, frame, result, subject, device_url, study_url)
            entries.append(_entry(url, observation, bundle_type, "Observation"))
            observation_urls.append(url)

    report = _report(result, result_id, len(observation_urls), subject, observation_urls, study_url)
    entries.append(_entry(_urn(result_id, "report"), report, bundle_type, "DiagnosticReport"))
    bundle = {"resourceType": "Bundle", "type": bundle_type, "timestamp": result.processed_at, "entry": entries}
    if bundle_type == "collection":
        bundle["id"] = str(uuid.uuid5(uuid.NAMESPACE_URL, f"{RESULT_ID_SYSTEM}:{result_id}"))
    Bundle.model_validate(bundle)  # raises pydantic.ValidationError for anything not valid R4(B)
    return bundle


def _urn(*parts: str) -> str:
    return f"urn:uuid:{uuid.uuid5(uuid.NAMESPACE_URL, ':'.join((RESULT_ID_SYSTEM, *parts)))}"


def _entry(
    full_url: str, resource: dict[str, Any], bundle_type: BundleType, kind: str, if_none_exist: str | None = None
) -> dict[str, Any]:
    entry: dict[str, Any] = {"fullUrl": full_url, "resource": resource}
    if bundle_type == "transaction":
        entry["request"] = {"method": "POST", "url": kind, **({"ifNoneExist": if_none_exist} if if_none_exist else {})}
    return entry


def _subject(header: Dataset | None, patient_reference: str | None) -> dict[str, Any] | None:
    if patient_reference:
        return {"reference": patient_reference}
    if header is not None and str(header.get("PatientID") or ""):
        subject: dict[str, Any] = {"type": "Patient", "identifier": {"value": str(header.PatientID)}}
        if str(header.get("PatientName") or ""):
            subject["display"] = str(header.PatientName).replace("^", " ").strip()
        return subject
    return None


def _device(model_version: str) -> dict[str, Any]:
    return {
        "resourceType": "Device",
        "status": "active",
        "manufacturer": ALGORITHM_NAME,
        "deviceName": [
            {"name": ALGORITHM_NAME, "type": "manufacturer-name"},
            {"name": model_version, "type": "model-name"},
        ],
        "version": [{"value": model_version}],
        "type": {"text": "AI software for polyp detection in colonoscopy images"},
    }


def _imaging_study(header: Dataset, subject: dict[str, Any] | None) -> dict[str, Any]:
    instance: dict[str, Any] = {
        "uid": str(header.SOPInstanceUID),
        "sopClass": {"system": "urn:ietf:rfc:3986", "code": f"urn:oid:{header.SOPClassUID}"},
    }
    if header.get("InstanceNumber") is not None:
        instance["number"] = int(header.InstanceNumber)
    series: dict[str, Any] = {
        "uid": str(header.SeriesInstanceUID),
        "modality": {"system": DICOM_DCM, "code": str(header.get("Modality") or "OT")},
        "instance": [instance],
    }
    return {
        "resourceType": "ImagingStudy",
        "identifier": [{"system": DICOM_UID, "value": f"urn:oid:{header.StudyInstanceUID}"}],
        "status": "available",
        # ImagingStudy.subject is required: without a patient, the study is the device's (a plain test upload)
        "subject": subject or {"display": "unidentified subject"},
        "series": [series],
    }


def _observation(
    detection: Detection,
    frame: int | None,
    result: DetectionResult,
    subject: dict[str, Any] | None,
    device_url: str,
    study_url: str | None,
) -> dict[str, Any]:
    components: list[dict[str, Any]] = [
        {
            "code": {"coding": [CERTAINTY_OF_FINDING]},
            "valueQuantity": _quantity(detection.confidence * 100.0, "%", "%"),
        },
        *(
            {
                "code": {"coding": [{"system": BOX_CODE_SYSTEM, "code": code, "display": display}]},
                "valueQuantity": _quantity(value, "pixel", "{pixel}"),
            }
            for (code, display), value in zip(BOX_COMPONENTS, detection.bbox, strict=True)
        ),
    ]
    if frame is not None:
        components.append(
            {
                "code": {"coding": [{"system": BOX_CODE_SYSTEM, "code": "frame", "display": "Frame number"}]},
                "valueInteger": frame,
            }
        )
    observation: dict[str, Any] = {
        "resourceType": "Observation",
        "status": "preliminary",  # an algorithm's finding until a clinician confirms it
        "category": [{"coding": [{"system": OBSERVATION_CATEGORY, "code": "imaging", "display": "Imaging"}]}],
        "code": {"coding": [POLYP_OF_COLON], "text": "Polyp detected"},
        "effectiveDateTime": result.processed_at,
        "issued": result.processed_at,
        "bodySite": {"coding": [COLON]},
        "device": {"reference": device_url},
        "valueCodeableConcept": {"coding": [{"system": SNOMED, "code": "52101004", "display": "Present"}]},
        "component": components,
    }
    if subject:
        observation["subject"] = subject
    if study_url:
        observation["derivedFrom"] = [{"reference": study_url}]
    return observation


def _report(
    result: DetectionResult,
    result_id: str,
    polyps: int,
    subject: dict[str, Any] | None,
    observation_urls: list[str],
    study_url: str | None,
) -> dict[str, Any]:
    report: dict[str, Any] = {
        "resourceType": "DiagnosticReport",
        "identifier": [{"system": RESULT_ID_SYSTEM, "value": result_id}],
        "status": "preliminary",
        "code": {"coding": [COLONOSCOPY_STUDY]},
        "effectiveDateTime": result.processed_at,
        "issued": result.processed_at,
        "result": [{"reference": url} for url in observation_urls],
        "conclusion": f"{polyps} polyp(s) detected by {ALGORITHM_NAME} {result.model_version} (unverified AI finding)",
    }
    if subject:
        report["subject"] = subject
    if study_url:
        report["imagingStudy"] = [{"reference": study_url}]
    return report


def _quantity(value: float, unit: str, code: str) -> dict[str, Any]:
    return {"value": round(float(value), 2), "unit": unit, "system": UCUM, "code": code}
