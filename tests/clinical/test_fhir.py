"""FHIR R4: the Bundle validates, carries one Observation per polyp, and is POSTed with retries."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import ClassVar

import numpy as np
import pydantic
import pytest
from fhir.resources.R4B.bundle import Bundle

from dicom_samples import multi_frame, to_bytes, ybr_jpeg_baseline
from polypdet.clinical.fhir import build_fhir_bundle
from polypdet.clinical.fhir_client import FhirDeliveryError, post_bundle
from polypdet.detections import Detections
from polypdet.io.dicom import read_dicom_bytes
from polypdet.result import DetectionResult


def _result(detections: Detections) -> DetectionResult:
    return DetectionResult(detections, "polyp-yolov8n@abc", 622, 529, 12.5, processed_at="2026-01-15T09:30:00.000Z")


def _resources(bundle: dict, kind: str) -> list[dict]:  # type: ignore[type-arg]
    return [e["resource"] for e in bundle["entry"] if e["resource"]["resourceType"] == kind]


def test_bundle_from_model_output_on_a_dicom_source(detector, polyp_image: np.ndarray) -> None:  # type: ignore[no-untyped-def]
    source = read_dicom_bytes(to_bytes(ybr_jpeg_baseline(polyp_image)))
    detections = detector.detect(source.frames[0])
    bundle = build_fhir_bundle(_result(detections), "res-1", source=source)
    parsed = Bundle.model_validate(bundle)  # R4(B) models
    assert parsed.type == "collection"
    observations = _resources(bundle, "Observation")
    assert len(observations) == len(detections) >= 1
    (report,) = _resources(bundle, "DiagnosticReport")
    (study,) = _resources(bundle, "ImagingStudy")
    (device,) = _resources(bundle, "Device")
    urls = {e["resource"]["resourceType"]: e["fullUrl"] for e in bundle["entry"]}
    assert [r["reference"] for r in report["result"]] == [
        e["fullUrl"] for e in bundle["entry"] if e["resource"]["resourceType"] == "Observation"
    ]
    assert report["imagingStudy"][0]["reference"] == urls["ImagingStudy"]
    assert study["identifier"][0]["value"] == f"urn:oid:{source.study_instance_uid}"
    assert study["series"][0]["uid"] == source.series_instance_uid
    assert study["series"][0]["instance"][0]["uid"] == source.sop_instance_uid
    assert device["version"][0]["value"] == "polyp-yolov8n@abc"
    for observation, detection in zip(observations, detections, strict=True):
        assert observation["code"]["coding"][0]["code"] == "68496003"
        assert observation["device"]["reference"] == urls["Device"]
        assert observation["derivedFrom"][0]["reference"] == urls["ImagingStudy"]
        assert observation["subject"]["identifier"]["value"] == "PDT-0001"
        values = [c["valueQuantity"]["value"] for c in observation["component"]]
        assert values[0] == pytest.approx(detection.confidence * 100, abs=0.01)
        np.testing.assert_allclose(values[1:], detection.bbox, atol=0.01)


def test_plain_image_bundle_has_no_study_and_is_deterministic() -> None:
    dets = Detections(xyxy=[[1, 2, 3, 4], [10, 20, 30, 40]], confidence=[0.9, 0.5])
    bundle = build_fhir_bundle(_result(dets), "res-2")
    assert _resources(bundle, "ImagingStudy") == [] and "subject" not in _resources(bundle, "DiagnosticReport")[0]
    assert len(_resources(bundle, "Observation")) == 2
    assert build_fhir_bundle(_result(dets), "res-2") == bundle
    assert build_fhir_bundle(_result(dets), "res-3")["id"] != bundle["id"]


def test_multi_frame_observations_carry_their_frame(polyp_image: np.ndarray) -> None:
    source = read_dicom_bytes(to_bytes(multi_frame([polyp_image] * 2)))
    frames = [Detections.empty(), Detections(xyxy=[[1, 2, 3, 4]], confidence=[0.9])]
    bundle = build_fhir_bundle(_result(frames[1]), "res-4", frames=frames, source=source, patient_reference="Patient/7")
    (observation,) = _resources(bundle, "Observation")
    assert observation["component"][-1]["valueInteger"] == 2
    assert observation["subject"] == {"reference": "Patient/7"}


def test_transaction_bundle_has_requests_and_a_conditional_study() -> None:
    source = read_dicom_bytes(to_bytes(ybr_jpeg_baseline(np.zeros((64, 64, 3), np.uint8))))
    bundle = build_fhir_bundle(_result(Detections.empty()), "res-5", source=source, bundle_type="transaction")
    Bundle.model_validate(bundle)
    requests_ = {e["resource"]["resourceType"]: e["request"] for e in bundle["entry"]}
    assert requests_["DiagnosticReport"] == {"method": "POST", "url": "DiagnosticReport"}
    assert requests_["ImagingStudy"]["ifNoneExist"].endswith(source.study_instance_uid)


def test_validation_rejects_a_broken_resource() -> None:
    bundle = build_fhir_bundle(_result(Detections(xyxy=[[1, 2, 3, 4]], confidence=[0.9])), "res-6")
    del _resources(bundle, "Observation")[0]["code"]  # required 1..1
    with pytest.raises(pydantic.ValidationError):
        Bundle.model_validate(bundle)


class _FhirServer(BaseHTTPRequestHandler):
    """A loopback FHIR endpoint that answers the scripted statuses in order."""

    script: ClassVar[list[int]] = []
    received: ClassVar[list[dict]] = []  # type: ignore[type-arg]

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        type(self).received.append(body)
        status = type(self).script.pop(0) if type(self).script else 200
        payload = json.dumps({"resourceType": "Bundle", "type": "transaction-response"} if status == 200 else {})
        self.send_response(status)
        self.send_header("Content-Type", "application/fhir+json")
        self.end_headers()
        self.wfile.write(payload.encode())

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture()
def fhir_server() -> Iterator[str]:
    _FhirServer.script, _FhirServer.received = [], []
    server = ThreadingHTTPServer(("127.0.0.1", 0), _FhirServer)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/fhir"
    server.shutdown()


def _transaction() -> dict:  # type: ignore[type-arg]
    dets = Detections(xyxy=[[1, 2, 3, 4]], confidence=[0.9])
    return build_fhir_bundle(_result(dets), "res-7", bundle_type="transaction")


def test_post_retries_server_errors_then_succeeds(fhir_server: str) -> None:
    _FhirServer.script = [503, 502]
    response = post_bundle(_transaction(), fhir_server, backoff_s=0.01)
    assert response["type"] == "transaction-response" and len(_FhirServer.received) == 3


def test_post_does_not_retry_a_refusal(fhir_server: str) -> None:
    _FhirServer.script = [422]
    with pytest.raises(FhirDeliveryError, match="refused"):
        post_bundle(_transaction(), fhir_server, backoff_s=0.01)
    assert len(_FhirServer.received) == 1


def test_post_to_nobody_fails_after_the_retries() -> None:
    with pytest.raises(FhirDeliveryError, match="after 3 attempts"):
        post_bundle(_transaction(), "http://127.0.0.1:9/fhir", retries=2, backoff_s=0.01, timeout_s=1)
    with pytest.raises(ValueError, match="transaction"):
        post_bundle(build_fhir_bundle(_result(Detections.empty()), "x"), "http://127.0.0.1:9/fhir")
