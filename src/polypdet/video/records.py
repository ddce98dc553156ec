"""The per-frame detections CSV and the JSON summary of one processed video."""

from __future__ import annotations

import csv
import json
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any

from polypdet.detections import Detections
from polypdet.video.tracking import PolypTrack

CSV_COLUMNS = ("frame", "timestamp_ms", "track_id", "class_id", "class_name", "conf", "x1", "y1", "x2", "y2")


class DetectionCsv:
    """One row per box drawn on a frame (``track_id`` empty when tracking is off)."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._file = self.path.open("w", newline="", encoding="utf-8")
        self._writer = csv.writer(self._file)
        self._writer.writerow(CSV_COLUMNS)
        self.rows = 0

    def write(self, frame_index: int, timestamp_ms: float, detections: Detections) -> None:
        for det in detections:
            x1, y1, x2, y2 = det.bbox
            track = "" if det.track_id is None else det.track_id
            self._writer.writerow(
                [frame_index, f"{timestamp_ms:.1f}", track, det.class_id, det.class_name, f"{det.confidence:.4f}"]
                + [f"{v:.2f}" for v in (x1, y1, x2, y2)]
            )
        self.rows += len(detections)

    def close(self) -> None:
        self._file.close()

    def __enter__(self) -> DetectionCsv:
        return self

    def __exit__(self, *exc: type[BaseException] | BaseException | TracebackType | None) -> None:
        self.close()


@dataclass
class VideoSummary:
    """What happened to one video: frame counts, speed, and the unique polyps with their times."""

    source: str
    width: int
    height: int
    frames: int
    frames_analysed: int
    source_fps: float
    processing_fps: float
    elapsed_s: float
    model_version: str
    backend: str
    conf: float
    tracking: bool
    min_track_len: int | None
    boxes: int
    tracks: int = 0
    polyps: list[PolypTrack] = field(default_factory=list)
    outputs: dict[str, str] = field(default_factory=dict)

    @property
    def unique_polyps(self) -> int | None:
        return len(self.polyps) if self.tracking else None

    def to_json(self) -> dict[str, Any]:
        return {
            "source": self.source,
            "width": self.width,
            "height": self.height,
            "frames": self.frames,
            "frames_analysed": self.frames_analysed,
            "source_fps": round(self.source_fps, 3),
            "processing_fps": round(self.processing_fps, 1),
            "elapsed_s": round(self.elapsed_s, 3),
            "model_version": self.model_version,
            "backend": self.backend,
            "conf": self.conf,
            "tracking": self.tracking,
            "min_track_len": self.min_track_len,
            "boxes": self.boxes,
            "tracks": self.tracks if self.tracking else None,
            "unique_polyps": self.unique_polyps,
            "polyps": [p.to_json() for p in self.polyps],
            "outputs": self.outputs,
        }

    def json_bytes(self) -> bytes:
        return (json.dumps(self.to_json(), indent=2) + "\n").encode()

    def write_json(self, path: str | Path) -> None:
        target = Path(path)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(self.json_bytes())
