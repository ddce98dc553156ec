"""Stable polyp ids across frames (ByteTrack from roboflow's ``trackers``) and the per-procedure polyp count.

Only tracks matched on ``min_track_len`` frames in a row are shown: a box that flickers up for one frame
never gets an id, so it is neither drawn nor counted. A shown polyp the detector misses for up to
``hold_frames`` frames keeps its last box on screen, so boxes do not blink off either.
``supervision.Detections`` is used only here, at the
tracker's boundary; everything else sees :class:`~polypdet.detections.Detections` with ``tracker_id`` set.

>>> tracker = PolypTracker(TrackerConfig(min_track_len=2, min_polyp_s=0.5), fps=30)
>>> box = Detections(xyxy=[[10, 10, 60, 60]], confidence=[0.9])
>>> [len(tracker.update(box, i, i * 1000 / 30)) for i in range(20)][:4]
[0, 1, 1, 1]
>>> polyp = tracker.polyps()[0]
>>> polyp.track_id, polyp.first_frame, polyp.last_frame, polyp.frames
(1, 0, 19, 20)
"""

from __future__ import annotations

from collections import deque
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
import supervision as sv
from trackers import ByteTrackTracker

from polypdet.detections import Detections


@dataclass(frozen=True)
class TrackerConfig:
    """ByteTrack settings tuned on the atlas clips (see ``benchmarks/video_flicker.py``).

    ``min_track_len`` frames in a row confirm a track (at least 2: ByteTrack never confirms on the first
    frame). A confirmed polyp missed for up to ``hold_frames`` analysed frames is still drawn at its last box.
    A polyp that leaves the view for up to ``lost_track_s`` seconds keeps its id. A track counts as a polyp
    of the procedure once it spans ``min_polyp_s`` seconds. Detections from ``activation_conf`` up may start
    a track; ``high_conf`` splits ByteTrack's two association passes.
    """

    min_track_len: int = 3
    hold_frames: int = 2
    lost_track_s: float = 1.0
    min_polyp_s: float = 0.5
    activation_conf: float = 0.35
    high_conf: float = 0.45
    match_iou: float = 0.2

    def __post_init__(self) -> None:
        if self.min_track_len < 2:
            raise ValueError("min_track_len must be at least 2 (a track is confirmed on its second frame at best)")
        if min(self.lost_track_s, self.hold_frames, self.min_polyp_s) < 0:
            raise ValueError("lost_track_s, hold_frames and min_polyp_s must not be negative")


@dataclass
class PolypTrack:
    """One tracked polyp: first and last frame it was detected in, on how many analysed frames, best confidence.

    The count includes the ``min_track_len - 1`` frames before the track was confirmed (and first drawn).
    """

    track_id: int
    first_frame: int
    last_frame: int
    first_ms: float
    last_ms: float
    frames: int
    max_confidence: float

    def to_json(self) -> dict[str, Any]:
        out = asdict(self)
        out["first_ms"], out["last_ms"] = round(self.first_ms, 1), round(self.last_ms, 1)
        out["max_confidence"] = round(self.max_confidence, 4)
        return out


