"""What a video job is: its options, its folder of files, and the status callers read back."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any

from polypdet.security.crypto import record_aad
from polypdet.video.frames import VIDEO_SUFFIXES


class QueueUnavailable(Exception):
    """The queue's store (Redis) cannot be reached: the job was not submitted, or its state cannot be read now."""


class JobState(StrEnum):
    QUEUED = "queued"
    STARTED = "started"
    FINISHED = "finished"
    FAILED = "failed"

    @property
    def is_final(self) -> bool:
        return self in (JobState.FINISHED, JobState.FAILED)


@dataclass(frozen=True)
class JobOptions:
    """How to process the video; ``conf=None`` uses ``CONFIDENCE_THRESHOLD`` of the worker."""

    conf: float | None = None
    skip: int = 1
    max_frames: int | None = None

    def __post_init__(self) -> None:
        if self.conf is not None and not 0.0 <= self.conf <= 1.0:
            raise ValueError("conf must be between 0 and 1")
        if self.skip < 1 or (self.max_frames is not None and self.max_frames < 1):
            raise ValueError("skip and max_frames must be at least 1")

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> JobOptions:
        return cls(conf=data.get("conf"), skip=int(data.get("skip", 1)), max_frames=data.get("max_frames"))


@dataclass(frozen=True)
class JobFiles:
    """``POLYPDET_HOME/jobs/<id>/``: the upload, then the annotated video, the CSV and the summary.

    The outputs are sealed at rest (:mod:`polypdet.security.sealed_files`), each bound to its job and name by
    :meth:`aad`. Every worker must see the same folder (one host, or a volume shared by the service and the workers).
    """

    root: Path

    @classmethod
    def of(cls, home: Path, job_id: str) -> JobFiles:
        return cls(home / "jobs" / job_id)

    def input_path(self, filename: str | None) -> Path:
        """Where the upload goes; a known video suffix is kept because FFmpeg uses it as a format hint."""
        suffix = Path(filename or "").suffix.lower()
        return self.root / f"input{suffix if suffix in VIDEO_SUFFIXES else '.bin'}"

    @property
    def input(self) -> Path | None:
        return next(iter(sorted(self.root.glob("input.*"))), None)

    @property
    def video(self) -> Path:
        return self.root / "annotated.mp4"

    @property
    def csv(self) -> Path:
        return self.root / "detections.csv"

    @property
    def summary(self) -> Path:
        return self.root / "summary.json"

    def aad(self, output: Path) -> bytes:
        """The associated data sealing ``output``: a sealed file opens only as that file of this job."""
        return record_aad("video-job", f"{self.root.name}/{output.name}")

    @property
    def state(self) -> Path:
        """The in-process queue's record of the job (RQ keeps its own in Redis)."""
        return self.root / "job.json"


@dataclass(frozen=True)
class JobStatus:
    """A job as its owner sees it; ``frames_total`` is ``None`` when the container does not say."""

    id: str
    owner: str
    state: JobState
    filename: str = ""
    frames_done: int = 0
    frames_total: int | None = None
    attempts: int = 0
    error: str | None = None
    created_at: str | None = None
    started_at: str | None = None
    ended_at: str | None = None

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> JobStatus:
        return cls(**(data | {"state": JobState(data["state"])}))
