"""Track ids: stable across frames, one-frame flicker suppressed, polyps counted once."""

from __future__ import annotations

import numpy as np
import pytest

from polypdet.detections import Detections
from polypdet.video.tracking import PolypTracker, TrackerConfig


def boxes(*xyxy: tuple[float, float, float, float], conf: float = 0.9) -> Detections:
    if not xyxy:
        return Detections.empty()
    return Detections(xyxy=np.array(xyxy, np.float32), confidence=np.full(len(xyxy), conf, np.float32))


def run(tracker: PolypTracker, frames: list[Detections]) -> list[Detections]:
    return [tracker.update(d, i, i * 1000 / 30) for i, d in enumerate(frames)]


def test_moving_polyp_keeps_one_id() -> None:
    frames = [boxes((50 + 3 * i, 40, 150 + 3 * i, 140)) for i in range(20)]
    out = run(PolypTracker(TrackerConfig(min_track_len=3)), frames)
    assert [len(d) for d in out[:2]] == [0, 0]  # confirmed on its third frame
    ids = {int(t) for d in out[2:] for t in d.tracker_id}  # type: ignore[union-attr]
    assert ids == {1}
    np.testing.assert_allclose(out[-1].xyxy, frames[-1].xyxy)  # the detector's box, not a smoothed one


def test_one_frame_flicker_is_never_shown_or_counted() -> None:
    tracker = PolypTracker(TrackerConfig(min_track_len=2))
    frames = [boxes() for _ in range(10)]
    frames[4] = boxes((10, 10, 60, 60), conf=0.95)
    out = run(tracker, frames)
    assert all(len(d) == 0 for d in out)
    assert tracker.polyps() == []


def test_two_polyps_two_ids_and_a_count_with_times() -> None:
    tracker = PolypTracker(TrackerConfig(min_track_len=2, min_polyp_s=0.1))
    frames = [boxes((10, 10, 60, 60), (200, 100, 260, 170)) for _ in range(8)]
    frames += [boxes((10, 10, 60, 60)) for _ in range(4)]
    run(tracker, frames)
    polyps = tracker.polyps()
    assert [p.track_id for p in polyps] == [1, 2]
    assert [(p.first_frame, p.last_frame, p.frames) for p in polyps] == [(0, 11, 12), (0, 7, 8)]
    assert polyps[1].last_ms == pytest.approx(7 * 1000 / 30)


def test_short_gap_keeps_id_and_reset_restarts() -> None:
    tracker = PolypTracker(TrackerConfig(min_track_len=2, lost_track_s=1.0))
    seen = boxes((100, 100, 180, 180))
    frames = [seen] * 5 + [boxes()] * 5 + [seen] * 5  # hidden for 1/6 s, e.g. behind a fold
    out = run(tracker, frames)
    assert {int(t) for d in out for t in d.tracker_id} == {1}  # type: ignore[union-attr]
    tracker.reset()
    assert tracker.polyps() == []
    assert run(tracker, [seen] * 3)[-1].tracker_id.tolist() == [1]  # type: ignore[union-attr]


def test_missed_polyp_is_held_briefly_then_dropped() -> None:
    tracker = PolypTracker(TrackerConfig(min_track_len=2, hold_frames=2))
    seen = boxes((100, 100, 180, 180))
    out = run(tracker, [seen] * 4 + [boxes()] * 4)
    assert [len(d) for d in out] == [0, 1, 1, 1, 1, 1, 0, 0]
    np.testing.assert_allclose(out[5].xyxy, seen.xyxy)
    assert tracker.tracks()[0].frames == 4  # held frames are not detections
    assert tracker.polyps() == []  # 4 frames span 0.1 s: too short to count as a polyp


def test_min_track_len_must_allow_confirmation() -> None:
    with pytest.raises(ValueError, match="at least 2"):
        TrackerConfig(min_track_len=1)
