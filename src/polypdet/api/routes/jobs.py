"""Video jobs: ``POST /api/jobs/video`` uploads a video, ``GET /api/jobs/{id}`` follows it to its outputs.

The queue is RQ over ``REDIS_URL`` (``polypdet worker`` processes take the jobs) or, without Redis, a thread of
this service. Only the job's owner, or a caller who reads every owner's results, sees a job; to anyone else
it does not exist (404). Every read is audited, found or not. Outputs are sealed on disk and decrypted as they
are downloaded (range requests included); a job's folder is deleted ``VIDEO_JOB_RETENTION_HOURS`` after it ends.
"""

from __future__ import annotations

import shutil
import uuid
from dataclasses import dataclass
from enum import StrEnum
from functools import partial
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request, Response
from fastapi import Path as PathParam
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import StreamingResponse
from pydantic import BaseModel, Field

from polypdet.api.auth import Caller, audit, require
from polypdet.api.downloads import sealed_file_response
from polypdet.api.errors import ERROR_RESPONSES, ApiError
from polypdet.api.schemas import ErrorOut
from polypdet.api.video_intake import VideoUploadForm, receive_video
from polypdet.config import Settings
from polypdet.security.crypto import DecryptionError, KeyProvider
from polypdet.security.roles import Permission
from polypdet.security.sealed_files import FileSealer
from polypdet.video.jobs import JobFiles, JobQueue, JobState, JobStatus, QueueUnavailable, open_job_queue
from polypdet.video.jobs.retention import RetentionSweeper

router = APIRouter(prefix="/api/jobs", tags=["jobs"])

Submitter = Annotated[Caller, Depends(require(Permission.DETECT))]
Reader = Annotated[Caller, Depends(require(Permission.READ_OWN_RESULTS, Permission.READ_ALL_RESULTS))]
JobId = Annotated[str, PathParam(pattern=r"^[0-9a-f]{32}$", description="the id returned by POST /api/jobs/video")]


class Output(StrEnum):
    CSV = "csv"
    SUMMARY = "summary"
    VIDEO = "video"


OUTPUT_FILES = {
    Output.CSV: ("detections.csv", "text/csv"),
    Output.SUMMARY: ("summary.json", "application/json"),
    Output.VIDEO: ("annotated.mp4", "video/mp4"),
}


@dataclass
class VideoJobs:
    """What the routes need: the queue, where job folders live, the upload limit and the key to the outputs."""

    queue: JobQueue
    home: Path
    max_upload_bytes: int
    sealer: FileSealer
    sweeper: RetentionSweeper

    def close(self) -> None:
        self.sweeper.stop()
        self.queue.close()


def open_video_jobs(settings: Settings, keys: KeyProvider) -> VideoJobs:
    """RQ when ``REDIS_URL`` is set, else an in-process worker with its own detector (loaded by the first job).

    The retention sweep starts at once, and runs every hour after.
    """
    queue = open_job_queue(settings, settings.load_detector)
    max_age_s = settings.video_job_retention_hours * 3600
    sweeper = RetentionSweeper(settings.polypdet_home, max_age_s, partial(_in_progress, queue))
    sweeper.start()
    max_upload_bytes = int(settings.max_video_upload_mb * 1024 * 1024)
    return VideoJobs(queue, settings.polypdet_home, max_upload_bytes, FileSealer(keys), sweeper)


def _in_progress(queue: JobQueue, job_id: str) -> bool:
    status = queue.status(job_id)
    return status is not None and not status.state.is_final


def get_jobs(request: Request) -> VideoJobs:
    jobs: VideoJobs | None = getattr(request.app.state, "jobs", None)
    if jobs is None:
        raise ApiError(503, "not_ready", "the service is starting or stopping", {"Retry-After": "1"})
    return jobs


Jobs = Annotated[VideoJobs, Depends(get_jobs)]


class Progress(BaseModel):
    frames_done: int
    frames_total: int | None = Field(description="null when the video does not say how many frames it has")
    fraction: float | None


class JobOut(BaseModel):
    id: str
    state: JobState = Field(description="queued, started, finished or failed")
    filename: str = Field(description="the uploaded file's name")
    progress: Progress
    attempts: int = Field(description="runs so far (a job is run again when its worker died)")
    error: str | None = Field(description="why the job failed")
    created_at: str | None
    started_at: str | None
    ended_at: str | None
    links: dict[str, str] = Field(description="self; and csv, summary and video once finished")


def job_json(status: JobStatus) -> dict[str, Any]:
    base = f"/api/jobs/{status.id}"
    links = {"self": base}
    if status.state is JobState.FINISHED:
        links |= {output.value: f"{base}/{output.value}" for output in Output}
    total = status.frames_total
    return {
        "id": status.id,
        "state": status.state,
        "filename": status.filename,
        "progress": {
            "frames_done": status.frames_done,
            "frames_total": total,
            "fraction": round(min(status.frames_done / total, 1.0), 4) if total else None,
        },
        "attempts": status.attempts,
        "error": status.error,
        "created_at": status.created_at,
        "started_at": status.started_at,
        "ended_at": status.ended_at,
        "links": links,
    }


