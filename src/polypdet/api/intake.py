"""Turn a ``POST /api/detect`` request into an :class:`Upload`: JSON base64, multipart or a raw body.

The body is read in chunks and refused as soon as it passes ``MAX_UPLOAD_MB``; nothing bigger is buffered.
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass
from typing import Literal

from pydantic import ValidationError
from starlette.datastructures import UploadFile
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.formparsers import MultiPartException
from starlette.requests import ClientDisconnect, Request
from starlette.types import Message

from polypdet.api.errors import ApiError, bad_input
from polypdet.api.schemas import DetectRequest, MultipartUpload

Kind = Literal["image", "dicom"]
RAW_TYPES: dict[str, Kind] = {
    "image/jpeg": "image",
    "image/png": "image",
    "image/bmp": "image",
    "image/tiff": "image",
    "image/webp": "image",
    "application/octet-stream": "image",
    "application/dicom": "dicom",
}
DICOM_SUFFIXES = (".dcm", ".dicom")


@dataclass(frozen=True)
class Upload:
    data: bytes
    kind: Kind
    conf: float | None = None
    max_det: int | None = None


def media_type(request: Request) -> str:
    return request.headers.get("content-type", "").split(";")[0].strip().lower()


async def read_body(request: Request, limit: int) -> bytes:
    """The whole body, or 413 as soon as it is longer than ``limit`` bytes."""
    too_large = ApiError(413, "too_large", f"body larger than {limit / 1024 / 1024:g} MB")
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise too_large
    chunks: list[bytes] = []
    size = 0
    try:
        async for chunk in request.stream():
            size += len(chunk)
            if size > limit:
                raise too_large
            chunks.append(chunk)
    except ClientDisconnect:
        raise ApiError(400, "disconnected", "the client closed the connection before the body was sent") from None
    return b"".join(chunks)


def b64decode(text: str, field: str) -> bytes:
    try:
        data = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise bad_input(f"'{field}' is not valid base64") from None
    if not data:
        raise bad_input(f"'{field}' is empty")
    return data


def from_json(body: bytes) -> Upload:
    try:
        payload = DetectRequest.model_validate_json(body)
    except ValidationError as error:
        first = error.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "body"
        raise ApiError(422, "invalid_request", f"{where}: {first['msg']}") from None
    if payload.image is not None:
        return Upload(b64decode(payload.image, "image"), "image", payload.conf, payload.max_det)
    return Upload(b64decode(payload.dicom or "", "dicom"), "dicom", payload.conf, payload.max_det)


async def from_multipart(request: Request, body: bytes, limit: int) -> Upload:
    async def replay() -> Message:
        return {"type": "http.request", "body": body, "more_body": False}

    try:
        form = await Request(request.scope, replay).form(max_files=1, max_fields=8, max_part_size=limit)
    except (MultiPartException, StarletteHTTPException) as error:
        raise bad_input(f"invalid multipart body: {getattr(error, 'detail', error)}") from None
    upload = form.get("file")
    if not isinstance(upload, UploadFile):
        raise ApiError(422, "invalid_request", "multipart body needs a file field named 'file'")
    extra = set(form.keys()) - {"file", "conf", "max_det"}
    if extra:
        raise ApiError(422, "invalid_request", f"unexpected form fields: {', '.join(sorted(extra))}")
    try:
        fields = MultipartUpload.model_validate({"file": b"", "conf": form.get("conf"), "max_det": form.get("max_det")})
    except ValidationError as error:
        first = error.errors()[0]
        raise ApiError(422, "invalid_request", f"{first['loc'][0]}: {first['msg']}") from None
    data = await upload.read()
    name = (upload.filename or "").lower()
    is_dicom = upload.content_type == "application/dicom" or name.endswith(DICOM_SUFFIXES)
    return Upload(data, "dicom" if is_dicom else "image", fields.conf, fields.max_det)


async def read_upload(request: Request, limit: int) -> Upload:
    """Parse any of the three accepted body kinds; query ``conf``/``max_det`` apply to raw bodies."""
    kind = media_type(request)
    if kind != "application/json" and kind != "multipart/form-data" and kind not in RAW_TYPES:
        raise ApiError(
            415,
            "unsupported_media_type",
            "send application/json ({'image'|'dicom': base64}), multipart/form-data (field 'file'), "
            "or a raw image/jpeg, image/png or application/dicom body",
        )
    body = await read_body(request, limit)
    if kind == "application/json":
        return from_json(body)
    if kind == "multipart/form-data":
        return await from_multipart(request, body, limit)
    return Upload(body, RAW_TYPES[kind])
