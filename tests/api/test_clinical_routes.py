"""DICOM in over HTTP (single and multi-frame), and a stored result out as DICOM SR / SC and FHIR R4."""

from __future__ import annotations

import base64
import io
import json
from collections.abc import Callable
from typing import Any

import highdicom as hd
import numpy as np
import pytest
from auth_helpers import new_api_key, security
from fastapi.testclient import TestClient
from fhir.resources.R4B.bundle import Bundle
from PIL import Image
from pydicom import Dataset, dcmread
from test_encryption_at_rest import stored_bytes

from dicom_samples import PATIENT, multi_frame, rgb_native, to_bytes
from polypdet.clinical.sr import read_polyps
from polypdet.security.roles import Role

DICOM = {"content-type": "application/dicom"}


def detect(client: TestClient, dataset: Dataset) -> dict[str, Any]:
    response = client.post("/api/detect", content=to_bytes(dataset), headers=DICOM)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def boxes(detections: list[dict[str, Any]]) -> np.ndarray:
    return np.array([d["bbox"] for d in detections], dtype=np.float64).reshape(-1, 4)


def download(client: TestClient, result_id: str, output: str, media_type: str = "application/dicom") -> bytes:
    response = client.get(f"/api/results/{result_id}/{output}")
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == media_type
    content: bytes = response.content
    return content


