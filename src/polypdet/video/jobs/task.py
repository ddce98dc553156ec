"""The work of one video job, the same on an RQ worker and in the service's own thread."""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable

from polypdet.config import Settings
from polypdet.engine.detector import Detector, DetectParams
from polypdet.security.keys import key_provider_from_settings
from polypdet.security.sealed_files import FileSealer
from polypdet.video.errors import VideoError
from polypdet.video.jobs.records import JobFiles, JobOptions
from polypdet.video.pipeline import VideoOptions, process_video
from polypdet.video.records import VideoSummary
from polypdet.video.source import VideoFile

Progress = Callable[[int, int | None], None]
"""``progress(frames_done, frames_total)``; may raise to stop the job."""


class JobInputError(Exception):
    """The upload is not a usable video (not a video, truncated, no frames, unknown codec): retrying cannot help."""


class Throttled:
    """Passes on frame counts at most every ``interval_s`` seconds (and always the first and the last)."""

    def __init__(self, report: Progress, total: int | None, interval_s: float = 0.5) -> None:
        self.report = report
        self.total = total
        self.interval_s = interval_s
        self.done = 0
        self._last = 0.0

    def __call__(self, frames: int) -> None:
        self.done += frames
        now = time.monotonic()
        if now - self._last >= self.interval_s or self.done == self.total:
            self._last = now
            self.report(self.done, self.total)


def run_video_job(
    files: JobFiles, options: JobOptions, detector: Detector, settings: Settings, progress: Progress, source_name: str
) -> VideoSummary:
    """Annotated video, CSV and summary into ``files``, sealed; the upload is deleted once they are written.

    Raises :class:`JobInputError` for a bad video (the upload is deleted too: it will never work).
    """
    upload = files.input
    if upload is None:
        raise JobInputError("the uploaded video is gone (job folder cleaned up?)")
    sealer = FileSealer(key_provider_from_settings(settings))
    conf = settings.confidence_threshold if options.conf is None else options.conf
    video_options = VideoOptions(
        params=DetectParams(conf=conf, max_det=settings.max_detections),
        skip=options.skip,
        max_frames=options.max_frames,
    )
    try:
        with VideoFile(upload) as video:
            total = min(filter(None, (video.info.frame_count, options.max_frames)), default=None)
            counter = Throttled(progress, total)
            progress(0, total)
            summary = process_video(detector, video, files.video, files.csv, video_options, progress=counter)
            progress(counter.done, counter.done)
    except VideoError as error:
        for path in (upload, files.video, files.csv):  # part of a bad video helps nobody: keep no copy of it
            path.unlink(missing_ok=True)
        raise JobInputError(str(error)) from None
    # The summary names the files as the caller knows them, not by their place on the server.
    summary = dataclasses.replace(
        summary, source=source_name, outputs={"video": files.video.name, "csv": files.csv.name}
    )
    # The encoder and the CSV writer need plain files; they are sealed as soon as they are complete.
    for output in (files.video, files.csv):
        sealer.seal_in_place(output, files.aad(output))
    sealer.write_bytes(files.summary, summary.json_bytes(), files.aad(files.summary))
    upload.unlink(missing_ok=True)
    return summary
