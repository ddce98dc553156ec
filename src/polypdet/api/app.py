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
from polypdet.api.guard import GuardMiddleware
from polypdet.api.metrics import MODEL_INFO
from polypdet.api.middleware import RequestContextMiddleware
from polypdet.api.routes import admin, auth, clinical, detect, health, page, results
from polypdet.api.routes.jobs import open_video_jobs
from polypdet.api.routes.jobs import router as jobs_router
from polypdet.api.routes.page import STATIC
from polypdet.api.routes.stream import stream_router
from polypdet.api.service import DetectionService
from polypdet.cache import make_cache
from polypdet.config import Settings, get_settings
from polypdet.engine.detector import Detector
from polypdet.security.context import SecurityContext
from polypdet.security.crypto import Envelope
from polypdet.security.keys import key_provider_from_settings
from polypdet.security.network import ClientAddressPolicy
from polypdet.security.ratelimit import RateLimiter
from polypdet.store import ResultStore

log = logging.getLogger(__name__)


def warm_up(detector: Detector) -> None:
    """Inference at start so the first requests do not pay for compilation: a 4:3 endoscopy frame and a square."""
    size = detector.input_size
    for height in (size * 3 // 4, size):
        detector.detect(np.zeros((height, size, 3), dtype=np.uint8))


def create_app(settings: Settings | None = None, detector: Detector | None = None) -> FastAPI:
    """The service; loads the model (unless given one), migrates the store and starts batching on startup.

    Every ``/api`` route needs a caller (``polypdet.api.auth``); the guard middleware applies the IP allow-list,
    rate limits and secure headers before any route runs.
    """
    settings = settings or get_settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        start = time.perf_counter()
        model = detector or settings.load_detector()
        warm_up(model)
        keys = key_provider_from_settings(settings)
        store = ResultStore.open(settings.resolved_database_url, cipher=Envelope(keys))
        app.state.security = SecurityContext(settings, store.engine, keys)
        cache = make_cache(settings.redis_url, settings.cache_size, settings.cache_ttl_s, settings.cache_prefix)
        service = DetectionService(settings, model, store, cache)
        service.start()
        app.state.service = service
        app.state.jobs = open_video_jobs(settings, keys)
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
            jobs, app.state.jobs = app.state.jobs, None
            jobs.close()  # an in-process video job stops between two frames

    app = FastAPI(
        title="polypdet",
        version="0.1.0",
        lifespan=lifespan,
        description="Polyp detection for colonoscopy images: upload an image or DICOM file, get boxes.",
    )
    app.state.service = None
    install_error_handlers(app)
    for module in (detect, results, clinical, auth, admin, health, page):
        app.include_router(module.router)
    app.state.jobs = None
    app.include_router(jobs_router)  # video jobs: RQ workers, or this process without REDIS_URL
    app.include_router(stream_router(settings))  # /api/stream WebSocket, on a detector of its own
    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    app.add_middleware(
        GuardMiddleware,
        policy=ClientAddressPolicy(settings.allowed_networks, settings.trusted_proxies),
        limiter=RateLimiter(settings.rate_limit, settings.redis_url, settings.rate_limit_prefix),
        hsts_max_age_s=settings.hsts_max_age_s,
    )
    app.add_middleware(RequestContextMiddleware)  # outermost: request ids and the access log cover refusals too
    return app
