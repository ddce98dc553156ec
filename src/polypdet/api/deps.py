"""Route dependencies. Authentication plugs in by replacing :func:`get_caller` (or overriding it in the app)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request

from polypdet.api.errors import ApiError
from polypdet.api.service import DetectionService


@dataclass(frozen=True)
class Caller:
    """Who is asking. ``sees_all`` callers read every owner's results; others only their own."""

    subject: str
    roles: frozenset[str] = frozenset()
    sees_all: bool = False

    @property
    def owner_filter(self) -> str | None:
        return None if self.sees_all else self.subject


ANONYMOUS = Caller(subject="anonymous")


async def get_caller() -> Caller:
    """Everyone is the anonymous caller until the security layer provides real identities."""
    return ANONYMOUS


def get_service(request: Request) -> DetectionService:
    service: DetectionService | None = request.app.state.service
    if service is None:
        raise ApiError(503, "not_ready", "the service is starting or stopping", {"Retry-After": "1"})
    return service


CurrentCaller = Annotated[Caller, Depends(get_caller)]
Service = Annotated[DetectionService, Depends(get_service)]
