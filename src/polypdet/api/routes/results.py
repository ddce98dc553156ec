"""Stored results: one by id, or pages of the caller's results, newest first."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query, Request
from fastapi.concurrency import run_in_threadpool

from polypdet.api.auth import Caller, audit, require
from polypdet.api.deps import Service
from polypdet.api.errors import ERROR_RESPONSES, ApiError
from polypdet.api.schemas import ErrorOut, ResultList, StoredResult
from polypdet.api.service import record_json
from polypdet.security.roles import Permission
from polypdet.store.store import InvalidCursorError

router = APIRouter(prefix="/api/results", tags=["results"])
NOT_FOUND: dict[int | str, dict[str, object]] = {
    404: {"model": ErrorOut, "description": "no such result, or not yours"},
    **{status: ERROR_RESPONSES[status] for status in (401, 403, 422, 429)},
}
# Reading results is reading patient data: every read is audited, found or not.
Reader = Annotated[Caller, Depends(require(Permission.READ_OWN_RESULTS, Permission.READ_ALL_RESULTS))]
ResultId = Annotated[str, Path(pattern=r"^[0-9a-f]{32}$", description="the id returned by POST /api/detect")]


@router.get("/{result_id}", response_model=StoredResult, responses=NOT_FOUND, response_model_exclude_none=True)
async def get_result(result_id: ResultId, service: Service, caller: Reader, request: Request) -> dict[str, Any]:
    record = await run_in_threadpool(service.store.get, result_id, caller.owner_filter)
    outcome = "success" if record is not None else "not_found"
    await audit(request, "result.read", caller.audit_name, outcome, target=f"result:{result_id}")
    if record is None:  # also for another owner's result: its existence is not revealed
        raise ApiError(404, "not_found", f"no result {result_id}")
    return record_json(record)


@router.get("", response_model=ResultList, responses={s: ERROR_RESPONSES[s] for s in (400, 401, 403, 422, 429)})
async def list_results(
    service: Service,
    caller: Reader,
    request: Request,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
    cursor: Annotated[str | None, Query(max_length=200, description="next_cursor of the previous page")] = None,
) -> dict[str, Any]:
    try:
        page = await run_in_threadpool(service.store.page, limit, cursor, caller.owner_filter)
    except InvalidCursorError as error:
        raise ApiError(400, "invalid_cursor", str(error)) from None
    ids = [r.id for r in page.items]
    await audit(request, "result.listed", caller.audit_name, details={"results": ids, "all_owners": caller.sees_all})
    return {"items": [record_json(r) for r in page.items], "next_cursor": page.next_cursor}
