"""The FastAPI application factory: settings + (optionally) a loaded detector in, ASGI app out."""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import numpy as np
from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles

from polypdet.api.errors import install_error_handlers
from polypdet.api.metrics import MODEL_INFO
from polypdet.api.middleware import RequestContextMiddleware
from polypdet.api.routes import detect, health, page, results
from polypdet.api.routes.page import STATIC
from polypdet.api.service import DetectionService
from polypdet.cache import make_cache
from polypdet.config import Settings, get_settings
from polypdet.engine.detector import Detector
from polypdet.store import ResultStore

log = logging.getLogger(__name__)


def load_detector(settings: Settings) -> Detector:
    return Detector(
        settings.model_path,
        backend=settings.backend,  # type: ignore[arg-type]
        threads=settings.threads,
        hint="throughput",
    )


def warm_up(detector: Detector) -> None:
    """One inference at start so the first request does not pay for kernel compilation."""
    size = detector.input_size
    detector.detect(np.zeros((size, size, 3), dtype=np.uint8))


def create_app(settings: Settings | None = None, detector: Detector | None = None) -> FastAPI:
    """The service; loads the model (unless given one), migrates the store and starts batching on startup."""
    settings = settings or get_settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        start = time.perf_counter()
        model = detector or load_detector(settings)
        warm_up(model)
        store = ResultStore.open(settings.resolved_database_url)
        cache = make_cache(settings.redis_url, settings.cache_size, settings.cache_ttl_s, settings.cache_prefix)
        service = DetectionService(settings, model, store, cache)
        service.start()
        app.state.service = service
        MODEL_INFO.labels(model.model_version, model.backend.name).set(1)
        log.info(
            "ready in %.2f s: model %s on %s, store %s, cache %s",
            time.perf_counter() - start,
            model.model_version,
            model.backend.name,
            store.engine.url.get_backend_name(),
            cache.name,
        )
        try:
            yield
        finally:
            app.state.service = None
            await service.stop()

    app = FastAPI(
        title="polypdet",
        version="0.1.0",
        lifespan=lifespan,
        description="Polyp detection for colonoscopy images: upload an image or DICOM file, get boxes.",
    )
    app.state.service = None
    install_error_handlers(app)
    for module in (detect, results, health, page):
        app.include_router(module.router)
    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    app.add_middleware(RequestContextMiddleware)
    return app
