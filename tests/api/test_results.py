"""GET /api/results/{id} and GET /api/results: what POST /api/detect stored, paged, per caller."""

from __future__ import annotations

import uuid
from collections.abc import Callable

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from polypdet.api.deps import Caller, get_caller


def post(client: TestClient, body: bytes, conf: float = 0.25) -> dict:  # type: ignore[type-arg]
    response = client.post(f"/api/detect?conf={conf}", content=body, headers={"content-type": "image/jpeg"})
    assert response.status_code == 200, response.text
    return response.json()  # type: ignore[no-any-return]


def test_a_result_reads_back_with_its_provenance(client: TestClient, jpeg_bytes: bytes) -> None:
    created = post(client, jpeg_bytes, conf=0.3)
    stored = client.get(f"/api/results/{created['id']}").json()
    for field in ("id", "detections", "processed_at", "model_version", "image_width", "image_height"):
        assert stored[field] == created[field]
    assert stored["params"] == {"conf": 0.3, "iou": 0.7, "max_det": 50}
    assert stored["owner"] == "anonymous" and stored["source"] == "image" and len(stored["content_hash"]) == 64


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
def test_owners_come_from_the_caller_dependency(
    backend: str, make_client: Callable[..., TestClient], jpeg_bytes: bytes, request: pytest.FixtureRequest
) -> None:
    url = request.getfixturevalue("postgres_url") if backend == "postgres" else None
    alice_name, bob_name = f"alice-{uuid.uuid4().hex[:8]}", f"bob-{uuid.uuid4().hex[:8]}"
    callers = {"who": Caller(alice_name)}

    def hook(app: FastAPI) -> None:
        app.dependency_overrides[get_caller] = lambda: callers["who"]

    client = make_client(app_hook=hook, database_url=url)
    alice = post(client, jpeg_bytes)
    callers["who"] = Caller(bob_name)
    bob = post(client, jpeg_bytes)
    assert client.get(f"/api/results/{alice['id']}").status_code == 404
    assert [i["id"] for i in client.get("/api/results").json()["items"]] == [bob["id"]]
    callers["who"] = Caller("auditor", sees_all=True)
    listed = {i["id"]: i["owner"] for i in client.get("/api/results").json()["items"]}
    assert listed.items() >= {alice["id"]: alice_name, bob["id"]: bob_name}.items()
