"""Route dependencies: the caller (authenticated in :mod:`polypdet.api.auth`) and the detection service."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from polypdet.api.auth import Caller, authenticate
from polypdet.api.errors import ApiError
from polypdet.api.service import DetectionService

# ``get_caller`` is the authentication itself, so that an app (or a test) can override it in one place.
get_caller = authenticate


def get_service(request: Request) -> DetectionService:
    service: DetectionService | None = request.app.state.service
    if service is None:
        raise ApiError(503, "not_ready", "the service is starting or stopping", {"Retry-After": "1"})
    return service


CurrentCaller = Annotated[Caller, Depends(get_caller)]
Service = Annotated[DetectionService, Depends(get_service)]

__all__ = ["Caller", "CurrentCaller", "Service", "get_caller", "get_service"]
