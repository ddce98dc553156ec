#!/usr/bin/env python3
"""Flicker with and without tracking on the atlas clips, and agreement with the seed system's own detections.

For every frame of the 352x240 clips in ``videos/`` the shipped model runs at conf 0.25 (the seed's setting).
Figures per clip and overall:

- ``one_frame_boxes``: boxes with no box of IoU >= 0.3 on the frame before or after (they pop up for one
  frame); ``one_frame_gaps``: a box present on frames t-1 and t+1 but missing on t (it blinks off);
- ``detection_rate``: share of frames with at least one box;
- against the seed's CSVs (``reference-detections/``, ultralytics YOLOv8n at 640 px, conf 0.25): the share
  of the seed's boxes we also find (IoU >= 0.5) and of ours the seed also has, their mean IoU, and the
  share of frames where both agree on "polyp / no polyp"; the seed's own flicker is measured the same way;
- ``bf16_vs_f32``: OpenVINO bf16 boxes against f32 boxes (IoU >= 0.9 matches, confidence difference).

Tracked output is what ``polypdet video`` draws: ByteTrack, only tracks confirmed after ``min_track_len``
frames, a missed polyp's last box held for ``hold_frames`` frames (several settings compared).

Run: ``.venv/bin/python benchmarks/video_flicker.py``; writes ``benchmarks/results/video_flicker.json``.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import supervision as sv

from polypdet.detections import Detections
from polypdet.engine.detector import Detector
from polypdet.video.source import VideoFile
from polypdet.video.tracking import PolypTracker, TrackerConfig

REPO = Path(__file__).resolve().parents[1]
DATA = Path(os.environ.get("POLYPDET_DATA", REPO.parent / "shared" / "data"))
CLIPS = ["Pediculado3.mpg", "Pediculado5.mpg", "Polypileocecalvalve1.mpg", "Polypvvv.mpg"]
PERSIST_IOU = 0.3
MATCH_IOU = 0.5
TRACKERS = {
    "tracked (default: min_track_len 3, hold 2)": TrackerConfig(),
    "tracked (min_track_len 3, no hold)": TrackerConfig(hold_frames=0),
    "tracked (min_track_len 2, hold 2)": TrackerConfig(min_track_len=2),
    "tracked (min_track_len 5, hold 2)": TrackerConfig(min_track_len=5),
}

Boxes = list[np.ndarray]
"""Per frame, an (N, 4) xyxy array."""


def detect_clip(detector: Detector, path: Path) -> tuple[list[Detections], list[float], float]:
    with VideoFile(path) as video:
        frames = list(video)
        fps = video.info.fps
    detections: list[Detections] = []
    for start in range(0, len(frames), 8):
        detections += detector.detect_batch([f.image for f in frames[start : start + 8]])
    return detections, [f.timestamp_ms for f in frames], fps


def iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    if not len(a) or not len(b):
        return np.zeros((len(a), len(b)))
    return np.asarray(sv.box_iou_batch(a, b))


def flicker(frames: Boxes) -> dict[str, Any]:
    pops = gaps = total = 0
    for t, boxes in enumerate(frames):
        total += len(boxes)
        before = frames[t - 1] if t else np.zeros((0, 4))
        after = frames[t + 1] if t + 1 < len(frames) else np.zeros((0, 4))
        for box in boxes:
            near = [iou(box[None], other) for other in (before, after)]
            if not any(m.size and m.max() >= PERSIST_IOU for m in near):
                pops += 1
        if 0 < t < len(frames) - 1 and len(before) and len(after):
            bridged = iou(before, after)
            for i in range(len(before)):
                if bridged[i].max() >= PERSIST_IOU and not (
                    len(boxes) and iou(before[i : i + 1], boxes).max() >= PERSIST_IOU
                ):
                    gaps += 1
    with_box = sum(1 for b in frames if len(b))
    return {
        "boxes": total,
        "one_frame_boxes": pops,
        "one_frame_box_share": round(pops / total, 4) if total else 0.0,
        "one_frame_gaps": gaps,
        "frames_with_box": with_box,
        "detection_rate": round(with_box / len(frames), 4) if frames else 0.0,
    }


def agreement(ours: Boxes, reference: Boxes) -> dict[str, Any]:
    ref_found = ref_total = ours_confirmed = ours_total = agree_frames = 0
    ious: list[float] = []
    for mine, theirs in zip(ours, reference, strict=True):
        ref_total += len(theirs)
        ours_total += len(mine)
        agree_frames += bool(len(mine)) == bool(len(theirs))
        matrix = iou(mine, theirs)
        if matrix.size:
            ref_found += int((matrix.max(axis=0) >= MATCH_IOU).sum())
            ours_confirmed += int((matrix.max(axis=1) >= MATCH_IOU).sum())
            ious += [float(v) for v in matrix.max(axis=1) if v >= MATCH_IOU]
    return {
        "seed_boxes_we_find": round(ref_found / ref_total, 4) if ref_total else None,
        "our_boxes_seed_has": round(ours_confirmed / ours_total, 4) if ours_total else None,
        "mean_iou_of_matches": round(float(np.mean(ious)), 4) if ious else None,
        "frame_agreement": round(agree_frames / len(ours), 4) if ours else None,
    }


def read_reference(path: Path, frames: int) -> Boxes:
    per_frame: list[list[list[float]]] = [[] for _ in range(frames)]
    with path.open() as handle:
        for row in csv.DictReader(handle):
            if row["class_name"] == "polyp" and int(row["frame"]) < frames:
                per_frame[int(row["frame"])].append([float(row[k]) for k in ("x1", "y1", "x2", "y2")])
    return [np.asarray(b, np.float32).reshape(-1, 4) for b in per_frame]


def tracked(raw: list[Detections], stamps: list[float], fps: float, config: TrackerConfig) -> tuple[Boxes, int]:
    tracker = PolypTracker(config, fps)
    shown = [tracker.update(d, i, t).xyxy for i, (d, t) in enumerate(zip(raw, stamps, strict=True))]
    return shown, len(tracker.polyps())


def precision_agreement(f32: list[Detections], bf16: list[Detections]) -> dict[str, Any]:
    matched = total = 0
    conf_diffs: list[float] = []
    for a, b in zip(f32, bf16, strict=True):
        total += max(len(a), len(b))
        matrix = iou(a.xyxy, b.xyxy)
        if matrix.size:
            for i, j in zip(*np.nonzero(matrix >= 0.9), strict=True):
                matched += 1
                conf_diffs.append(abs(float(a.confidence[i]) - float(b.confidence[j])))
    return {
        "boxes_matched_iou_0.9": round(matched / total, 4) if total else None,
        "mean_abs_conf_diff": round(float(np.mean(conf_diffs)), 4) if conf_diffs else None,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=REPO / "benchmarks" / "results" / "video_flicker.json")
    args = parser.parse_args()
    f32 = Detector(backend="openvino", hint="throughput", precision="f32")
    bf16 = Detector(backend="openvino", hint="throughput", precision="bf16")
    report: dict[str, Any] = {"model": f32.model_version, "conf": f32.params.conf, "clips": {}, "overall": {}}
    totals: dict[str, list[dict[str, Any]]] = {}
    for name in CLIPS:
        raw, stamps, fps = detect_clip(f32, DATA / "videos" / name)
        raw_bf16, _, _ = detect_clip(bf16, DATA / "videos" / name)
        clip: dict[str, Any] = {"frames": len(raw), "raw (no tracking)": flicker([d.xyxy for d in raw])}
        variants = {"raw (no tracking)": [d.xyxy for d in raw]}
        for label, config in TRACKERS.items():
            shown, polyps = tracked(raw, stamps, fps, config)
            clip[label] = {**flicker(shown), "unique_polyps": polyps}
            variants[label] = shown
        reference_csv = DATA / "videos" / "reference-detections" / f"{Path(name).stem}_detections.csv"
        if reference_csv.exists():
            reference = read_reference(reference_csv, len(raw))
            clip["seed reference"] = flicker(reference)
            for label, boxes in variants.items():
                clip[label]["vs_seed"] = agreement(boxes, reference)
        clip["bf16_vs_f32"] = precision_agreement(raw, raw_bf16)
        report["clips"][name] = clip
        for label, figures in clip.items():
            if isinstance(figures, dict) and "boxes" in figures:
                totals.setdefault(label, []).append(figures)
        print(name, json.dumps(clip, indent=1), flush=True)
    for label, rows in totals.items():
        boxes = sum(r["boxes"] for r in rows)
        pops = sum(r["one_frame_boxes"] for r in rows)
        report["overall"][label] = {
            "clips": len(rows),
            "boxes": boxes,
            "one_frame_boxes": pops,
            "one_frame_box_share": round(pops / boxes, 4) if boxes else 0.0,
            "one_frame_gaps": sum(r["one_frame_gaps"] for r in rows),
            "frames_with_box": sum(r["frames_with_box"] for r in rows),
        }
    report["tracker_settings"] = {label: replace(c).__dict__ for label, c in TRACKERS.items()}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n")
    print(json.dumps(report["overall"], indent=1))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
