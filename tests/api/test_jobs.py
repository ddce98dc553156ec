"""Video jobs over HTTP: in-process without Redis, and on two real ``polypdet worker`` processes over Redis.

The RQ tests share one pair of workers (module scope) and end with the one that SIGKILLs a worker mid-job.
"""

from __future__ import annotations

import csv
import io
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from fractions import Fraction
from pathlib import Path
from typing import Any

import av
import numpy as np
import psutil
import pytest
from auth_helpers import new_api_key
from fastapi.testclient import TestClient

from polypdet.cli.main import main
from polypdet.security.roles import Role
from polypdet.video.records import CSV_COLUMNS

CLIP = "videos/Polypileocecalvalve1.mpg"  # the shortest clip: 199 frames of 352x240 MPEG-1
POLYPDET = str(Path(sys.executable).with_name("polypdet"))


def write_h264(path: Path, frames: int) -> bytes:
    with av.open(str(path), "w", options={"movflags": "faststart"}) as out:
        stream = out.add_stream("libx264", rate=Fraction(25))
        stream.width, stream.height, stream.pix_fmt = 64, 48, "yuv420p"
        rng = np.random.default_rng(0)
        for _ in range(frames):
            image = rng.integers(0, 255, (48, 64, 3), dtype=np.uint8)
            out.mux(stream.encode(av.VideoFrame.from_ndarray(image, format="rgb24")))
        out.mux(stream.encode(None))
    return path.read_bytes()


@pytest.fixture(scope="module")
def clip_bytes(data: Path) -> bytes:
    return (data / CLIP).read_bytes()