class PolypTracker:
    """Assigns ids to the detections of consecutive frames of one procedure (ids start at 1)."""

    def __init__(self, config: TrackerConfig | None = None, fps: float = 30.0) -> None:
        self.config = config or TrackerConfig()
        self.fps = fps
        self._tracks: dict[int, PolypTrack] = {}
        self._tracker = self._new_tracker()
        # (frame, ms) of the last analysed frames: a track confirmed now was first seen min_track_len - 1 ago.
        self._recent: deque[tuple[int, float]] = deque(maxlen=self.config.min_track_len)
        self._shown: dict[int, _Shown] = {}

    def _new_tracker(self) -> ByteTrackTracker:
        c = self.config
        return ByteTrackTracker(
            lost_track_buffer=round(c.lost_track_s * 30),  # the library counts in 30 fps frames
            frame_rate=self.fps,
            track_activation_threshold=c.activation_conf,
            minimum_consecutive_frames=c.min_track_len,
            minimum_iou_threshold=c.match_iou,
            high_conf_det_threshold=c.high_conf,
        )

    def update(self, detections: Detections, frame_index: int, timestamp_ms: float) -> Detections:
        """The boxes to show on this frame, with ``tracker_id``: confirmed detections, plus the last box of
        polyps missed for at most ``hold_frames`` frames. Call once per analysed frame, in order; timestamps
        let frames skipped or dropped in between count as elapsed time.
        """
        self._recent.append((frame_index, timestamp_ms))
        tracked = self._tracker.update(_to_supervision(detections), timestamp=timestamp_ms / 1000.0)
        ids = np.asarray(tracked.tracker_id if tracked.tracker_id is not None else [], np.int64).reshape(-1)
        shown: list[_Shown] = []
        for i in np.flatnonzero(ids >= 0):
            box = _Shown(
                int(ids[i]) + 1,
                np.asarray(tracked.xyxy[i], np.float32),
                float(np.asarray(tracked.confidence)[i]),
                int(np.asarray(tracked.class_id)[i]),
            )
            self._record(box.track_id, box.confidence, frame_index, timestamp_ms)
            shown.append(box)
        matched = {box.track_id for box in shown}
        for track_id, box in list(self._shown.items()):
            if track_id not in matched:
                box.misses += 1
                if box.misses > self.config.hold_frames:
                    del self._shown[track_id]
        self._shown.update((box.track_id, box) for box in shown)
        return _to_detections(list(self._shown.values()), detections.class_names)

    def _record(self, track_id: int, confidence: float, frame_index: int, timestamp_ms: float) -> None:
        track = self._tracks.get(track_id)
        if track is None:
            first_frame, first_ms = self._recent[0]
            frames = len(self._recent)
            self._tracks[track_id] = PolypTrack(
                track_id, first_frame, frame_index, first_ms, timestamp_ms, frames, confidence
            )
            return
        track.last_frame, track.last_ms = frame_index, timestamp_ms
        track.frames += 1
        track.max_confidence = max(track.max_confidence, confidence)

    def tracks(self) -> list[PolypTrack]:
        """Every confirmed track so far, by id."""
        return [self._tracks[k] for k in sorted(self._tracks)]

    def polyps(self) -> list[PolypTrack]:
        """The unique polyps of the procedure: confirmed tracks spanning at least ``min_polyp_s`` seconds."""
        return [t for t in self.tracks() if t.last_ms - t.first_ms >= self.config.min_polyp_s * 1000]

    def reset(self) -> None:
        """Start a new procedure: forget all tracks and restart ids at 1."""
        self._tracks.clear()
        self._recent.clear()
        self._shown.clear()
        self._tracker = self._new_tracker()


@dataclass
class _Shown:
    """A box on screen: its track, where it was last detected, and for how many frames it has been missed."""

    track_id: int
    xyxy: npt.NDArray[np.float32]
    confidence: float
    class_id: int
    misses: int = 0


def _to_detections(boxes: list[_Shown], class_names: Sequence[str]) -> Detections:
    boxes = sorted(boxes, key=lambda box: box.track_id)
    return Detections(
        xyxy=np.asarray([b.xyxy for b in boxes], np.float32).reshape(-1, 4),
        confidence=np.asarray([b.confidence for b in boxes], np.float32),
        class_id=np.asarray([b.class_id for b in boxes], np.int64),
        tracker_id=np.asarray([b.track_id for b in boxes], np.int64),
        class_names=class_names,
    )


def _to_supervision(detections: Detections) -> sv.Detections:
    if not len(detections):
        return sv.Detections.empty()
    return sv.Detections(
        xyxy=detections.xyxy.astype(np.float32),
        confidence=detections.confidence.astype(np.float32),
        class_id=detections.class_id.astype(int),
    )
