"""Liveness (``/health``, the seed's fields), readiness (``/health/ready``) and ``/metrics``."""

from __future__ import annotations

from typing import Any

import psutil
from fastapi import APIRouter, Request, Response
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse

from polypdet.api.metrics import metrics_text
from polypdet.api.schemas import Health, Readiness
from polypdet.result import utc_now_iso

router = APIRouter(tags=["health"])


@router.get("/health", response_model=Health)
async def health(request: Request) -> dict[str, Any]:
    service = getattr(request.app.state, "service", None)
    cpu, memory = psutil.cpu_percent(), psutil.virtual_memory().percent
    return {
        "status": "degraded" if cpu > 90 or memory > 90 else "healthy",
        "model_loaded": service is not None,
        "model_version": service.detector.model_version if service else None,
        "cpu_usage": cpu,
        "memory_usage": memory,
        "timestamp": utc_now_iso(),
    }


@router.get("/health/ready", response_model=Readiness, responses={503: {"model": Readiness}})
async def ready(request: Request) -> JSONResponse:
    service = getattr(request.app.state, "service", None)
    store_ok = service is not None and await run_in_threadpool(service.store.ping)
    body = {"ready": service is not None and store_ok, "model_loaded": service is not None, "store": store_ok}
    return JSONResponse(body, status_code=200 if body["ready"] else 503)


@router.get("/metrics", response_class=Response, responses={200: {"content": {"text/plain": {}}}})
async def metrics() -> Response:
    body, content_type = metrics_text()
    return Response(body, media_type=content_type)
