"""``polypdet stream SOURCE``: live detection on a camera, an RTSP/HTTP stream or a file, newest frame first."""

from __future__ import annotations

import argparse
import csv
import json
import os
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING

from polypdet.cli.common import add_model_arguments, load_detector
from polypdet.cli.main import CliError
from polypdet.cli.video import add_tracking_arguments, tracker_config

if TYPE_CHECKING:
    from polypdet.detections import Detections
    from polypdet.video.frames import Frame, RGBImage

WINDOW = "polypdet"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("source", help="camera index (0), stream URL (rtsp://, http://) or video file")
    parser.add_argument("--out", type=Path, default=None, help="record the overlay to this video file")
    parser.add_argument("--show", action="store_true", help="show the overlay in a window (needs a display)")
    parser.add_argument("--realtime", action="store_true", help="play a file at its own frame rate, like a camera")
    parser.add_argument("--csv", type=Path, default=None, help="detections CSV (same columns as `polypdet video`)")
    parser.add_argument("--latency-csv", type=Path, default=None, help="per-frame latency CSV")
    parser.add_argument("--json", type=Path, default=None, metavar="SUMMARY", help="summary JSON to write")
    parser.add_argument("--max-frames", type=int, default=None, metavar="N", help="stop after N processed frames")
    parser.add_argument("--duration", type=float, default=None, metavar="S", help="stop after S seconds")
    add_tracking_arguments(parser)
    add_model_arguments(parser)


def _check_display() -> None:
    if not (os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")):
        raise CliError("--show needs a display (DISPLAY is not set); record with --out instead")


def run(args: argparse.Namespace) -> int:
    import cv2

    from polypdet.engine.detector import DetectParams
    from polypdet.video.errors import VideoError
    from polypdet.video.live import StreamOptions, run_stream
    from polypdet.video.records import DetectionCsv
    from polypdet.video.source import VideoFile, open_source
    from polypdet.video.writer import VideoWriter

    if args.show:
        _check_display()
    detector = load_detector(args, hint="latency")
    try:
        source = open_source(args.source)
    except VideoError as error:
        print(f"polypdet stream: {args.source}: {error}", file=sys.stderr)
        return 1
    is_file = isinstance(source, VideoFile) and not source.live
    options = StreamOptions(
        params=DetectParams(conf=args.conf),
        tracking=tracker_config(args),  # type: ignore[arg-type]
        realtime=args.realtime,
        max_frames=args.max_frames,
        duration_s=args.duration,
        lossless=is_file and not args.realtime,  # a file read as fast as possible loses no frame
    )
    info = source.info
    writer = VideoWriter(args.out, info.width, info.height, info.fps) if args.out else None
    table = DetectionCsv(args.csv) if args.csv else None
    latency_file = args.latency_csv.open("w", newline="") if args.latency_csv else None
    latency_rows = csv.writer(latency_file) if latency_file else None
    if latency_rows:
        latency_rows.writerow(["frame", "timestamp_ms", "latency_ms", "boxes"])
    status = {"last": time.perf_counter(), "frames": 0}

    def sink(frame: Frame, overlay: RGBImage, shown: Detections, latency_ms: float) -> bool:
        if writer:
            writer.write(overlay, frame.timestamp_ms)
        if table:
            table.write(frame.index, frame.timestamp_ms, shown)
        if latency_rows:
            latency_rows.writerow([frame.index, f"{frame.timestamp_ms:.1f}", f"{latency_ms:.1f}", len(shown)])
        status["frames"] += 1
        now = time.perf_counter()
        if now - status["last"] >= 1.0:
            rate = status["frames"] / (now - status["last"])
            print(f"frame {frame.index}: {rate:.1f} frames/s, latency {latency_ms:.0f} ms", file=sys.stderr)
            status["last"], status["frames"] = now, 0
        if args.show:
            cv2.imshow(WINDOW, cv2.cvtColor(overlay, cv2.COLOR_RGB2BGR))
            return cv2.waitKey(1) & 0xFF != ord("q")
        return True

    try:
        report = run_stream(detector, source, args.source, options, sink)
    finally:
        source.close()
        for output in (writer, table, latency_file):
            if output:
                output.close()
        if args.show:
            cv2.destroyAllWindows()
    summary = report.to_json()
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(summary, indent=2) + "\n")
    latency = summary["latency_ms"]
    print(
        f"{args.source}: {report.processed} frames processed, {report.dropped} dropped, "
        f"latency p50 {latency['p50']:.0f} ms / p95 {latency['p95']:.0f} ms, "
        f"{summary['unique_polyps']} polyp(s); ended: {report.ended}"
    )
    if report.error:
        print(f"polypdet stream: {args.source}: {report.error}", file=sys.stderr)
        return 1
    return 0