@pytest.fixture(scope="module")
def broken(tmp_path_factory: pytest.TempPathFactory) -> dict[str, bytes]:
    """Videos FFmpeg opens but cannot finish: half an MP4, and an MP4 whose index promises frames never sent."""
    whole = write_h264(tmp_path_factory.mktemp("videos") / "whole.mp4", 50)
    return {"truncated": whole[: len(whole) // 2], "no frames": whole[: whole.find(b"mdat") + 4]}


def post_video(client: TestClient, data: bytes, name: str = "procedure.mpg", **fields: Any) -> Any:
    form = {key: str(value) for key, value in fields.items()}
    return client.post("/api/jobs/video", files={"file": (name, data, "video/mpeg")}, data=form)


def wait_until(client: TestClient, job_id: str, done: Callable[[dict[str, Any]], bool], timeout: float = 60) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        job = client.get(f"/api/jobs/{job_id}").json()
        if done(job):
            return job
        time.sleep(0.1)
    raise AssertionError(f"job {job_id} still {job['state']} after {timeout} s: {job}")


def finished(job: dict[str, Any]) -> bool:
    return job["state"] in ("finished", "failed")


def check_outputs(client: TestClient, job: dict[str, Any], frames: int) -> None:
    """The three downloads agree: CSV rows = summary boxes, every frame in the video, frame numbers in range."""
    summary = client.get(job["links"]["summary"]).json()
    assert summary["frames"] == frames and summary["source"] == job["filename"]
    table = client.get(job["links"]["csv"])
    assert table.headers["content-type"].startswith("text/csv")
    rows = list(csv.reader(io.StringIO(table.text)))
    assert tuple(rows[0]) == CSV_COLUMNS
    assert len(rows) - 1 == summary["boxes"] > 0  # the clip shows a polyp for most of its length
    assert all(0 <= int(row[0]) < frames and row[2] for row in rows[1:])  # tracked: every drawn box has an id
    video = client.get(job["links"]["video"])
    assert video.headers["content-type"] == "video/mp4"
    with av.open(io.BytesIO(video.content)) as container:
        decoded = [f for f in container.decode(video=0)]
    assert len(decoded) == frames and (decoded[0].width, decoded[0].height) == (352, 240)


# --- in process (no REDIS_URL) -------------------------------------------------------------------------------


@pytest.fixture
def local(make_client: Callable[..., TestClient]) -> TestClient:
    return make_client(backend="onnxruntime")


def test_job_in_process_finishes_with_its_outputs(local: TestClient, clip_bytes: bytes, tmp_path: Path) -> None:
    answer = post_video(local, clip_bytes, "Polypileocecalvalve1.mpg", skip=2, max_frames=60)
    assert answer.status_code == 202, answer.text
    job_id = answer.json()["id"]
    assert answer.headers["location"] == f"/api/jobs/{job_id}"
    assert answer.json()["state"] in ("queued", "started")
    job = wait_until(local, job_id, finished)
    assert job["state"] == "finished", job["error"]
    assert job["progress"] == {"frames_done": 60, "frames_total": 60, "fraction": 1.0}
    assert job["attempts"] == 1 and job["error"] is None and set(job["links"]) == {"self", "csv", "summary", "video"}
    check_outputs(local, job, frames=60)
    folder = tmp_path / "var" / "jobs" / job_id
    assert sorted(p.name for p in folder.iterdir()) == ["annotated.mp4", "detections.csv", "job.json", "summary.json"]


def test_outputs_are_sealed_on_disk_and_download_as_before(
    local: TestClient, clip_bytes: bytes, tmp_path: Path
) -> None:
    job_id = post_video(local, clip_bytes, "Polypileocecalvalve1.mpg", skip=3, max_frames=60).json()["id"]
    job = wait_until(local, job_id, finished)
    assert job["state"] == "finished", job["error"]
    folder = tmp_path / "var" / "jobs" / job_id
    raw = {name: (folder / name).read_bytes() for name in ("annotated.mp4", "detections.csv", "summary.json")}
    assert b"ftyp" not in raw["annotated.mp4"][:64]  # no MP4 header: not a playable file on disk
    assert b"frame" not in raw["detections.csv"] and b"Polypileocecalvalve1" not in raw["summary.json"]
    check_outputs(local, job, frames=60)  # decrypted on the way out

    video = local.get(job["links"]["video"])
    size = len(video.content)
    assert video.headers["content-length"] == str(size) and video.headers["accept-ranges"] == "bytes"
    assert video.headers["content-disposition"] == f'attachment; filename="polypdet-{job_id[:8]}-annotated.mp4"'
    last = min(size - 2, 70000)  # across the first 64 KiB chunk's end when the video is that long
    part = local.get(job["links"]["video"], headers={"Range": f"bytes=100-{last}"})
    assert part.status_code == 206 and part.content == video.content[100 : last + 1]
    assert part.headers["content-range"] == f"bytes 100-{last}/{size}"
    tail = local.get(job["links"]["video"], headers={"Range": "bytes=-10"})
    assert tail.status_code == 206 and tail.content == video.content[-10:]
    past = local.get(job["links"]["video"], headers={"Range": f"bytes={size}-"})
    assert past.status_code == 416 and past.headers["content-range"] == f"bytes */{size}"
    stale = local.get(job["links"]["video"], headers={"Range": "bytes=0-9", "If-Range": '"another-version"'})
    assert stale.status_code == 200 and stale.content == video.content

    # A sealed output copied over another job's does not open there.
    other = post_video(local, clip_bytes, skip=3, max_frames=3).json()["id"]
    assert wait_until(local, other, finished)["state"] == "finished"
    (tmp_path / "var" / "jobs" / other / "summary.json").write_bytes(raw["summary.json"])
    refused = local.get(f"/api/jobs/{other}/summary")
    assert refused.status_code == 410 and refused.json()["error"] == "integrity_failed"
    assert b"Polypileocecalvalve1" not in refused.content


def test_finished_job_folders_past_their_retention_are_deleted(
    make_client: Callable[..., TestClient], tmp_path: Path
) -> None:
    jobs = tmp_path / "var" / "jobs"
    old, recent = jobs / uuid.uuid4().hex, jobs / uuid.uuid4().hex
    for folder, age_h in ((old, 5), (recent, 3)):
        folder.mkdir(parents=True)
        (folder / "summary.json").write_bytes(b"sealed")
        moment = time.time() - age_h * 3600
        for path in (folder / "summary.json", folder):
            os.utime(path, (moment, moment))
    make_client(video_job_retention_hours=4)  # swept when the service starts
    deadline = time.monotonic() + 5
    while old.exists() and time.monotonic() < deadline:
        time.sleep(0.02)
    assert not old.exists() and recent.exists()


def test_only_the_owner_or_an_admin_reads_a_job(make_client: Callable[..., TestClient], clip_bytes: bytes) -> None:
    owner = make_client(backend="onnxruntime")
    job_id = post_video(owner, clip_bytes, skip=3, max_frames=30).json()["id"]
    job = wait_until(owner, job_id, finished)
    other = new_api_key(owner, Role.CLINICIAN)
    admin = new_api_key(owner, Role.ADMIN)
    auditor = new_api_key(owner, Role.AUDITOR)
    for path in (f"/api/jobs/{job_id}", *job["links"].values()):
        assert owner.get(path).status_code == 200
        refused = owner.get(path, headers={"X-API-Key": other})
        assert refused.status_code == 404 and refused.json()["error"] == "not_found"
        assert owner.get(path, headers={"X-API-Key": admin}).status_code == 200
        assert owner.get(path, headers={"X-API-Key": auditor}).status_code == 403  # no results permission
        assert owner.get(path, headers={"X-API-Key": "pdk_nope"}).status_code == 401
    unknown = owner.get(f"/api/jobs/{uuid.uuid4().hex}")
    assert unknown.status_code == 404
    forbidden = owner.post("/api/jobs/video", headers={"X-API-Key": auditor}, files={"file": ("a.mpg", b"x")})
    assert forbidden.status_code == 403


def test_bad_uploads_are_refused_or_fail_alone(
    local: TestClient,
    make_client: Callable[..., TestClient],
    clip_bytes: bytes,
    broken: dict[str, bytes],
    tmp_path: Path,
) -> None:
    # Refused before any job exists: not a video at all, empty, wrong encoding, bad fields.
    for data, status, code in ((b"these are not video frames\n" * 40, 415, "not_a_video"), (b"", 400, "bad_input")):
        answer = post_video(local, data, "notes.mp4")
        assert (answer.status_code, answer.json()["error"]) == (status, code), answer.text
    assert local.post("/api/jobs/video", content=clip_bytes, headers={"content-type": "video/mpeg"}).status_code == 415
    assert post_video(local, clip_bytes, skip=0).status_code == 422
    assert post_video(local, clip_bytes, colour="red").status_code == 422
    assert not (tmp_path / "var" / "jobs").exists() or not any((tmp_path / "var" / "jobs").iterdir())
    # Found only while decoding: the job fails with the reason; the next job is not affected.
    failed = {kind: post_video(local, data, f"{kind}.mp4").json()["id"] for kind, data in broken.items()}
    good = post_video(local, clip_bytes, skip=4, max_frames=20).json()["id"]
    for kind, reason in (("truncated", "truncated video: decoded"), ("no frames", "no frames that can be decoded")):
        job = wait_until(local, failed[kind], finished)
        assert job["state"] == "failed" and reason in job["error"] and "links" in job and len(job["links"]) == 1
        assert local.get(f"/api/jobs/{job['id']}/csv").json()["error"] == "not_finished"
        assert not any((tmp_path / "var" / "jobs" / job["id"]).glob("input.*"))  # the bad upload is not kept
    assert wait_until(local, good, finished)["state"] == "finished"
    # Larger than MAX_VIDEO_UPLOAD_MB: refused while it streams.
    small = make_client(backend="onnxruntime", max_video_upload_mb=0.25)
    answer = post_video(small, clip_bytes)
    assert (answer.status_code, answer.json()["error"]) == (413, "too_large")


def test_worker_needs_redis(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.delenv("REDIS_URL", raising=False)
    assert main(["worker"]) == 2
    assert "REDIS_URL is not set" in capsys.readouterr().err


# --- RQ over Redis, two `polypdet worker` processes ---------------------------------------------------------------


class Workers:
    """Two worker processes started by this module on a queue of their own; only they are ever signalled."""

    def __init__(self, redis_url: str, home: Path) -> None:
        self.redis_url = redis_url
        self.home = home
        self.queue = f"polypdet-test-{uuid.uuid4().hex[:10]}"
        self.processes: dict[str, subprocess.Popen[bytes]] = {}
        self.job_ids: list[str] = []
        env = os.environ | {
            "REDIS_URL": redis_url,
            "POLYPDET_HOME": str(home),
            "BACKEND": "onnxruntime",
            "THREADS": "1",
            "LOG_LEVEL": "WARNING",
        }
        for number in (1, 2):
            name = f"{self.queue}-w{number}"
            command = [POLYPDET, "worker", "--queue", self.queue, "--name", name]
            command += ["--heartbeat", "1", "--grace", "2", "--maintenance-interval", "1"]
            log = (home / f"{name}.log").open("wb")
            self.processes[name] = subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT)

    def wait_registered(self, timeout: float = 30) -> None:
        from redis import Redis
        from rq import Queue, Worker

        connection = Redis.from_url(self.redis_url)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            names = {w.name for w in Worker.all(queue=Queue(self.queue, connection=connection))}
            if names >= set(self.processes):
                return
            assert all(p.poll() is None for p in self.processes.values()), "a worker exited at start"
            time.sleep(0.2)
        raise AssertionError("the workers did not register")

    def meta(self, job_id: str) -> dict[str, Any]:
        from redis import Redis
        from rq.job import Job

        return dict(Job.fetch(job_id, connection=Redis.from_url(self.redis_url)).meta)

    def kill(self, name: str) -> list[int]:
        """SIGKILL one worker and its work horse, as a lost host or the OOM killer would."""
        process = psutil.Process(self.processes[name].pid)
        victims = [process, *process.children(recursive=True)]
        for victim in victims:
            victim.send_signal(signal.SIGKILL)
        self.processes[name].wait(10)
        return [v.pid for v in victims]

    def stop(self) -> None:
        for process in self.processes.values():
            if process.poll() is None:
                children = psutil.Process(process.pid).children(recursive=True)
                process.send_signal(signal.SIGINT)  # RQ: warm shut down; a second SIGINT is a cold one
                try:
                    process.wait(10)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait(5)
                for child in children:
                    if child.is_running():
                        child.kill()

    def forget(self) -> None:
        from redis import Redis

        connection = Redis.from_url(self.redis_url)
        keys = list(connection.scan_iter(match=f"*{self.queue}*"))
        for job_id in self.job_ids:
            keys += list(connection.scan_iter(match=f"rq:*{job_id}*"))
        if keys:
            connection.delete(*keys)
        for index in ("rq:queues", "rq:workers"):  # RQ's sets of every queue and worker
            ours = [m for m in connection.smembers(index) if self.queue.encode() in m]
            if ours:
                connection.srem(index, *ours)


@pytest.fixture(scope="module")
def workers(redis_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Workers]:
    started = Workers(redis_url, tmp_path_factory.mktemp("rq-home"))
    try:
        started.wait_registered()
        yield started
    finally:
        started.stop()
        started.forget()


@pytest.fixture
def queued(make_client: Callable[..., TestClient], workers: Workers) -> TestClient:
    """The service submitting to the workers' queue, with the same POLYPDET_HOME."""
    return make_client(redis_url=workers.redis_url, job_queue=workers.queue, polypdet_home=workers.home)


@pytest.mark.redis
def test_two_workers_share_the_jobs(
    queued: TestClient, workers: Workers, clip_bytes: bytes, broken: dict[str, bytes]
) -> None:
    ids = [post_video(queued, clip_bytes, f"clip{n}.mpg", skip=2, max_frames=90).json()["id"] for n in range(3)]
    bad = post_video(queued, broken["truncated"], "cut.mp4").json()["id"]
    workers.job_ids += [*ids, bad]
    jobs = [wait_until(queued, job_id, finished) for job_id in ids]
    assert [j["state"] for j in jobs] == ["finished"] * 3, [j["error"] for j in jobs]
    ran_on = {workers.meta(job_id)["workers"][0] for job_id in ids}
    assert ran_on == set(workers.processes)  # both workers took jobs from the one queue
    check_outputs(queued, jobs[0], frames=90)
    failed = wait_until(queued, bad, finished)
    assert failed["state"] == "failed" and "truncated video" in failed["error"]
    assert failed["attempts"] == 1  # a bad video is not retried
    assert all(p.poll() is None for p in workers.processes.values())  # and no worker suffered from it


@pytest.mark.redis
def test_a_job_whose_worker_is_killed_is_retried(queued: TestClient, workers: Workers, clip_bytes: bytes) -> None:
    job_id = post_video(queued, clip_bytes, "long.mpg").json()["id"]  # all 199 frames: several seconds of work
    workers.job_ids.append(job_id)
    running = wait_until(queued, job_id, lambda j: j["state"] == "started" and j["progress"]["frames_done"] > 0)
    first = workers.meta(job_id)["workers"][-1]
    workers.kill(first)
    job = wait_until(queued, job_id, finished, timeout=60)
    assert job["state"] == "finished", job["error"]
    assert running["attempts"] == 1 and job["attempts"] == 2
    (second,) = set(workers.processes) - {first}
    assert workers.meta(job_id)["workers"] == [first, second]
    summary = queued.get(job["links"]["summary"]).json()
    assert summary["frames"] == job["progress"]["frames_done"] >= 199
