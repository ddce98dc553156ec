"""The minimal service: the seed's /api/detect contract and /health."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from polypdet.api.app import create_app
from polypdet.config import Settings


@pytest.fixture(scope="module")
def client(detector) -> Iterator[TestClient]:  # type: ignore[no-untyped-def]
    with TestClient(create_app(Settings(), detector)) as c:
        yield c


def test_detect_base64_json(client: TestClient, data: Path) -> None:
    raw = (data / "kvasir-seg/images/cju0qkwl35piu0993l0dewei2.jpg").read_bytes()
    response = client.post("/api/detect", json={"image": base64.b64encode(raw).decode()})
    assert response.status_code == 200, response.text
    body = response.json()
    assert set(body) >= {"detections", "processed_at", "model_version"}
    assert body["processed_at"].endswith("Z") and (body["image_width"], body["image_height"]) == (622, 529)
    assert body["detections"] and set(body["detections"][0]) == {"bbox", "confidence", "class"}


def test_detect_raw_body(client: TestClient, data: Path) -> None:
    raw = (data / "cvc-clinicdb/images/val/450.png").read_bytes()
    response = client.post("/api/detect", content=raw, headers={"content-type": "image/png"})
    assert response.status_code == 200 and response.json()["image_width"] == 384


@pytest.mark.parametrize(
    ("kwargs", "status"),
    [
        ({"json": {"image": "!!!not base64"}}, 400),
        ({"json": {"image": base64.b64encode(b"text").decode()}}, 400),
        ({"json": {"image": ""}}, 400),
        ({"json": {"nothing": 1}}, 422),
        ({"json": {"image": "aGVsbG8=", "conf": 5}}, 422),
        ({"content": b"x", "headers": {"content-type": "text/plain"}}, 415),
        ({"content": b"{broken", "headers": {"content-type": "application/json"}}, 422),
    ],
)
def test_bad_requests_are_4xx_json(client: TestClient, kwargs: dict, status: int) -> None:  # type: ignore[type-arg]
    response = client.post("/api/detect", **kwargs)
    assert response.status_code == status, response.text
    assert response.json()["error"]


def test_health(client: TestClient) -> None:
    body = client.get("/health").json()
    assert body["model_loaded"] is True and body["status"] in {"healthy", "degraded"}
    assert {"cpu_usage", "memory_usage", "timestamp"} <= set(body)
