"""Stored results: one by id, or pages of the caller's results, newest first."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Query
from fastapi.concurrency import run_in_threadpool

from polypdet.api.deps import CurrentCaller, Service
from polypdet.api.errors import ERROR_RESPONSES, ApiError
from polypdet.api.schemas import ErrorOut, ResultList, StoredResult
from polypdet.api.service import record_json
from polypdet.store.store import InvalidCursorError

router = APIRouter(prefix="/api/results", tags=["results"])
NOT_FOUND: dict[int | str, dict[str, object]] = {
    404: {"model": ErrorOut, "description": "no such result, or not yours"},
    422: ERROR_RESPONSES[422],
}
ResultId = Annotated[str, Path(pattern=r"^[0-9a-f]{32}$", description="the id returned by POST /api/detect")]


@router.get("/{result_id}", response_model=StoredResult, responses=NOT_FOUND)
async def get_result(result_id: ResultId, service: Service, caller: CurrentCaller) -> dict[str, Any]:
    record = await run_in_threadpool(service.store.get, result_id, caller.owner_filter)
    if record is None:
        raise ApiError(404, "not_found", f"no result {result_id}")
    return record_json(record)


@router.get("", response_model=ResultList, responses={400: ERROR_RESPONSES[400], 422: ERROR_RESPONSES[422]})
async def list_results(
    service: Service,
    caller: CurrentCaller,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
    cursor: Annotated[str | None, Query(max_length=200, description="next_cursor of the previous page")] = None,
) -> dict[str, Any]:
    try:
        page = await run_in_threadpool(service.store.page, limit, cursor, caller.owner_filter)
    except InvalidCursorError as error:
        raise ApiError(400, "invalid_cursor", str(error)) from None
    return {"items": [record_json(r) for r in page.items], "next_cursor": page.next_cursor}
