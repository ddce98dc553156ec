"""Every error leaves the service as ``{"error": code, "detail": text}``; status codes are chosen here."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from http import HTTPStatus

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from polypdet.api.metrics import ERRORS
from polypdet.api.schemas import ErrorOut

log = logging.getLogger(__name__)


class ApiError(Exception):
    """An expected failure with its HTTP status, short code and a sentence for the caller."""

    def __init__(self, status: int, code: str, detail: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(detail)
        self.status = status
        self.code = code
        self.detail = detail
        self.headers = headers


def bad_input(detail: str) -> ApiError:
    return ApiError(400, "bad_input", detail)


def error_response(status: int, code: str, detail: str, headers: Mapping[str, str] | None = None) -> JSONResponse:
    ERRORS.labels(code).inc()
    return JSONResponse({"error": code, "detail": detail}, status_code=status, headers=headers)


def status_code_name(status: int) -> str:
    try:
        return HTTPStatus(status).name.lower()
    except ValueError:
        return "error"


def _validation_detail(exc: RequestValidationError) -> str:
    parts = []
    for error in exc.errors()[:3]:
        where = ".".join(str(p) for p in error.get("loc", ()) if p != "body") or "body"
        parts.append(f"{where}: {error.get('msg', 'invalid')}")
    return "; ".join(parts) or "invalid request"


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(ApiError)
    async def api_error(_: Request, exc: ApiError) -> JSONResponse:
        return error_response(exc.status, exc.code, exc.detail, exc.headers)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        return error_response(exc.status_code, status_code_name(exc.status_code), str(exc.detail), exc.headers)

    @app.exception_handler(RequestValidationError)
    async def validation_error(_: Request, exc: RequestValidationError) -> JSONResponse:
        return error_response(422, "invalid_request", _validation_detail(exc))


ERROR_RESPONSES: dict[int | str, dict[str, object]] = {
    status: {"model": ErrorOut, "description": text}
    for status, text in {
        400: "bad input (not base64, not an image, corrupt or too large in pixels)",
        401: "missing, invalid, expired or revoked credentials",
        403: "your role may not do this, or your address is not allowed",
        413: "body larger than MAX_UPLOAD_MB",
        415: "unsupported content type",
        422: "invalid fields or parameters",
        429: "rate limit reached (see Retry-After)",
        503: "overloaded (see Retry-After), timed out or store unavailable",
    }.items()
}
