"""/health, /health/ready, /metrics, request ids and JSON log lines."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable

import pytest
from fastapi.testclient import TestClient

from polypdet.api.logs import RequestIdFilter, logging_config, request_id_from


def test_health_has_the_seed_fields(client: TestClient) -> None:
    body = client.get("/health").json()
    assert body["model_loaded"] is True and body["status"] in {"healthy", "degraded"}
    assert {"cpu_usage", "memory_usage", "timestamp"} <= set(body) and body["timestamp"].endswith("Z")


def test_ready_when_model_and_store_are_up(client: TestClient) -> None:
    assert client.get("/health/ready").json() == {"ready": True, "model_loaded": True, "store": True}


def test_not_ready_when_the_store_is_unreachable(client: TestClient) -> None:
    service = client.app.state.service  # type: ignore[attr-defined]
    service.store.engine.dispose()
    original = service.store.ping
    service.store.ping = lambda: False
    try:
        response = client.get("/health/ready")
    finally:
        service.store.ping = original
    assert response.status_code == 503 and response.json()["store"] is False


def test_metrics_count_requests_cache_and_batches(client: TestClient, jpeg_bytes: bytes) -> None:
    for _ in range(2):
        client.post("/api/detect", content=jpeg_bytes, headers={"content-type": "image/jpeg"})
    client.post("/api/detect", content=b"x", headers={"content-type": "text/plain"})
    text = client.get("/metrics").text
    assert 'polypdet_http_requests_total{method="POST",route="/api/detect",status="415"}' in text
    assert 'polypdet_cache_lookups_total{backend="memory",result="hit"}' in text
    assert 'polypdet_errors_total{code="unsupported_media_type"}' in text
    for name in ("polypdet_queue_wait_seconds_bucket", "polypdet_inference_seconds_bucket", "polypdet_batch_size"):
        assert name in text
    assert 'polypdet_model_info{backend="onnxruntime",model_version="' in text


def test_request_id_is_echoed_or_made(client: TestClient) -> None:
    assert client.get("/health", headers={"X-Request-ID": "visit-42"}).headers["x-request-id"] == "visit-42"
    made = client.get("/health", headers={"X-Request-ID": "bad id\n"}).headers["x-request-id"]
    assert made != "bad id\n" and len(made) == 32
    assert request_id_from(None) != request_id_from(None)


def test_log_lines_are_json_with_the_request_id(
    make_client: Callable[..., TestClient], capsys: pytest.CaptureFixture[str]
) -> None:
    config = logging_config("INFO", json=True)
    formatter = logging.config.DictConfigurator(config).configure_custom(dict(config["formatters"]["main"]))  # type: ignore[attr-defined]
    handler = logging.StreamHandler()
    handler.setFormatter(formatter)
    handler.addFilter(RequestIdFilter())
    logger = logging.getLogger("polypdet")
    previous = logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    try:
        client = make_client()
        client.get("/health", headers={"X-Request-ID": "trace-7"})
    finally:
        logger.removeHandler(handler)
        logger.setLevel(previous)
    lines = [json.loads(line) for line in capsys.readouterr().err.splitlines() if line.startswith("{")]
    access = [line for line in lines if line.get("logger") == "polypdet.access"]
    assert access and access[-1]["request_id"] == "trace-7" and access[-1]["status"] == 200
    assert all("request_id" in line and "time" in line for line in lines)
