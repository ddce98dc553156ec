"""Job folders are deleted once their retention has passed, unless the queue still runs the job."""

from __future__ import annotations

import os
import time
from pathlib import Path

from polypdet.video.jobs.retention import RetentionSweeper, remove_expired_jobs

HOUR = 3600.0


def _job(home: Path, job_id: str, age_s: float, files: tuple[str, ...] = ("annotated.mp4", "summary.json")) -> Path:
    folder = home / "jobs" / job_id
    folder.mkdir(parents=True)
    moment = time.time() - age_s
    for name in files:
        (folder / name).write_bytes(b"sealed")
        os.utime(folder / name, (moment, moment))
    os.utime(folder, (moment, moment))
    return folder


def test_old_finished_jobs_go_recent_and_running_ones_stay(tmp_path: Path) -> None:
    old = _job(tmp_path, "old", 73 * HOUR)
    recent = _job(tmp_path, "recent", 71 * HOUR)
    running = _job(tmp_path, "running", 80 * HOUR, files=("input.mp4",))
    touched = _job(tmp_path, "touched", 100 * HOUR)
    (touched / "job.json").write_text("{}")  # a file changed just now: the job is not idle
    removed = remove_expired_jobs(tmp_path, 72 * HOUR, in_progress=lambda job_id: job_id == "running")
    assert removed == ["old"]
    assert not old.exists() and recent.exists() and running.exists() and touched.exists()


def test_no_jobs_folder_is_nothing_to_do(tmp_path: Path) -> None:
    assert remove_expired_jobs(tmp_path, HOUR, in_progress=lambda _: False) == []


def test_sweeper_runs_at_start_and_stops(tmp_path: Path) -> None:
    old = _job(tmp_path, "old", 2 * HOUR)
    sweeper = RetentionSweeper(tmp_path, HOUR, in_progress=lambda _: False, interval_s=HOUR)
    sweeper.start()
    deadline = time.monotonic() + 5
    while old.exists() and time.monotonic() < deadline:
        time.sleep(0.01)
    sweeper.stop()
    assert not old.exists() and not sweeper._thread.is_alive()


def test_a_failing_queue_keeps_everything_and_the_sweeper_alive(tmp_path: Path) -> None:
    old = _job(tmp_path, "old", 2 * HOUR)
    calls = []

    def unavailable(job_id: str) -> bool:
        calls.append(job_id)
        raise ConnectionError("redis is down")

    sweeper = RetentionSweeper(tmp_path, HOUR, in_progress=unavailable, interval_s=0.01)
    sweeper.start()
    deadline = time.monotonic() + 5
    while len(calls) < 2 and time.monotonic() < deadline:
        time.sleep(0.01)
    sweeper.stop()
    assert len(calls) >= 2 and old.exists()  # tried again, deleted nothing it could not check
