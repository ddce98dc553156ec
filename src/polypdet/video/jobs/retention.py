"""Job folders are not kept forever: ``VIDEO_JOB_RETENTION_HOURS`` after a job's last change, its folder goes.

The service sweeps ``POLYPDET_HOME/jobs`` when it starts and then every hour (:class:`RetentionSweeper`). A job
the queue still reports as queued or running is left alone, however old; a job the queue no longer knows is old
and finished.
"""

from __future__ import annotations

import logging
import shutil
import threading
import time
from collections.abc import Callable
from pathlib import Path

log = logging.getLogger(__name__)

SWEEP_INTERVAL_S = 3600.0


def last_change(folder: Path) -> float:
    """The newest modification time of the folder and the files in it."""
    times = [folder.stat().st_mtime]
    for path in folder.iterdir():
        try:
            times.append(path.stat().st_mtime)
        except FileNotFoundError:  # a temporary file renamed meanwhile
            continue
    return max(times)


def remove_expired_jobs(
    home: Path, max_age_s: float, in_progress: Callable[[str], bool], now: float | None = None
) -> list[str]:
    """Delete the job folders unchanged for more than ``max_age_s`` whose job is not ``in_progress``; their ids."""
    jobs = home / "jobs"
    if not jobs.is_dir():
        return []
    now = time.time() if now is None else now
    removed = []
    for folder in sorted(jobs.iterdir()):
        try:
            expired = folder.is_dir() and now - last_change(folder) > max_age_s
        except FileNotFoundError:  # removed by another process meanwhile
            continue
        if expired and not in_progress(folder.name):
            shutil.rmtree(folder, ignore_errors=True)
            removed.append(folder.name)
    return removed


class RetentionSweeper:
    """A daemon thread running :func:`remove_expired_jobs` at once and then every ``interval_s``."""

    def __init__(
        self,
        home: Path,
        max_age_s: float,
        in_progress: Callable[[str], bool],
        interval_s: float = SWEEP_INTERVAL_S,
    ) -> None:
        self.home = home
        self.max_age_s = max_age_s
        self.in_progress = in_progress
        self.interval_s = interval_s
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="polypdet-job-retention", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self, timeout_s: float = 10.0) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout_s)

    def sweep(self) -> list[str]:
        removed = remove_expired_jobs(self.home, self.max_age_s, self.in_progress)
        if removed:
            log.info("video jobs: removed %d folder(s) past their retention: %s", len(removed), ", ".join(removed))
        return removed

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self.sweep()
            except Exception:  # the queue is down, a folder is unreadable: try again next time
                log.exception("video jobs: the retention sweep failed")
            self._stop.wait(self.interval_s)
