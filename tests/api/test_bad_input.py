"""The issue's bad-input list: each answer is a 4xx ``{"error", "detail"}`` and the service keeps serving."""

from __future__ import annotations

import base64
import struct
import zlib
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def png_claiming(width: int, height: int) -> bytes:
    """A 100-byte PNG whose header claims ``width`` x ``height`` pixels (a decompression bomb's shape)."""

    def chunk(kind: bytes, payload: bytes) -> bytes:
        return struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", zlib.crc32(kind + payload))

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(b"\0" * 64)) + chunk(b"IEND", b"")
    )


def bad_requests(jpeg: bytes, png: bytes) -> list[tuple[str, dict[str, Any], int]]:
    jpeg_type = {"content-type": "image/jpeg"}
    return [
        ("invalid base64", {"json": {"image": "!!!not base64"}}, 400),
        ("non-image bytes", {"json": {"image": b64(b"just some text, not an image")}}, 400),
        ("empty image", {"json": {"image": ""}}, 400),
        ("truncated jpeg", {"content": jpeg[: len(jpeg) // 3], "headers": jpeg_type}, 400),
        ("truncated png", {"json": {"image": b64(png[: len(png) // 2])}}, 400),
        (
            "decompression bomb",
            {"content": png_claiming(50_000, 50_000), "headers": {"content-type": "image/png"}},
            400,
        ),
        ("empty raw body", {"content": b"", "headers": jpeg_type}, 400),
        ("wrong content type", {"content": b"x", "headers": {"content-type": "text/plain"}}, 415),
        ("no content type", {"content": jpeg}, 415),
        ("missing fields", {"json": {}}, 422),
        ("unknown field only", {"json": {"nothing": 1}}, 422),
        ("extra field", {"json": {"image": b64(jpeg), "patient": "x"}}, 422),
        ("image and dicom", {"json": {"image": b64(jpeg), "dicom": b64(jpeg)}}, 422),
        ("image not a string", {"json": {"image": 5}}, 422),
        ("json not an object", {"json": [1, 2]}, 422),
        ("broken json", {"content": b"{broken", "headers": {"content-type": "application/json"}}, 422),
        ("conf above 1", {"json": {"image": b64(jpeg), "conf": 5}}, 422),
        ("conf negative in query", {"url": "/api/detect?conf=-0.1", "content": jpeg, "headers": jpeg_type}, 422),
        ("max_det zero", {"json": {"image": b64(jpeg), "max_det": 0}}, 422),
        ("conf not a number", {"files": {"file": ("a.jpg", jpeg, "image/jpeg")}, "data": {"conf": "high"}}, 422),
        ("multipart without file", {"files": {"other": ("a.jpg", jpeg, "image/jpeg")}}, 422),
        ("multipart extra field", {"files": {"file": ("a.jpg", jpeg)}, "data": {"patient": "x"}}, 422),
        ("corrupt dicom json", {"json": {"dicom": b64(b"DICM" + b"\x07" * 300)}}, 415),
        (
            "corrupt dicom raw",
            {"content": b"\x00" * 128 + b"DICM" + b"\xff" * 64, "headers": {"content-type": "application/dicom"}},
            415,
        ),
    ]


CASE_NAMES = [name for name, _, _ in bad_requests(b"", b"")]


@pytest.fixture
def cases(jpeg_bytes: bytes, png_bytes: bytes) -> Iterator[dict[str, tuple[dict[str, Any], int]]]:
    yield {name: (kwargs, status) for name, kwargs, status in bad_requests(jpeg_bytes, png_bytes)}


def assert_error_shape(response: Any) -> None:
    assert response.headers["content-type"].startswith("application/json")
    body = response.json()
    assert set(body) == {"error", "detail"} and body["error"] and body["detail"]


@pytest.mark.parametrize("name", CASE_NAMES)
def test_bad_input_is_a_4xx_json_error(
    name: str, cases: dict[str, tuple[dict[str, Any], int]], client: TestClient, jpeg_bytes: bytes
) -> None:
    kwargs, status = cases[name]
    kwargs = dict(kwargs)
    url = kwargs.pop("url", "/api/detect")
    response = client.post(url, **kwargs)
    if "dicom" in name:  # 415 until polypdet.io.dicom exists, 422 once it refuses the file
        assert response.status_code in {415, 422}, response.text
    else:
        assert response.status_code == status, response.text
    assert_error_shape(response)
    still = client.post("/api/detect", content=jpeg_bytes, headers={"content-type": "image/jpeg"})
    assert still.status_code == 200


def test_body_over_the_upload_limit_is_413(make_client: Callable[..., TestClient], jpeg_bytes: bytes) -> None:
    client = make_client(max_upload_mb=0.01)
    declared = client.post("/api/detect", content=jpeg_bytes, headers={"content-type": "image/jpeg"})
    assert declared.status_code == 413
    assert_error_shape(declared)

    def chunks() -> Iterator[bytes]:  # no Content-Length: the limit must hold while streaming
        for start in range(0, len(jpeg_bytes), 4096):
            yield jpeg_bytes[start : start + 4096]

    streamed = client.post("/api/detect", content=chunks(), headers={"content-type": "image/jpeg"})
    assert streamed.status_code == 413
    as_json = client.post("/api/detect", json={"image": b64(jpeg_bytes)})
    assert as_json.status_code == 413


@pytest.mark.parametrize(
    ("url", "status"),
    [
        ("/api/results/not-an-id", 422),
        ("/api/results/" + "0" * 32, 404),
        ("/api/results?cursor=%%%garbage", 400),
        ("/api/results?cursor=WyJ4Il0", 400),
        ("/api/results?limit=0", 422),
        ("/api/results?limit=abc", 422),
        ("/no/such/route", 404),
    ],
)
def test_bad_reads_are_4xx_json(client: TestClient, url: str, status: int) -> None:
    response = client.get(url)
    assert response.status_code == status, response.text
    assert_error_shape(response)


def test_wrong_method_is_405_json(client: TestClient) -> None:
    response = client.get("/api/detect")
    assert response.status_code == 405
    assert_error_shape(response)


@pytest.mark.parametrize("clip", ["Polypvvv.mpg", "auuming_polyp_educational.mp4"])
def test_a_video_sent_as_an_image_is_pointed_to_the_video_jobs(client: TestClient, data: Path, clip: str) -> None:
    video = (data / "videos" / clip).read_bytes()[:200_000]
    response = client.post("/api/detect", content=video, headers={"content-type": "image/jpeg"})
    assert response.status_code == 400 and "/api/jobs/video" in response.json()["detail"]
