"""Cache through the API (real Redis, and a Redis that is down) and dynamic batching under concurrency."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import httpx
import pytest
from auth_helpers import new_api_key
from fastapi import FastAPI
from fastapi.testclient import TestClient

from polypdet.api.app import create_app
from polypdet.config import Settings


@pytest.mark.redis
def test_redis_cache_is_shared_between_app_instances(
    make_client: Callable[..., TestClient], redis_url: str, cache_prefix: str, jpeg_bytes: bytes
) -> None:
    first = make_client(redis_url=redis_url, cache_prefix=cache_prefix)
    second = make_client(redis_url=redis_url, cache_prefix=cache_prefix)
    headers = {"content-type": "image/jpeg"}
    a = first.post("/api/detect", content=jpeg_bytes, headers=headers).json()
    b = second.post("/api/detect", content=jpeg_bytes, headers=headers).json()
    assert (a["cached"], b["cached"]) == (False, True) and a["detections"] == b["detections"]


@pytest.mark.redis
def test_instances_at_other_input_sizes_share_no_answers(
    make_settings: Callable[..., Settings], redis_url: str, cache_prefix: str, jpeg_bytes: bytes
) -> None:
    headers = {"content-type": "image/jpeg"}
    answers = []
    for imgsz in (320, 480, 480):
        settings = make_settings(redis_url=redis_url, cache_prefix=cache_prefix, imgsz=imgsz, backend="onnxruntime")
        with TestClient(create_app(settings)) as client:
            client.headers["X-API-Key"] = new_api_key(client)
            answers.append(client.post("/api/detect", content=jpeg_bytes, headers=headers).json())
    assert [a["cached"] for a in answers] == [False, False, True]
    assert answers[0]["detections"] != answers[1]["detections"] == answers[2]["detections"]


def test_redis_down_does_not_fail_requests(make_client: Callable[..., TestClient], jpeg_bytes: bytes) -> None:
    client = make_client(redis_url="redis://127.0.0.1:1/0")
    for _ in range(3):
        response = client.post("/api/detect", content=jpeg_bytes, headers={"content-type": "image/jpeg"})
        assert response.status_code == 200 and response.json()["cached"] is False
    assert client.get("/health/ready").status_code == 200


async def concurrent_posts(app: FastAPI, bodies: list[bytes]) -> tuple[list[httpx.Response], str]:
    """POST all bodies at once (on the app's own event loop), then read /metrics."""
    transport = httpx.ASGITransport(app=app)
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=transport, base_url="http://test") as client,
    ):
        client.headers["X-API-Key"] = new_api_key(app)
        responses = await asyncio.gather(
            *(client.post("/api/detect", content=b, headers={"content-type": "image/jpeg"}) for b in bodies)
        )
        return list(responses), (await client.get("/metrics")).text


def distinct(jpeg: bytes, count: int) -> list[bytes]:
    """The same photo with different trailing bytes: decodes identically, hashes differently (no cache hits)."""
    return [jpeg + i.to_bytes(4, "big") for i in range(count)]


def test_concurrent_requests_share_batches(tmp_path, detector, jpeg_bytes: bytes) -> None:  # type: ignore[no-untyped-def]
    settings = Settings(polypdet_home=tmp_path, batch_max_size=8, batch_max_delay_ms=20, cache_size=0)
    responses, metrics = asyncio.run(concurrent_posts(create_app(settings, detector), distinct(jpeg_bytes, 12)))
    assert [r.status_code for r in responses] == [200] * 12
    assert len({r.json()["id"] for r in responses}) == 12
    assert len({str(r.json()["detections"]) for r in responses}) == 1
    count = sum_metric(metrics, "polypdet_batch_size_count")
    total = sum_metric(metrics, "polypdet_batch_size_sum")
    assert total >= 12 and count < total, "12 concurrent requests should need fewer than 12 batches"


def sum_metric(text: str, name: str) -> float:
    return sum(float(line.split()[-1]) for line in text.splitlines() if line.startswith(name + " "))


def test_a_full_queue_answers_503_with_retry_after(tmp_path, detector, jpeg_bytes: bytes) -> None:  # type: ignore[no-untyped-def]
    settings = Settings(polypdet_home=tmp_path, queue_max=1, batch_max_size=1, batch_max_delay_ms=50, cache_size=0)
    responses, _ = asyncio.run(concurrent_posts(create_app(settings, detector), distinct(jpeg_bytes, 8)))
    codes = [r.status_code for r in responses]
    assert 200 in codes and 503 in codes, codes
    refused = next(r for r in responses if r.status_code == 503)
    assert refused.headers["retry-after"] and refused.json()["error"] == "overloaded"


def test_a_request_over_its_timeout_answers_503(tmp_path, detector, jpeg_bytes: bytes) -> None:  # type: ignore[no-untyped-def]
    settings = Settings(polypdet_home=tmp_path, request_timeout_s=0.001, batch_max_delay_ms=20, cache_size=0)
    app = create_app(settings, detector)
    with TestClient(app) as client:
        client.headers["X-API-Key"] = new_api_key(client)
        response = client.post("/api/detect", content=jpeg_bytes, headers={"content-type": "image/jpeg"})
        assert response.status_code == 503 and response.json()["error"] == "timeout"
        assert response.headers["retry-after"]
        assert client.get("/health").status_code == 200
