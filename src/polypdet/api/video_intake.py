"""Receive a video upload for ``POST /api/jobs/video``: multipart, capped while it streams, checked cheaply.

The body is counted as it arrives and refused (413) as soon as it passes ``MAX_VIDEO_UPLOAD_MB``; the file part
is spooled to disk by Starlette, never held in memory. A file FFmpeg cannot even open as a video is refused
(415) before any job exists; problems found only while decoding (truncation, no frames) fail the job instead.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import IO

from fastapi.concurrency import run_in_threadpool
from pydantic import BaseModel, Field, ValidationError
from starlette.datastructures import UploadFile
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.formparsers import MultiPartException
from starlette.requests import ClientDisconnect, Request
from starlette.types import Message, Receive

from polypdet.api.errors import ApiError, bad_input
from polypdet.api.intake import media_type
from polypdet.video.jobs.records import JobFiles, JobOptions

FIELD_BYTES = 1024  # the form's small fields (conf, skip, max_frames)


class VideoJobForm(BaseModel):
    """The multipart fields besides ``file``."""

    conf: float | None = Field(default=None, ge=0.0, le=1.0, description="minimum confidence (default: settings)")
    skip: int = Field(default=1, ge=1, le=1000, description="analyse every Nth frame; the others carry its boxes")
    max_frames: int | None = Field(default=None, ge=1, description="stop after this many frames")


class VideoUploadForm(VideoJobForm):
    file: bytes = Field(description="the video (mp4, avi, mpg, mov, mkv, ...)")


def _capped(receive: Receive, limit: int) -> Receive:
    size = 0

    async def capped() -> Message:
        nonlocal size
        message = await receive()
        if message["type"] == "http.request":
            size += len(message.get("body", b""))
            if size > limit:
                raise ApiError(413, "too_large", f"upload larger than {limit / 1024 / 1024:g} MB")
        return message

    return capped


def _copy(source: IO[bytes], target: Path) -> int:
    with target.open("wb") as out:
        shutil.copyfileobj(source, out, 1024 * 1024)
    return target.stat().st_size


def _probe(path: Path) -> None:
    from polypdet.video.errors import VideoError
    from polypdet.video.source import VideoFile

    try:
        VideoFile(path).close()  # reads the container header only
    except VideoError as error:
        raise ApiError(415, "not_a_video", f"the upload is not a usable video: {error}") from None


async def receive_video(request: Request, limit: int, files: JobFiles) -> tuple[str, JobOptions]:
    """Write the upload into ``files`` and return its client-side name and the job options."""
    if media_type(request) != "multipart/form-data":
        raise ApiError(415, "unsupported_media_type", "send multipart/form-data with the video in a field named 'file'")
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise ApiError(413, "too_large", f"upload larger than {limit / 1024 / 1024:g} MB")
    capped = Request(request.scope, _capped(request.receive, limit))
    try:
        form = await capped.form(max_files=1, max_fields=3, max_part_size=FIELD_BYTES)
    except (MultiPartException, StarletteHTTPException) as error:
        raise bad_input(f"invalid multipart body: {getattr(error, 'detail', error)}") from None
    except ClientDisconnect:
        raise ApiError(400, "disconnected", "the client closed the connection before the upload ended") from None
    try:
        upload = form.get("file")
        if not isinstance(upload, UploadFile):
            raise ApiError(422, "invalid_request", "multipart body needs a file field named 'file'")
        extra = set(form.keys()) - {"file", *VideoJobForm.model_fields}
        if extra:
            raise ApiError(422, "invalid_request", f"unexpected form fields: {', '.join(sorted(extra))}")
        try:
            fields = VideoJobForm.model_validate({k: v for k, v in form.items() if k != "file" and v != ""})
        except ValidationError as error:
            first = error.errors()[0]
            raise ApiError(422, "invalid_request", f"{first['loc'][0]}: {first['msg']}") from None
        filename = Path(upload.filename or "video").name[:200]
        target = files.input_path(filename)
        if await run_in_threadpool(_copy, upload.file, target) == 0:
            raise bad_input("the uploaded file is empty")
    finally:
        await form.close()
    await run_in_threadpool(_probe, target)
    return filename, JobOptions(conf=fields.conf, skip=fields.skip, max_frames=fields.max_frames)
