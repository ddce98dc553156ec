"""``polypdet video IN --out OUT.mp4 --csv OUT.csv``: an annotated video, per-frame boxes and a polyp count."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from polypdet.cli.common import add_model_arguments, load_detector
from polypdet.cli.main import CliError


def add_tracking_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--min-track-len",
        type=int,
        default=3,
        metavar="N",
        help="frames in a row a polyp must be seen before it is drawn and counted (default 3, at least 2)",
    )
    parser.add_argument(
        "--min-polyp-s",
        type=float,
        default=0.5,
        metavar="S",
        help="seconds a track must span to count as a polyp in the summary (default 0.5)",
    )
    parser.add_argument("--no-track", action="store_true", help="draw every raw detection, without track ids")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("input", type=Path, metavar="IN", help="video file (mp4, avi, mpg, mov, mkv, ...)")
    parser.add_argument("--out", type=Path, default=None, help="annotated video to write (.mp4, .mkv, .avi)")
    parser.add_argument("--csv", type=Path, default=None, help="per-frame detections CSV to write")
    parser.add_argument("--json", type=Path, default=None, metavar="SUMMARY", help="summary JSON to write")
    parser.add_argument("--skip", type=int, default=1, metavar="N", help="analyse every Nth frame (default 1)")
    parser.add_argument("--max-frames", type=int, default=None, metavar="N", help="stop after N frames")
    parser.add_argument("--codec", choices=["h264", "mpeg4"], default="h264", help="output codec (default h264)")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    add_tracking_arguments(parser)
    add_model_arguments(parser)


def tracker_config(args: argparse.Namespace) -> object | None:
    from polypdet.video.tracking import TrackerConfig

    if args.no_track:
        return None
    if args.min_track_len < 2:
        raise CliError("--min-track-len must be at least 2 (use --no-track to see every raw detection)")
    if args.min_polyp_s < 0:
        raise CliError("--min-polyp-s must not be negative")
    return TrackerConfig(min_track_len=args.min_track_len, min_polyp_s=args.min_polyp_s)


def run(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from polypdet.engine.detector import DetectParams
    from polypdet.video.errors import VideoError
    from polypdet.video.pipeline import VideoOptions, process_video
    from polypdet.video.source import VideoFile

    if args.skip < 1 or (args.max_frames is not None and args.max_frames < 1):
        raise CliError("--skip and --max-frames must be at least 1")
    inputs = {args.input.resolve()}
    if any(path is not None and path.resolve() in inputs for path in (args.out, args.csv, args.json)):
        raise CliError("an output path is the input video")
    options = VideoOptions(
        params=DetectParams(conf=args.conf),
        skip=args.skip,
        tracking=tracker_config(args),  # type: ignore[arg-type]
        codec=args.codec,
        max_frames=args.max_frames,
    )
    detector = load_detector(args, hint="throughput")
    try:
        video = VideoFile(args.input)
    except VideoError as error:
        print(f"polypdet video: {args.input}: {error}", file=sys.stderr)
        return 1
    total = min(filter(None, (video.info.frame_count, args.max_frames)), default=None)
    bar = tqdm(total=total, unit="frame", file=sys.stderr, disable=args.quiet, mininterval=0.5, dynamic_ncols=True)
    try:
        summary = process_video(detector, video, args.out, args.csv, options, progress=bar.update)
    except VideoError as error:
        bar.close()
        print(f"polypdet video: {args.input}: {error}", file=sys.stderr)
        return 1
    finally:
        video.close()
    bar.close()
    if args.json:
        summary.write_json(args.json)
    polyps = "" if summary.unique_polyps is None else f", {summary.unique_polyps} polyp(s)"
    print(
        f"{args.input}: {summary.frames} frames in {summary.elapsed_s:.1f} s "
        f"({summary.processing_fps:.1f} frames/s), {summary.boxes} box(es){polyps}"
    )
    if not (args.out or args.csv or args.json):
        print(json.dumps(summary.to_json()))
    return 0
