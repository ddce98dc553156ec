"""Video jobs: an uploaded video processed in the background into an annotated video, a CSV and a summary.

- ``records``: ``JobOptions``, ``JobState``, ``JobStatus`` and the job folder ``POLYPDET_HOME/jobs/<id>/``
- ``task``: ``run_video_job`` -- the work itself, the same wherever it runs
- ``rq_queue``: RQ over Redis (``REDIS_URL`` set): ``polypdet worker`` processes share the queue, dead workers'
  jobs are retried
- ``local_queue``: a thread of the service when ``REDIS_URL`` is unset

>>> queue = open_job_queue(settings, load_detector)           # doctest: +SKIP
>>> queue.submit(job_id, "user:7", JobOptions(skip=2), "procedure.mp4")
>>> queue.status(job_id).state
<JobState.QUEUED: 'queued'>
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

from polypdet.config import Settings
from polypdet.engine.detector import Detector
from polypdet.video.jobs.records import JobFiles, JobOptions, JobState, JobStatus, QueueUnavailable


class JobQueue(Protocol):
    name: str

    def submit(self, job_id: str, owner: str, options: JobOptions, filename: str) -> None: ...

    def status(self, job_id: str) -> JobStatus | None: ...

    def close(self) -> None: ...


def open_job_queue(settings: Settings, load_detector: Callable[[], Detector]) -> JobQueue:
    """RQ when ``REDIS_URL`` is set; otherwise jobs run in this process with a detector from ``load_detector``."""
    if settings.redis_url:
        from polypdet.video.jobs.rq_queue import RQJobQueue

        return RQJobQueue(settings)
    from polypdet.video.jobs.local_queue import LocalJobQueue

    return LocalJobQueue(settings, load_detector)


__all__ = ["JobFiles", "JobOptions", "JobQueue", "JobState", "JobStatus", "QueueUnavailable", "open_job_queue"]
