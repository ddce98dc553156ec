"""``polypdet video`` on a real clip: every frame out, CSV rows matching the drawn boxes, stable track ids."""

from __future__ import annotations

import csv
import itertools
import json
import subprocess
import sys
from collections import defaultdict
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import supervision as sv

from polypdet.cli.main import main
from polypdet.video.records import CSV_COLUMNS
from polypdet.video.source import VideoFile
from polypdet.video.tracking import TrackerConfig

SKIP = 3
REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def annotated(clip: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    out = tmp_path_factory.mktemp("video")
    outputs = ["--out", str(out / "out.mp4"), "--csv", str(out / "out.csv"), "--json", str(out / "summary.json")]
    code = main(["video", str(clip), *outputs, "--skip", str(SKIP), "--quiet"])
    with (out / "out.csv").open() as handle:
        reader = csv.reader(handle)
        header = next(reader)
        rows = [dict(zip(header, row, strict=True)) for row in reader]
    return {
        "code": code,
        "dir": out,
        "header": header,
        "rows": rows,
        "summary": json.loads((out / "summary.json").read_text()),
    }


def green_pixels(image: np.ndarray) -> int:
    """Pixels of the box/label colour (RGB 0, 255, 128), allowing for compression."""
    r, g, b = (image[..., i].astype(int) for i in range(3))
    return int(np.count_nonzero((g > 190) & (r < 110) & (b > 50) & (b < 210)))


def iou(a: list[float], b: list[float]) -> float:
    return float(sv.box_iou_batch(np.array([a]), np.array([b]))[0, 0])


def by_frame(rows: list[dict[str, str]]) -> dict[int, list[dict[str, str]]]:
    frames: dict[int, list[dict[str, str]]] = defaultdict(list)
    for row in rows:
        frames[int(row["frame"])].append(row)
    return frames


def test_every_frame_is_written(annotated: dict[str, Any], clip: Path) -> None:
    assert annotated["code"] == 0
    with VideoFile(annotated["dir"] / "out.mp4") as video:
        out_frames = sum(1 for _ in video)
        assert (video.info.width, video.info.height) == (352, 240)
    assert out_frames == 199 == annotated["summary"]["frames"]
    assert annotated["summary"]["frames_analysed"] == len(range(0, 199, SKIP))


def test_csv_columns_and_carried_boxes(annotated: dict[str, Any]) -> None:
    assert tuple(annotated["header"]) == CSV_COLUMNS
    frames = by_frame(annotated["rows"])
    assert frames, "the clip shows a polyp: some frames must have boxes"
    for index, rows in frames.items():
        assert 0 <= index < 199
        if index % SKIP:  # not analysed: the boxes of the last analysed frame, unchanged
            carried = frames.get(index - index % SKIP, [])
            strip = [{k: v for k, v in r.items() if k not in ("frame", "timestamp_ms")} for r in rows]
            assert strip == [{k: v for k, v in r.items() if k not in ("frame", "timestamp_ms")} for r in carried]


def test_csv_rows_match_drawn_boxes(annotated: dict[str, Any], clip: Path) -> None:
    frames = by_frame(annotated["rows"])
    with VideoFile(clip) as source, VideoFile(annotated["dir"] / "out.mp4") as drawn:
        pairs = list(zip(source, drawn, strict=True))
    with_boxes = [i for i in range(199) if frames.get(i)]
    without = [i for i in range(199) if not frames.get(i)]
    assert with_boxes and without
    for i in with_boxes[:: max(1, len(with_boxes) // 15)]:
        assert green_pixels(pairs[i][1].image) > green_pixels(pairs[i][0].image) + 100, f"frame {i}: no box drawn"
    for i in without[:: max(1, len(without) // 15)]:
        assert green_pixels(pairs[i][1].image) < green_pixels(pairs[i][0].image) + 40, f"frame {i}: stray box"


def test_track_ids_are_stable_and_counted(annotated: dict[str, Any]) -> None:
    tracks: dict[int, list[dict[str, str]]] = defaultdict(list)
    for row in annotated["rows"]:
        tracks[int(row["track_id"])].append(row)
    assert sorted(tracks) == list(range(1, len(tracks) + 1))
    for track_id, rows in tracks.items():
        boxes = [[float(r[k]) for k in ("x1", "y1", "x2", "y2")] for r in rows]
        overlaps = [iou(a, b) for a, b in itertools.pairwise(boxes)]
        # consecutive analysed boxes (SKIP frames apart) of one track overlap at least as much as the tracker's gate
        assert min(overlaps, default=1.0) > TrackerConfig().match_iou, f"track {track_id} jumped between boxes"
    summary = annotated["summary"]
    assert summary["tracks"] == len(tracks) and summary["unique_polyps"] == len(summary["polyps"]) > 0
    counted = {p["track_id"] for p in summary["polyps"]}
    for track_id, rows in tracks.items():  # only tracks spanning long enough count as polyps
        span = float(rows[-1]["timestamp_ms"]) - float(rows[0]["timestamp_ms"])
        assert (track_id in counted) == (span >= 500) or abs(span - 500) < 200
    before = summary["min_track_len"] - 1  # analysed frames a track needs before it is confirmed and drawn
    hold = TrackerConfig().hold_frames  # analysed frames a missed polyp stays drawn
    for polyp in summary["polyps"]:
        shown = [int(r["frame"]) for r in tracks[polyp["track_id"]] if int(r["frame"]) % SKIP == 0]
        assert polyp["first_frame"] == min(shown) - before * SKIP
        assert polyp["last_frame"] <= max(shown) <= polyp["last_frame"] + hold * SKIP
        assert summary["min_track_len"] <= polyp["frames"] <= len(shown) + before


def test_seed_script_flags(clip: Path, tmp_path: Path) -> None:
    flags = [
        "--weights",
        str(REPO / "models" / "polyp-yolov8n"),
        "--video",
        str(clip),
        "--out",
        str(tmp_path / "o.mp4"),
    ]
    flags += ["--csv", str(tmp_path / "o.csv"), "--conf", "0.3", "--imgsz", "320", "--skip", "10"]
    done = subprocess.run(
        [sys.executable, str(REPO / "scripts" / "video_infer_yolo.py"), *flags],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    with VideoFile(tmp_path / "o.mp4") as video:
        assert sum(1 for _ in video) == 199
    rows = list(csv.DictReader((tmp_path / "o.csv").open()))
    assert all(float(r["conf"]) >= 0.3 for r in rows)


def test_untracked_mode_and_frame_limit(clip: Path, tmp_path: Path) -> None:
    code = main(["video", str(clip), "--csv", str(tmp_path / "raw.csv"), "--no-track", "--max-frames", "40", "--quiet"])
    assert code == 0
    rows = list(csv.DictReader((tmp_path / "raw.csv").open()))
    assert rows and all(r["track_id"] == "" for r in rows)
    assert max(int(r["frame"]) for r in rows) < 40


def test_bad_inputs_fail_with_one_line(
    bad_videos: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    for kind, path in bad_videos.items():
        out = tmp_path / f"{path.stem}.mp4"
        code = main(["video", str(path), "--out", str(out), "--quiet"])
        err = capsys.readouterr().err.strip()
        assert code == 1, kind
        assert err.count("\n") == 0 and err.startswith("polypdet video: ") and kind.strip() in err
        if kind != "truncated":
            assert not out.exists(), f"{kind}: an output was left behind"
    with VideoFile(tmp_path / "truncated.mp4") as partial:  # what decoded before the break is kept
        assert 0 < sum(1 for _ in partial) < 50


def test_bad_options(clip: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["video", str(clip), "--skip", "0"]) == 2
    assert main(["video", str(clip), "--min-track-len", "1"]) == 2
    assert main(["video", str(clip), "--out", str(clip)]) == 2
    assert "error" in capsys.readouterr().err
