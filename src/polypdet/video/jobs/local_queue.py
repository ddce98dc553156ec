"""Video jobs in a thread of the service itself, for a service without ``REDIS_URL`` (``make serve`` alone).

Jobs run one at a time, in submission order. Each job's record is ``job.json`` in its folder, so every process
of the service reads the same state. Nothing survives the process: a job whose process ended before it
finished reads as failed (use ``polypdet worker`` with Redis for jobs that outlive a restart).
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from polypdet.config import Settings
from polypdet.engine.detector import Detector
from polypdet.result import utc_now_iso
from polypdet.video.jobs.records import JobFiles, JobOptions, JobState, JobStatus

log = logging.getLogger(__name__)


class _Stopping(Exception):
    """The service is shutting down: the running job stops between frames."""


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _write(path: Path, status: JobStatus) -> None:
    """Atomically: readers in other threads and processes never see half a record."""
    temporary = path.with_suffix(".tmp")
    temporary.write_text(json.dumps({"status": status.to_json(), "pid": os.getpid()}), encoding="utf-8")
    os.replace(temporary, path)


def _read(path: Path) -> tuple[JobStatus, int] | None:
    try:
        record: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    except (FileNotFoundError, ValueError):
        return None
    return JobStatus.from_json(record["status"]), int(record["pid"])


class LocalJobQueue:
    """One worker thread; the detector (its own, not the service's) is loaded when the first job starts."""

    name = "in-process"

    def __init__(self, settings: Settings, load_detector: Callable[[], Detector]) -> None:
        self.settings = settings
        self._load_detector = load_detector
        self._detector: Detector | None = None
        self._stopping = threading.Event()
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="video-job")

    def submit(self, job_id: str, owner: str, options: JobOptions, filename: str) -> None:
        files = JobFiles.of(self.settings.polypdet_home, job_id)
        _write(files.state, JobStatus(job_id, owner, JobState.QUEUED, filename, created_at=utc_now_iso()))
        self._executor.submit(self._run, files, options)

    def status(self, job_id: str) -> JobStatus | None:
        record = _read(JobFiles.of(self.settings.polypdet_home, job_id).state)
        if record is None:
            return None
        status, pid = record
        if not status.state.is_final and pid != os.getpid() and not _alive(pid):
            return dataclasses.replace(
                status, state=JobState.FAILED, error="the service stopped before the job finished"
            )
        return status

    def _run(self, files: JobFiles, options: JobOptions) -> None:
        record = _read(files.state)
        assert record is not None
        status = dataclasses.replace(record[0], state=JobState.STARTED, started_at=utc_now_iso(), attempts=1)
        _write(files.state, status)

        def progress(done: int, total: int | None) -> None:
            if self._stopping.is_set():
                raise _Stopping
            _write(files.state, dataclasses.replace(status, frames_done=done, frames_total=total))

        from polypdet.video.jobs.task import JobInputError, run_video_job  # video libraries: loaded by the first job

        final: dict[str, Any] = {"state": JobState.FINISHED}
        try:
            self._detector = self._detector or self._load_detector()
            run_video_job(files, options, self._detector, self.settings, progress, status.filename)
        except JobInputError as error:
            final = {"state": JobState.FAILED, "error": str(error)}
        except _Stopping:
            final = {"state": JobState.FAILED, "error": "the service stopped before the job finished"}
        except Exception as error:
            log.exception("video job %s crashed", status.id)
            final = {"state": JobState.FAILED, "error": f"the job crashed: {type(error).__name__}"}
        current = _read(files.state)
        latest = current[0] if current else status
        _write(files.state, dataclasses.replace(latest, ended_at=utc_now_iso(), **final))

    def close(self) -> None:
        """Stop the running job between frames; jobs still waiting read as failed once the process ends."""
        self._stopping.set()
        self._executor.shutdown(wait=True, cancel_futures=True)
