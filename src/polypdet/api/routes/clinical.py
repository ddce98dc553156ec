"""A stored result for the hospital: DICOM SR and Secondary Capture for the PACS, a FHIR R4 Bundle for the EMR.

Each download is a read of patient data: owner-checked and audited like ``GET /api/results/{id}``.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Annotated

from fastapi import APIRouter, Depends, Path, Request, Response
from fastapi.concurrency import run_in_threadpool

from polypdet.api.auth import Caller, audit, require
from polypdet.api.deps import Service
from polypdet.api.errors import ERROR_RESPONSES, ApiError
from polypdet.api.reports import fhir_json, sc_bytes, sr_bytes
from polypdet.api.schemas import ErrorOut
from polypdet.security.roles import Permission
from polypdet.store import ResultRecord

log = logging.getLogger(__name__)
router = APIRouter(prefix="/api/results", tags=["clinical"])

Reader = Annotated[Caller, Depends(require(Permission.READ_OWN_RESULTS, Permission.READ_ALL_RESULTS))]
ResultId = Annotated[str, Path(pattern=r"^[0-9a-f]{32}$", description="the id returned by POST /api/detect")]
DICOM = "application/dicom"
FHIR = "application/fhir+json"
BINARY = {"schema": {"type": "string", "format": "binary"}}


def responses(media_type: str, description: str) -> dict[int | str, dict[str, object]]:
    return {
        200: {"content": {media_type: BINARY if media_type == DICOM else {"schema": {"type": "object"}}}},
        404: {"model": ErrorOut, "description": "no such result, or not yours"},
        409: {"model": ErrorOut, "description": description},
        **{status: ERROR_RESPONSES[status] for status in (401, 403, 422, 429)},
    }


async def readable(result_id: str, service: Service, caller: Caller, request: Request, output: str) -> ResultRecord:
    """The caller's result (any result for auditors and admins); the read is audited, found or not."""
    record = await run_in_threadpool(service.store.get, result_id, caller.owner_filter)
    outcome = "success" if record is not None else "not_found"
    target = f"result:{result_id}"
    await audit(request, "result.read", caller.audit_name, outcome, target=target, details={"output": output})
    if record is None:  # also for another owner's result: its existence is not revealed
        raise ApiError(404, "not_found", f"no result {result_id}")
    return record


async def built(build: Callable[..., bytes], *args: object) -> bytes:
    """Run an output builder off the event loop; a source the DICOM/FHIR libraries refuse is a 422."""
    try:
        return await run_in_threadpool(build, *args)
    except ApiError:
        raise
    except (ValueError, TypeError, AttributeError, KeyError) as error:
        log.warning("output not built: %s: %s", type(error).__name__, error)
        raise ApiError(422, "unsupported_source", f"cannot build this output for the source: {error}"[:300]) from None


def attachment(content: bytes, media_type: str, name: str) -> Response:
    return Response(content, media_type=media_type, headers={"Content-Disposition": f'attachment; filename="{name}"'})


@router.get(
    "/{result_id}/sr",
    response_class=Response,
    responses=responses(DICOM, "the DICOM header of the source was not kept"),
    summary="The result as a DICOM Comprehensive SR (TID 1500)",
)
async def get_sr(result_id: ResultId, service: Service, caller: Reader, request: Request) -> Response:
    """Boxes as polylines on the referenced source frames, patient and study copied from the source DICOM."""
    record = await readable(result_id, service, caller, request, "sr")
    return attachment(await built(sr_bytes, record), DICOM, f"{result_id}-sr.dcm")


@router.get(
    "/{result_id}/sc",
    response_class=Response,
    responses=responses(DICOM, "the source image was not kept (STORE_SOURCE_IMAGES was off)"),
    summary="The result as a DICOM Secondary Capture with the boxes burned in",
)
async def get_sc(result_id: ResultId, service: Service, caller: Reader, request: Request) -> Response:
    """The source frame with the most confident polyp, boxes drawn; needs ``STORE_SOURCE_IMAGES`` at upload."""
    record = await readable(result_id, service, caller, request, "sc")
    source = await run_in_threadpool(service.store.source_image, result_id)
    if source is None:
        detail = "the source image of this result was not kept; the SC needs STORE_SOURCE_IMAGES=true at upload"
        raise ApiError(409, "source_unavailable", detail)
    return attachment(await built(sc_bytes, record, source), DICOM, f"{result_id}-sc.dcm")


@router.get(
    "/{result_id}/fhir",
    response_class=Response,
    responses=responses(FHIR, "the DICOM header of the source was not kept"),
    summary="The result as a FHIR R4 Bundle (DiagnosticReport + one Observation per polyp)",
)
async def get_fhir(result_id: ResultId, service: Service, caller: Reader, request: Request) -> Response:
    """A ``collection`` Bundle validated with fhir.resources; ``derivedFrom`` the ImagingStudy for DICOM."""
    record = await readable(result_id, service, caller, request, "fhir")
    return Response(await built(fhir_json, record), media_type=FHIR)
