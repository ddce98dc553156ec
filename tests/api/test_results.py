"""GET /api/results/{id} and GET /api/results: what POST /api/detect stored, paged, per caller."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from auth_helpers import new_api_key
from fastapi.testclient import TestClient

from polypdet.security.roles import Role


def post(client: TestClient, body: bytes, conf: float = 0.25) -> dict:  # type: ignore[type-arg]
    response = client.post(f"/api/detect?conf={conf}", content=body, headers={"content-type": "image/jpeg"})
    assert response.status_code == 200, response.text
    return response.json()  # type: ignore[no-any-return]


def test_a_result_reads_back_with_its_provenance(client: TestClient, jpeg_bytes: bytes, detector: Any) -> None:
    created = post(client, jpeg_bytes, conf=0.3)
    stored = client.get(f"/api/results/{created['id']}").json()
    for field in ("id", "detections", "processed_at", "model_version", "image_width", "image_height"):
        assert stored[field] == created[field]
    params = {"conf": 0.3, "iou": 0.7, "max_det": 50, "imgsz": detector.input_size, "crop_margins": True}
    assert stored["params"] == params
    key_prefix = client.headers["X-API-Key"].split("_")[1]
    assert stored["owner"] == f"key:{key_prefix}" and stored["source"] == "image" and len(stored["content_hash"]) == 64


def test_pages_cover_all_results_newest_first(client: TestClient, jpeg_bytes: bytes) -> None:
    ids = [post(client, jpeg_bytes, conf=c)["id"] for c in (0.1, 0.2, 0.3, 0.4, 0.5)]
    seen, cursor = [], None
    for _ in range(5):
        page = client.get("/api/results", params={"limit": 2} | ({"cursor": cursor} if cursor else {})).json()
        seen += [item["id"] for item in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == ids[::-1]


@pytest.mark.parametrize("backend", ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def test_owners_come_from_the_credentials(
    backend: str, make_client: Callable[..., TestClient], jpeg_bytes: bytes, request: pytest.FixtureRequest
) -> None:
    url = request.getfixturevalue("postgres_url") if backend == "postgres" else None
    client = make_client(database_url=url, role=None)
    alice_key, bob_key, admin_key = (new_api_key(client, role) for role in (Role.CLINICIAN, Role.CLINICIAN, Role.ADMIN))
    alice_name, bob_name = (f"key:{key.split('_')[1]}" for key in (alice_key, bob_key))
    client.headers["X-API-Key"] = alice_key
    alice = post(client, jpeg_bytes)
    client.headers["X-API-Key"] = bob_key
    bob = post(client, jpeg_bytes)
    assert client.get(f"/api/results/{alice['id']}").status_code == 404
    assert [i["id"] for i in client.get("/api/results").json()["items"]] == [bob["id"]]
    client.headers["X-API-Key"] = admin_key
    listed = {i["id"]: i["owner"] for i in client.get("/api/results").json()["items"]}
    assert listed.items() >= {alice["id"]: alice_name, bob["id"]: bob_name}.items()
