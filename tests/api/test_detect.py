"""POST /api/detect with each body kind: the seed's response contract plus id, size and timing."""

from __future__ import annotations

import base64
import io

import numpy as np
import pytest
from fastapi.testclient import TestClient
from PIL import Image

from polypdet.engine.detector import DetectParams
from polypdet.io.images import decode_image

SEED_FIELDS = {"detections", "processed_at", "model_version"}


def test_json_base64_matches_the_engine(client: TestClient, jpeg_bytes: bytes, detector) -> None:  # type: ignore[no-untyped-def]
    response = client.post("/api/detect", json={"image": base64.b64encode(jpeg_bytes).decode()})
    assert response.status_code == 200, response.text
    body = response.json()
    assert SEED_FIELDS | {"id", "image_width", "image_height", "inference_ms"} <= set(body)
    assert body["processed_at"].endswith("Z") and (body["image_width"], body["image_height"]) == (622, 529)
    expected = detector.detect(decode_image(jpeg_bytes), DetectParams(conf=0.25, max_det=50))
    got = np.array([d["bbox"] for d in body["detections"]]).reshape(-1, 4)
    assert len(got) == len(expected) > 0
    np.testing.assert_allclose(got, expected.xyxy, atol=0.02)
    for det in body["detections"]:
        assert set(det) == {"bbox", "confidence", "class"} and det["class"] == "polyp"
        x1, y1, x2, y2 = det["bbox"]
        assert x1 < x2 and y1 < y2


def test_raw_png_body(client: TestClient, png_bytes: bytes) -> None:
    response = client.post("/api/detect", content=png_bytes, headers={"content-type": "image/png"})
    assert response.status_code == 200, response.text
    assert (response.json()["image_width"], response.json()["image_height"]) == (384, 288)


def test_multipart_upload_with_fields(client: TestClient, jpeg_bytes: bytes) -> None:
    low = client.post("/api/detect", files={"file": ("a.jpg", jpeg_bytes, "image/jpeg")}, data={"conf": "0.05"})
    high = client.post("/api/detect", files={"file": ("a.jpg", jpeg_bytes, "image/jpeg")}, data={"conf": "0.99"})
    assert low.status_code == high.status_code == 200, (low.text, high.text)
    assert len(low.json()["detections"]) > len(high.json()["detections"])
    assert all(d["confidence"] >= 0.99 for d in high.json()["detections"])


def test_query_parameters_apply_to_raw_bodies(client: TestClient, jpeg_bytes: bytes) -> None:
    response = client.post(
        "/api/detect?conf=0.01&max_det=1", content=jpeg_bytes, headers={"content-type": "image/jpeg"}
    )
    assert response.status_code == 200 and len(response.json()["detections"]) == 1


def test_same_bytes_and_params_come_from_the_cache(client: TestClient, jpeg_bytes: bytes) -> None:
    first = client.post("/api/detect", content=jpeg_bytes, headers={"content-type": "image/jpeg"}).json()
    second = client.post("/api/detect", content=jpeg_bytes, headers={"content-type": "image/jpeg"}).json()
    other = client.post("/api/detect?conf=0.6", content=jpeg_bytes, headers={"content-type": "image/jpeg"}).json()
    assert (first["cached"], second["cached"], other["cached"]) == (False, True, False)
    assert second["detections"] == first["detections"] and second["id"] != first["id"]


def test_dicom_without_a_decoder_or_corrupt_is_a_clear_4xx(client: TestClient) -> None:
    response = client.post("/api/detect", json={"dicom": base64.b64encode(b"DICM not really").decode()})
    assert response.status_code in {415, 422}, response.text
    assert response.json()["error"] in {"dicom_unsupported", "invalid_dicom"}
    raw = client.post("/api/detect", content=b"\0" * 200, headers={"content-type": "application/dicom"})
    assert raw.status_code in {415, 422}


def test_real_dicom_when_the_decoder_exists(client: TestClient, jpeg_bytes: bytes) -> None:
    dicom = pytest.importorskip("polypdet.io.dicom", reason="polypdet.io.dicom is not written yet")
    pydicom = pytest.importorskip("pydicom")
    from io import BytesIO

    from pydicom.dataset import FileMetaDataset
    from pydicom.uid import ExplicitVRLittleEndian, SecondaryCaptureImageStorage, generate_uid

    image = decode_image(jpeg_bytes)
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = SecondaryCaptureImageStorage
    meta.MediaStorageSOPInstanceUID = generate_uid()
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds = pydicom.Dataset()
    ds.file_meta = meta
    ds.SOPClassUID, ds.SOPInstanceUID = meta.MediaStorageSOPClassUID, meta.MediaStorageSOPInstanceUID
    ds.StudyInstanceUID, ds.SeriesInstanceUID, ds.Modality = generate_uid(), generate_uid(), "ES"
    ds.Rows, ds.Columns = image.shape[:2]
    ds.SamplesPerPixel, ds.PhotometricInterpretation, ds.PlanarConfiguration = 3, "RGB", 0
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 8, 8, 7, 0
    ds.PixelData = image.tobytes()
    buffer = BytesIO()
    ds.save_as(buffer, enforce_file_format=True)
    assert dicom.decode_dicom_frames(buffer.getvalue())
    response = client.post("/api/detect", content=buffer.getvalue(), headers={"content-type": "application/dicom"})
    assert response.status_code == 200, response.text
    assert (response.json()["image_width"], response.json()["image_height"]) == (622, 529)


def test_a_multi_page_tiff_answers_every_page(client: TestClient, polyp_image: np.ndarray) -> None:
    buffer = io.BytesIO()
    pages = [Image.fromarray(polyp_image), Image.fromarray(np.zeros_like(polyp_image))]
    pages[0].save(buffer, format="TIFF", save_all=True, append_images=pages[1:])
    response = client.post("/api/detect", content=buffer.getvalue(), headers={"content-type": "image/tiff"})
    assert response.status_code == 200, response.text
    body = response.json()
    assert [f["frame"] for f in body["frames"]] == [1, 2]
    assert body["detections"] == body["frames"][0]["detections"] and body["detections"], "the polyp, on page 1"
    assert body["frames"][1]["detections"] == [], "a black page has no polyp"
    assert client.get(f"/api/results/{body['id']}").json()["frames"] == body["frames"]
