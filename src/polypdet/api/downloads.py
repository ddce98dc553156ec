"""Download a sealed file: decrypted while it streams, with the headers and range requests of a plain file."""

from __future__ import annotations

import hashlib
import re
from email.utils import formatdate

from starlette.requests import Request
from starlette.responses import StreamingResponse

from polypdet.api.errors import ApiError
from polypdet.security.sealed_files import SealedFile

_SINGLE_RANGE = re.compile(r"^bytes=(\d*)-(\d*)$")


def requested_range(header: str | None, size: int) -> tuple[int, int] | None:
    """The one byte range asked for as ``(start, end)``, end exclusive; ``None`` serves the whole file.

    Several ranges or a malformed header are ignored (RFC 9110 lets a server answer with the whole file).
    """
    match = _SINGLE_RANGE.match(header.strip()) if header else None
    if match is None or match.groups() == ("", ""):
        return None
    first, last = match.groups()
    if first and last and int(last) < int(first):
        return None
    if size == 0 or (not first and int(last) == 0) or (first and int(first) >= size):
        raise _not_satisfiable(size)
    if not first:  # "bytes=-500": the last 500 bytes
        return max(size - int(last), 0), size
    return int(first), min(int(last) + 1, size) if last else size


def _not_satisfiable(size: int) -> ApiError:
    return ApiError(416, "range_not_satisfiable", f"the file has {size} bytes", {"Content-Range": f"bytes */{size}"})


def sealed_file_response(request: Request, sealed: SealedFile, media_type: str, filename: str) -> StreamingResponse:
    """A ``FileResponse`` look-alike (``filename`` is ASCII); chunks are opened in a worker thread as they go out."""
    modified = sealed.path.stat().st_mtime
    last_modified = formatdate(modified, usegmt=True)
    etag = f'"{hashlib.md5(f"{modified}-{sealed.size}".encode(), usedforsecurity=False).hexdigest()}"'
    headers = {
        "accept-ranges": "bytes",
        "content-disposition": f'attachment; filename="{filename}"',
        "last-modified": last_modified,
        "etag": etag,
    }
    if_range = request.headers.get("if-range")
    wanted = None
    if if_range is None or if_range in (etag, last_modified):
        wanted = requested_range(request.headers.get("range"), sealed.size)
    start, end = wanted or (0, sealed.size)
    if wanted:
        headers["content-range"] = f"bytes {start}-{end - 1}/{sealed.size}"
    headers["content-length"] = str(end - start)
    return StreamingResponse(
        sealed.read_range(start, end), status_code=206 if wanted else 200, headers=headers, media_type=media_type
    )
