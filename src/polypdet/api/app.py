"""The HTTP service: ``POST /api/detect`` and ``/health`` on one loaded detector."""

from __future__ import annotations

import base64
import binascii
import time
from contextlib import asynccontextmanager
from typing import Annotated, Any

import psutil
from fastapi import FastAPI, HTTPException, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from starlette.exceptions import HTTPException as StarletteHTTPException

from polypdet.config import Settings, get_settings
from polypdet.engine.detector import Detector, DetectParams
from polypdet.io.images import ImageDecodeError, decode_image
from polypdet.result import DetectionResult, utc_now_iso


class DetectRequest(BaseModel):
    image: Annotated[str, Field(description="base64-encoded JPEG/PNG/BMP/TIFF/WebP")]
    conf: Annotated[float | None, Field(ge=0.0, le=1.0)] = None
    max_det: Annotated[int | None, Field(ge=1, le=1000)] = None


class DetectionOut(BaseModel):
    bbox: list[float] = Field(description="[x1, y1, x2, y2] in original-image pixels")
    confidence: float
    class_: str = Field(alias="class")


class DetectResponse(BaseModel):
    detections: list[DetectionOut]
    processed_at: str
    model_version: str
    image_width: int
    image_height: int
    inference_ms: float


def _error(status: int, message: str) -> JSONResponse:
    return JSONResponse({"error": message, "status": status}, status_code=status)


def create_app(settings: Settings | None = None, detector: Detector | None = None) -> FastAPI:
    settings = settings or get_settings()
    state: dict[str, Any] = {"detector": detector}

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> Any:
        if state["detector"] is None:
            state["detector"] = Detector(
                settings.model_path,
                backend=settings.backend,  # type: ignore[arg-type]
                threads=settings.threads,
                hint="throughput",
            )
        yield

    app = FastAPI(
        title="polypdet", version="0.1.0", lifespan=lifespan, description="Polyp detection for colonoscopy images."
    )

    @app.exception_handler(StarletteHTTPException)
    async def http_error(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        return _error(exc.status_code, str(exc.detail))

    @app.exception_handler(RequestValidationError)
    async def validation_error(_: Request, exc: RequestValidationError) -> JSONResponse:
        first = exc.errors()[0] if exc.errors() else {}
        where = ".".join(str(p) for p in first.get("loc", ()))
        return _error(422, f"invalid request: {where}: {first.get('msg', 'invalid')}")

    def run_detection(data: bytes, conf: float | None, max_det: int | None) -> dict[str, Any]:
        if len(data) > settings.max_upload_bytes:
            raise HTTPException(413, f"upload larger than {settings.max_upload_mb} MB")
        try:
            image = decode_image(data)
        except ImageDecodeError as error:
            raise HTTPException(400, str(error)) from None
        det: Detector = state["detector"]
        params = DetectParams(
            conf=settings.confidence_threshold if conf is None else conf, max_det=max_det or settings.max_detections
        )
        start = time.perf_counter()
        detections = det.detect(image, params)
        elapsed = (time.perf_counter() - start) * 1000
        return DetectionResult(detections, det.model_version, image.shape[1], image.shape[0], elapsed).to_json()

    @app.post(
        "/api/detect",
        response_model=DetectResponse,
        response_model_by_alias=True,
        openapi_extra={
            "requestBody": {
                "content": {
                    "application/json": {"schema": DetectRequest.model_json_schema()},
                    "image/jpeg": {"schema": {"type": "string", "format": "binary"}},
                    "image/png": {"schema": {"type": "string", "format": "binary"}},
                }
            }
        },
    )
    async def detect(request: Request) -> dict[str, Any]:
        """Detect polyps in a JSON base64 image or a raw ``image/*`` body."""
        content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
        body = await request.body()
        if content_type == "application/json":
            try:
                payload = DetectRequest.model_validate_json(body)
            except ValueError as error:
                raise HTTPException(422, f"invalid JSON body: {str(error).splitlines()[0]}") from None
            try:
                data = base64.b64decode(payload.image, validate=True)
            except (binascii.Error, ValueError):
                raise HTTPException(400, "image is not valid base64") from None
            return await run_in_threadpool(run_detection, data, payload.conf, payload.max_det)
        if content_type.startswith("image/") or content_type == "application/octet-stream":
            return await run_in_threadpool(run_detection, body, None, None)
        raise HTTPException(415, "send application/json with a base64 'image', or a raw image/* body")

    @app.get("/health")
    async def health() -> dict[str, Any]:
        status = {
            "status": "healthy",
            "model_loaded": state["detector"] is not None,
            "model_version": state["detector"].model_version if state["detector"] else None,
            "cpu_usage": psutil.cpu_percent(),
            "memory_usage": psutil.virtual_memory().percent,
            "timestamp": utc_now_iso(),
        }
        if status["cpu_usage"] > 90 or status["memory_usage"] > 90:
            status["status"] = "degraded"
        return status

    return app