def png(image: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(image).save(buffer, format="PNG")
    return buffer.getvalue()


@pytest.fixture
def frames(polyp_image: np.ndarray) -> list[np.ndarray]:
    """Three real frames: the polyp image, its mirror image, and the image again."""
    return [polyp_image, np.ascontiguousarray(polyp_image[:, ::-1]), polyp_image]


def test_single_frame_dicom_answers_like_the_image(client: TestClient, polyp_image: np.ndarray) -> None:
    source = rgb_native(polyp_image)
    as_json = client.post("/api/detect", json={"dicom": base64.b64encode(to_bytes(source)).decode()})
    as_png = client.post("/api/detect", content=png(polyp_image), headers={"content-type": "image/png"})
    assert as_json.status_code == as_png.status_code == 200, as_json.text
    result = as_json.json()
    assert "frames" not in result, "a single-frame object gets the seed's object"
    assert result["detections"], "the polyp is found in the DICOM"
    np.testing.assert_allclose(boxes(result["detections"]), boxes(as_png.json()["detections"]), atol=0.01)
    assert (result["image_width"], result["image_height"]) == (polyp_image.shape[1], polyp_image.shape[0])


def test_multi_frame_dicom_answers_every_frame(client: TestClient, frames: list[np.ndarray]) -> None:
    result = detect(client, multi_frame(frames))
    assert [f["frame"] for f in result["frames"]] == [1, 2, 3]
    assert result["detections"] == result["frames"][0]["detections"], "top-level detections are frame 1's"
    alone = [detect(client, rgb_native(frame))["detections"] for frame in frames[:2]]
    for answer, expected in zip(result["frames"], [*alone, alone[0]], strict=True):
        assert len(answer["detections"]) == len(expected) > 0
        np.testing.assert_allclose(boxes(answer["detections"]), boxes(expected), atol=0.5)
    assert result["frames"][1]["detections"] != result["frames"][0]["detections"], "each frame is its own answer"
    stored = client.get(f"/api/results/{result['id']}").json()
    assert stored["frames"] == result["frames"] and stored["source"] == "dicom"


def test_sr_holds_the_boxes_the_source_reference_and_the_patient(client: TestClient, polyp_image: np.ndarray) -> None:
    source = rgb_native(polyp_image)
    result = detect(client, source)
    sr = dcmread(io.BytesIO(download(client, result["id"], "sr")))
    hd.sr.ComprehensiveSR.from_dataset(sr, copy=True)  # a valid highdicom SR
    polyps = read_polyps(sr)
    np.testing.assert_allclose([p.bbox for p in polyps], boxes(result["detections"]), atol=1e-3)
    np.testing.assert_allclose([p.confidence for p in polyps], [d["confidence"] for d in result["detections"]], 1e-3)
    assert {p.referenced_sop_instance_uid for p in polyps} == {source.SOPInstanceUID}
    assert sr.StudyInstanceUID == source.StudyInstanceUID
    assert (str(sr.PatientName), sr.PatientID, sr.PatientBirthDate) == (
        PATIENT["PatientName"],
        PATIENT["PatientID"],
        PATIENT["PatientBirthDate"],
    )
    evidence = sr.CurrentRequestedProcedureEvidenceSequence[0].ReferencedSeriesSequence[0]
    assert evidence.ReferencedSOPSequence[0].ReferencedSOPInstanceUID == source.SOPInstanceUID


def test_sr_of_a_multi_frame_object_refers_to_each_frame(client: TestClient, frames: list[np.ndarray]) -> None:
    result = detect(client, multi_frame(frames))
    polyps = read_polyps(dcmread(io.BytesIO(download(client, result["id"], "sr"))))
    expected = [(f["frame"], d["bbox"]) for f in result["frames"] for d in f["detections"]]
    assert [p.referenced_frame_numbers for p in polyps] == [(frame,) for frame, _ in expected]
    np.testing.assert_allclose([p.bbox for p in polyps], [bbox for _, bbox in expected], atol=1e-3)


def test_cached_dicom_answer_still_carries_the_source_header(client: TestClient, polyp_image: np.ndarray) -> None:
    source = rgb_native(polyp_image)
    first, again = detect(client, source), detect(client, source)
    assert (first["cached"], again["cached"]) == (False, True) and again["id"] != first["id"]
    sr = dcmread(io.BytesIO(download(client, again["id"], "sr")))
    assert (
        sr.PatientID == PATIENT["PatientID"] and read_polyps(sr)[0].referenced_sop_instance_uid == source.SOPInstanceUID
    )


def test_fhir_bundle_validates_and_lists_every_polyp(client: TestClient, frames: list[np.ndarray]) -> None:
    source = multi_frame(frames)
    result = detect(client, source)
    bundle = json.loads(download(client, result["id"], "fhir", "application/fhir+json"))
    Bundle.model_validate(bundle)
    resources = [entry["resource"] for entry in bundle["entry"]]
    observations = [r for r in resources if r["resourceType"] == "Observation"]
    (report,) = [r for r in resources if r["resourceType"] == "DiagnosticReport"]
    (study,) = [r for r in resources if r["resourceType"] == "ImagingStudy"]
    assert len(observations) == sum(len(f["detections"]) for f in result["frames"]) == len(report["result"])
    assert study["identifier"][0]["value"] == f"urn:oid:{source.StudyInstanceUID}"
    assert report["identifier"][0]["value"] == result["id"]
    assert report["subject"]["identifier"]["value"] == PATIENT["PatientID"]
    first_box = [c["valueQuantity"]["value"] for c in observations[0]["component"][1:5]]
    np.testing.assert_allclose(first_box, result["detections"][0]["bbox"], atol=0.01)


def test_plain_image_results_get_sr_and_fhir_too(client: TestClient, jpeg_bytes: bytes) -> None:
    response = client.post("/api/detect", content=jpeg_bytes, headers={"content-type": "image/jpeg"})
    result = response.json()
    polyps = read_polyps(dcmread(io.BytesIO(download(client, result["id"], "sr"))))
    np.testing.assert_allclose([p.bbox for p in polyps], boxes(result["detections"]), atol=1e-3)
    Bundle.model_validate(json.loads(download(client, result["id"], "fhir", "application/fhir+json")))


def test_sc_burns_the_boxes_into_the_kept_source(
    make_client: Callable[..., TestClient], polyp_image: np.ndarray
) -> None:
    client = make_client(store_source_images=True)
    source = rgb_native(polyp_image)
    result = detect(client, source)
    sc = dcmread(io.BytesIO(download(client, result["id"], "sc")))
    assert sc.BurnedInAnnotation == "YES" and sc.PatientID == PATIENT["PatientID"]
    assert sc.SourceImageSequence[0].ReferencedSOPInstanceUID == source.SOPInstanceUID
    pixels = sc.pixel_array
    assert pixels.shape == polyp_image.shape
    changed = np.any(pixels != polyp_image, axis=2)
    x1, y1, x2, y2 = (round(v) for v in result["detections"][0]["bbox"])
    assert 0 < changed.mean() < 0.2 and changed[y1 : y2 + 1, x1 : x2 + 1].any(), "boxes drawn, image kept"

    raw = stored_bytes(client)  # the kept upload is encrypted at rest like the rest of the result
    assert PATIENT["PatientName"].encode() not in raw and polyp_image[200, 100:140].tobytes() not in raw
    assert b"1.2.840.10008.5.1.4.1.1.77.1.1" not in raw, "no DICOM header in plaintext"


def test_sc_without_the_kept_source_is_a_clear_409(client: TestClient, polyp_image: np.ndarray) -> None:
    result = detect(client, rgb_native(polyp_image))
    response = client.get(f"/api/results/{result['id']}/sc")
    assert response.status_code == 409
    assert response.json()["error"] == "source_unavailable" and "STORE_SOURCE_IMAGES" in response.json()["detail"]


def test_another_clinicians_result_is_not_found_and_the_read_audited(
    client: TestClient, polyp_image: np.ndarray
) -> None:
    result = detect(client, rgb_native(polyp_image))
    client.headers["X-API-Key"] = new_api_key(client, Role.CLINICIAN)
    for output in ("sr", "sc", "fhir"):
        response = client.get(f"/api/results/{result['id']}/{output}")
        assert response.status_code == 404 and response.json()["error"] == "not_found"
    reads = [r for r in security(client).audit.export() if r["action"] == "result.read"]
    assert [(r["outcome"], r["details"]["output"]) for r in reads] == [
        ("not_found", "sr"),
        ("not_found", "sc"),
        ("not_found", "fhir"),
    ]
    assert all(r["target"] == f"result:{result['id']}" for r in reads)


def test_owner_reads_are_audited_and_credentials_are_required(client: TestClient, polyp_image: np.ndarray) -> None:
    result = detect(client, rgb_native(polyp_image))
    download(client, result["id"], "fhir", "application/fhir+json")
    reads = [r for r in security(client).audit.export() if r["action"] == "result.read"]
    assert [(r["outcome"], r["details"]["output"]) for r in reads] == [("success", "fhir")]
    del client.headers["X-API-Key"]
    for output in ("sr", "sc", "fhir"):
        assert client.get(f"/api/results/{result['id']}/{output}").status_code == 401


def test_a_dicom_without_pixels_is_a_clear_422(client: TestClient, polyp_image: np.ndarray) -> None:
    result = detect(client, rgb_native(polyp_image))
    sr = download(client, result["id"], "sr")  # an SR is DICOM, but not an image
    response = client.post("/api/detect", content=sr, headers=DICOM)
    assert response.status_code == 422
    assert response.json()["error"] == "invalid_dicom" and "no pixel data" in response.json()["detail"]
