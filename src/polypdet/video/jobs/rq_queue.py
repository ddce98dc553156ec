"""Video jobs on RQ over Redis: the queue the service submits to, the job function and the worker class.

Any number of ``polypdet worker`` processes on any hosts share one queue. Each job runs in a work horse forked
by its worker, which proves it is alive every ``job_monitoring_interval`` seconds. A job whose worker dies
outright (SIGKILL, OOM, lost host) stops proving it; once its heartbeat is ``heartbeat_grace_s`` late, the next
worker maintenance (``StartedJobRegistry.cleanup``) puts it back on the queue while it has ``Retry`` attempts left.
A bad video fails at once and is never retried.
"""

from __future__ import annotations

import os
from datetime import datetime
from typing import Any

from redis import Redis, RedisError
from rq import Queue, Retry, Worker, get_current_job
from rq.exceptions import NoSuchJobError
from rq.job import Job
from rq.job import JobStatus as RQStatus

from polypdet.config import Settings, get_settings
from polypdet.video.jobs.records import JobFiles, JobOptions, JobState, JobStatus, QueueUnavailable
from polypdet.video.jobs.task import JobInputError, run_video_job

STATES = {
    RQStatus.CREATED: JobState.QUEUED,
    RQStatus.QUEUED: JobState.QUEUED,
    RQStatus.DEFERRED: JobState.QUEUED,
    RQStatus.SCHEDULED: JobState.QUEUED,
    RQStatus.STARTED: JobState.STARTED,
    RQStatus.FINISHED: JobState.FINISHED,
    RQStatus.FAILED: JobState.FAILED,
    RQStatus.STOPPED: JobState.FAILED,
    RQStatus.CANCELED: JobState.FAILED,
}


def _save_meta(job: Job) -> None:
    job.save_meta()  # type: ignore[no-untyped-call]


def perform(job_id: str, options: dict[str, Any], filename: str) -> dict[str, Any]:
    """The RQ job function (runs in the work horse): progress and failures go to ``job.meta``."""
    job = get_current_job()
    assert job is not None, "perform() runs inside an RQ worker"
    settings = get_settings()
    job.meta["attempts"] = int(job.meta.get("attempts", 0)) + 1
    job.meta["workers"] = [*job.meta.get("workers", []), os.environ.get("RQ_WORKER_ID", "")]
    job.meta["progress"] = [0, None]
    job.meta.pop("error", None)
    _save_meta(job)

    def progress(done: int, total: int | None) -> None:
        job.meta["progress"] = [done, total]
        _save_meta(job)

    try:
        summary = run_video_job(
            JobFiles.of(settings.polypdet_home, job_id),
            JobOptions.from_json(options),
            settings.load_detector(),
            settings,
            progress,
            filename,
        )
    except JobInputError as error:
        job.meta["error"] = str(error)
        _save_meta(job)
        job.retries_left = 0  # the same file fails the same way on every worker
        raise
    return {"frames": summary.frames, "unique_polyps": summary.unique_polyps}


class VideoWorker(Worker):
    """RQ's forking worker; a dead worker's job is retried ``heartbeat_grace_s`` after its last heartbeat
    (RQ's own grace is a fixed 60 s)."""

    def __init__(self, *args: Any, heartbeat_grace_s: int = 60, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.heartbeat_grace_s = heartbeat_grace_s

    def get_heartbeat_ttl(self, job: Job, working_time: float = 0.0) -> int:
        interval = float(self.job_monitoring_interval)
        if job.timeout is not None and job.timeout > 0:
            interval = min(interval, job.timeout - working_time)
        return max(1, int(interval)) + self.heartbeat_grace_s


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat().replace("+00:00", "Z") if moment else None


def _failure_reason(job: Job) -> str:
    if job.meta.get("error"):
        return str(job.meta["error"])
    result = job.latest_result()
    text = (result.exc_string if result is not None else None) or ""
    attempts = int(job.meta.get("attempts", 0))
    if "AbandonedJobError" in text or "Work-horse terminated" in text:
        return f"the worker processing the video stopped; gave up after {attempts} attempt(s)"
    if "JobTimeoutException" in text:
        return "the job ran longer than JOB_TIMEOUT_S"
    last = text.strip().splitlines()[-1] if text.strip() else "unknown error"
    return f"the job crashed: {last[:300]}"


class RQJobQueue:
    """Submits video jobs to the RQ queue ``JOB_QUEUE`` and reads their state back from Redis."""

    name = "rq"

    def __init__(self, settings: Settings) -> None:
        assert settings.redis_url, "RQJobQueue needs REDIS_URL"
        self.settings = settings
        self.connection = Redis.from_url(settings.redis_url, socket_connect_timeout=2, health_check_interval=30)
        self.queue = Queue(settings.job_queue, connection=self.connection)

    def submit(self, job_id: str, owner: str, options: JobOptions, filename: str) -> None:
        retries = self.settings.job_retries
        try:
            self.queue.enqueue(
                perform,
                job_id,
                options.to_json(),
                filename,
                job_id=job_id,
                job_timeout=self.settings.job_timeout_s,
                retry=Retry(max=retries) if retries else None,
                result_ttl=self.settings.job_ttl_s,
                failure_ttl=self.settings.job_ttl_s,
                meta={"owner": owner, "filename": filename},
                description=f"video job {job_id}",
            )
        except RedisError as error:
            raise QueueUnavailable(f"the job queue is unavailable ({type(error).__name__})") from None

    def status(self, job_id: str) -> JobStatus | None:
        try:
            job = Job.fetch(job_id, connection=self.connection)
            if job.origin != self.queue.name:
                return None
            state = STATES.get(job.get_status(refresh=False) or RQStatus.QUEUED, JobState.QUEUED)
            reason = _failure_reason(job) if state is JobState.FAILED else None
        except NoSuchJobError:
            return None
        except RedisError as error:
            raise QueueUnavailable(f"the job queue is unavailable ({type(error).__name__})") from None
        done, total = job.meta.get("progress", [0, None])
        return JobStatus(
            id=job_id,
            owner=str(job.meta.get("owner", "")),
            state=state,
            filename=str(job.meta.get("filename", "")),
            frames_done=int(done),
            frames_total=total,
            attempts=int(job.meta.get("attempts", 0)),
            error=reason,
            created_at=_iso(job.created_at),
            started_at=_iso(job.started_at) if state is not JobState.QUEUED else None,
            ended_at=_iso(job.ended_at) if state.is_final else None,
        )

    def close(self) -> None:
        self.connection.close()