async def _status(jobs: VideoJobs, job_id: str) -> JobStatus | None:
    try:
        return await run_in_threadpool(jobs.queue.status, job_id)
    except QueueUnavailable as error:
        raise ApiError(503, "queue_unavailable", str(error), {"Retry-After": "5"}) from None


async def _visible(request: Request, jobs: VideoJobs, job_id: str, caller: Caller, action: str) -> JobStatus:
    status = await _status(jobs, job_id)
    visible = status is not None and (caller.sees_all or status.owner == caller.subject)
    await audit(request, action, caller.audit_name, "success" if visible else "not_found", target=f"job:{job_id}")
    if status is None or not visible:  # another owner's job: its existence is not revealed
        raise ApiError(404, "not_found", f"no job {job_id}")
    return status


UPLOAD_BODY = {"required": True, "content": {"multipart/form-data": {"schema": VideoUploadForm.model_json_schema()}}}
SUBMIT_ERRORS: dict[int | str, dict[str, object]] = {
    s: ERROR_RESPONSES[s] for s in (400, 401, 403, 413, 415, 422, 429, 503)
}
READ_ERRORS: dict[int | str, dict[str, object]] = {
    404: {"model": ErrorOut, "description": "no such job, or not yours"},
    **{s: ERROR_RESPONSES[s] for s in (401, 403, 422, 429, 503)},
}


@router.post(
    "/video",
    status_code=202,
    response_model=JobOut,
    responses=SUBMIT_ERRORS,
    openapi_extra={"requestBody": UPLOAD_BODY},
    summary="Upload a video to process in the background",
)
async def submit_video(request: Request, response: Response, caller: Submitter, jobs: Jobs) -> dict[str, Any]:
    """Multipart field ``file`` (the video), optional ``conf``, ``skip``, ``max_frames``; answers 202 with the job."""
    job_id = uuid.uuid4().hex
    files = JobFiles.of(jobs.home, job_id)
    await run_in_threadpool(files.root.mkdir, parents=True)
    try:
        filename, options = await receive_video(request, jobs.max_upload_bytes, files)
        await run_in_threadpool(jobs.queue.submit, job_id, caller.subject, options, filename)
    except QueueUnavailable as error:
        shutil.rmtree(files.root, ignore_errors=True)
        raise ApiError(503, "queue_unavailable", str(error), {"Retry-After": "5"}) from None
    except BaseException:
        shutil.rmtree(files.root, ignore_errors=True)
        raise
    await audit(request, "job.created", caller.audit_name, target=f"job:{job_id}")
    status = await _status(jobs, job_id)
    response.headers["Location"] = f"/api/jobs/{job_id}"
    return job_json(status or JobStatus(job_id, caller.subject, JobState.QUEUED, filename))


@router.get("/{job_id}", response_model=JobOut, responses=READ_ERRORS, summary="A video job's state and outputs")
async def get_job(job_id: JobId, request: Request, caller: Reader, jobs: Jobs) -> dict[str, Any]:
    return job_json(await _visible(request, jobs, job_id, caller, "job.read"))


@router.get(
    "/{job_id}/{output}",
    response_class=StreamingResponse,
    responses={
        200: {"content": {"text/csv": {}, "application/json": {}, "video/mp4": {}}, "description": "the file"},
        206: {"description": "the byte range asked for with a Range header"},
        409: {"model": ErrorOut, "description": "the job has not finished (or failed)"},
        410: {"model": ErrorOut, "description": "the output was altered on disk: rerun the job"},
        416: {"model": ErrorOut, "description": "the Range header asks for bytes past the end"},
        **READ_ERRORS,
    },
    summary="Download a finished job's CSV, summary JSON or annotated video",
)
async def get_output(job_id: JobId, output: Output, request: Request, caller: Reader, jobs: Jobs) -> StreamingResponse:
    status = await _visible(request, jobs, job_id, caller, f"job.{output.value}.read")
    if status.state is not JobState.FINISHED:
        raise ApiError(409, "not_finished", f"job {job_id} is {status.state.value}; its outputs come when it finishes")
    name, media_type = OUTPUT_FILES[output]
    files = JobFiles.of(jobs.home, job_id)
    path = files.root / name
    try:
        sealed = await run_in_threadpool(jobs.sealer.open, path, files.aad(path))
    except FileNotFoundError:
        raise ApiError(404, "not_found", f"the {output.value} of job {job_id} is no longer kept") from None
    except DecryptionError:
        await audit(request, f"job.{output.value}.integrity", caller.audit_name, "failure", target=f"job:{job_id}")
        raise ApiError(
            410, "integrity_failed", f"the {output.value} of job {job_id} was altered on disk and is not served"
        ) from None
    return sealed_file_response(request, sealed, media_type, filename=f"polypdet-{job_id[:8]}-{name}")
