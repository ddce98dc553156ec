"""Prometheus metrics. With ``PROMETHEUS_MULTIPROC_DIR`` set (``polypdet serve`` sets it) every worker
writes its samples there and ``/metrics`` adds them up, so the figures are right with several workers."""

from __future__ import annotations

import os

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
    multiprocess,
)

LATENCY_BUCKETS = (0.002, 0.005, 0.01, 0.02, 0.035, 0.05, 0.075, 0.1, 0.15, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)

REQUESTS = Counter("polypdet_http_requests_total", "HTTP requests", ["method", "route", "status"])
REQUEST_SECONDS = Histogram(
    "polypdet_http_request_seconds", "HTTP request latency", ["method", "route"], buckets=LATENCY_BUCKETS
)
QUEUE_WAIT_SECONDS = Histogram(
    "polypdet_queue_wait_seconds", "time an image waits for a batch", buckets=LATENCY_BUCKETS
)
INFERENCE_SECONDS = Histogram("polypdet_inference_seconds", "time to run one batch", buckets=LATENCY_BUCKETS)
BATCH_SIZE = Histogram("polypdet_batch_size", "images per inference batch", buckets=(1, 2, 3, 4, 6, 8, 12, 16, 32))
CACHE_LOOKUPS = Counter("polypdet_cache_lookups_total", "result cache lookups", ["backend", "result"])
ERRORS = Counter("polypdet_errors_total", "error responses by code", ["code"])
REJECTED = Counter("polypdet_rejected_total", "requests refused because the queue was full or timed out", ["reason"])
MODEL_INFO = Gauge(
    "polypdet_model_info", "the loaded model (value 1)", ["model_version", "backend"], multiprocess_mode="max"
)


def metrics_text() -> tuple[bytes, str]:
    """The exposition text and its content type, from all workers when in multiprocess mode."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
        return generate_latest(registry), CONTENT_TYPE_LATEST
    return generate_latest(), CONTENT_TYPE_LATEST
