"""``/api/stream`` on the service: the video package's WebSocket router, behind the same authentication.

It runs on a detector of its own, loaded when the first client connects: the service's detector is in use by
the batcher thread at any moment, and one inference request must not be shared between threads.
"""

from __future__ import annotations

from functools import cache

from fastapi import APIRouter, Depends

from polypdet.api.auth import require
from polypdet.config import Settings
from polypdet.engine.detector import Detector, DetectParams
from polypdet.security.roles import Permission
from polypdet.video.websocket import create_stream_router


def stream_router(settings: Settings) -> APIRouter:
    """Callers need the ``detect`` permission; the handshake of anyone else is refused (HTTP 403)."""

    @cache  # called on the event loop only (once per connection), so no lock is needed
    def detector() -> Detector:
        return settings.load_detector(hint="latency")

    params = DetectParams(conf=settings.confidence_threshold, max_det=settings.max_detections)
    router = APIRouter(dependencies=[Depends(require(Permission.DETECT))])
    router.include_router(create_stream_router(detector, params=params))
    return router
