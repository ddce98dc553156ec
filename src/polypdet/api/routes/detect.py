"""``POST /api/detect``: JSON base64 (image or DICOM), multipart upload or a raw image/DICOM body."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request

from polypdet.api.auth import Caller, audit, require
from polypdet.api.deps import Service
from polypdet.api.errors import ERROR_RESPONSES
from polypdet.api.intake import read_upload
from polypdet.api.schemas import DetectRequest, DetectResponse, MultipartUpload
from polypdet.security.roles import Permission

router = APIRouter(tags=["detect"])

BINARY = {"schema": {"type": "string", "format": "binary"}}
REQUEST_BODY = {
    "required": True,
    "content": {
        "application/json": {"schema": DetectRequest.model_json_schema()},
        "multipart/form-data": {"schema": MultipartUpload.model_json_schema()},
        "image/jpeg": BINARY,
        "image/png": BINARY,
        "application/dicom": BINARY,
    },
}


@router.post(
    "/api/detect",
    response_model=DetectResponse,
    response_model_by_alias=True,
    response_model_exclude_none=True,
    responses=ERROR_RESPONSES,
    openapi_extra={"requestBody": REQUEST_BODY},
    summary="Detect polyps in one image or DICOM file",
)
async def detect(
    request: Request,
    service: Service,
    caller: Annotated[Caller, Depends(require(Permission.DETECT))],
    conf: Annotated[float | None, Query(ge=0.0, le=1.0, description="minimum confidence (raw bodies)")] = None,
    max_det: Annotated[int | None, Query(ge=1, le=1000, description="most boxes returned (raw bodies)")] = None,
) -> dict[str, Any]:
    """Body fields ``conf``/``max_det`` win over the query parameters; the defaults come from the settings."""
    upload = await read_upload(request, service.settings.max_upload_bytes)
    if upload.conf is None and upload.max_det is None:
        upload = type(upload)(upload.data, upload.kind, conf, max_det)
    result = await service.detect(upload, owner=caller.subject)
    await audit(request, "result.created", caller.audit_name, target=f"result:{result['id']}")
    return result
