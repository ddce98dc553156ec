"""``polypdet detect PATH...``: boxes for images and DICOM files, as JSON lines or a summary, optionally drawn.

A DICOM file (``.dcm``, or any file with the DICM header) gives one result per frame; ``--dicom-out`` writes
a DICOM SR per instance (and a burned-in Secondary Capture with ``--dicom-sc``).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from polypdet.cli.common import add_model_arguments, expand_inputs, load_detector
from polypdet.io.datasets import IMAGE_SUFFIXES
from polypdet.video.frames import VIDEO_HEAD, is_video

if TYPE_CHECKING:
    from polypdet.detections import Detections
    from polypdet.engine.detector import Detector, DetectParams
    from polypdet.io.dicom import DicomImage
    from polypdet.io.images import ReducedImage, RGBImage

DICOM_SUFFIXES = frozenset({".dcm", ".dicom"})


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("paths", nargs="+", metavar="PATH", help="image or DICOM files, folders or globs")
    add_model_arguments(parser)
    parser.add_argument("--max-det", type=int, default=50, help="most boxes per image (default 50)")
    parser.add_argument("--save", type=Path, default=None, metavar="DIR", help="write annotated images here")
    parser.add_argument("--json", action="store_true", help="print one JSON object per image")
    parser.add_argument("--dicom-out", type=Path, default=None, metavar="DIR", help="write a DICOM SR per instance")
    parser.add_argument("--dicom-sc", action="store_true", help="with --dicom-out: also a burned-in Secondary Capture")


BATCH = 16
"""Frames detected together when there are several files: OpenVINO's throughput mode keeps both cores busy with
images in flight (120 Kvasir-SEG frames: 3.6 s against 5.0 one at a time)."""


@dataclass(frozen=True)
class _File:
    path: Path
    frames: Sequence[RGBImage | ReducedImage]
    dicom: DicomImage | None


def run(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from polypdet.engine.detector import DetectParams
    from polypdet.io.images import ImageDecodeError

    paths = expand_inputs(args.paths, IMAGE_SUFFIXES | DICOM_SUFFIXES)
    detector = load_detector(args, hint="throughput" if len(paths) > 1 else "latency")
    params = DetectParams(conf=args.conf, max_det=args.max_det)
    for folder in (args.save, args.dicom_out):
        if folder:
            folder.mkdir(parents=True, exist_ok=True)
    failed = 0
    pending: list[_File] = []
    show_progress = len(paths) > 1 and sys.stderr.isatty()
    for index, path in enumerate(tqdm(paths, disable=not show_progress, unit="img", file=sys.stderr), start=1):
        try:
            pending.append(_File(path, *_read_frames(path, detector.input_size)))
        except ImageDecodeError as error:
            failed += 1
            why = f"a video, not an image: run 'polypdet video {path}'" if _is_video(path) else error
            print(f"polypdet detect: {path}: {why}", file=sys.stderr)
        if pending and (sum(len(file.frames) for file in pending) >= BATCH or index == len(paths)):
            per_file, each_ms = _detect(detector, pending, params)
            for file, found in zip(pending, per_file, strict=True):
                _report(args, file, found, detector.model_version, each_ms)
            pending = []
    if failed:
        print(f"polypdet detect: {failed} of {len(paths)} file(s) failed", file=sys.stderr)
    return 1 if failed else 0


def _detect(detector: Detector, files: list[_File], params: DetectParams) -> tuple[list[list[Detections]], float]:
    """Every frame of ``files``, :data:`BATCH` at a time: each file's detections, and the milliseconds per frame."""
    frames = [frame for file in files for frame in file.frames]
    start = time.perf_counter()
    found: list[Detections] = []
    for first in range(0, len(frames), BATCH):
        found += detector.detect_batch(frames[first : first + BATCH], params)
    each_ms = (time.perf_counter() - start) * 1000 / max(len(frames), 1)
    in_order = iter(found)
    return [[next(in_order) for _ in file.frames] for file in files], each_ms


def _report(args: argparse.Namespace, file: _File, found: list[Detections], model_version: str, ms: float) -> None:
    """Print one file's results (a line per frame), and write the annotated images and DICOM outputs asked for."""
    import cv2

    from polypdet.io.annotate import draw_detections
    from polypdet.io.images import ReducedImage, image_size, read_image
    from polypdet.result import DetectionResult

    several = len(file.frames) > 1
    for number, (image, detections) in enumerate(zip(file.frames, found, strict=True), start=1):
        result = DetectionResult(detections, model_version, *image_size(image), ms)
        if args.json:
            frame_field = {"frame": number} if several else {}
            print(json.dumps({"image": str(file.path), **frame_field, **result.to_json()}), flush=True)
        else:
            confs = ", ".join(f"{d.confidence:.2f}" for d in detections)
            frame_tag = f"[frame {number}]" if several else ""
            print(f"{file.path}{frame_tag}: {len(detections)} polyp(s){f' ({confs})' if confs else ''}")
        if args.save:
            drawn = draw_detections(read_image(file.path) if isinstance(image, ReducedImage) else image, detections)
            name = f"{file.path.stem}-{number:04d}.jpg" if several else f"{file.path.stem}.jpg"
            cv2.imwrite(str(args.save / name), cv2.cvtColor(drawn, cv2.COLOR_RGB2BGR))
    if args.dicom_out and file.dicom is not None:
        _write_dicom_outputs(file.dicom, found, model_version, args.dicom_out, args.dicom_sc)


def _read_frames(path: Path, input_size: int) -> tuple[Sequence[RGBImage | ReducedImage], DicomImage | None]:
    """An image file's frames (decoded for ``input_size``: one, or every page of a multi-page TIFF or animated
    image), or every frame of a DICOM file (by suffix or DICM header)."""
    from polypdet.io.dicom import is_dicom, read_dicom
    from polypdet.io.images import read_frames_for_input

    try:
        with path.open("rb") as handle:
            header = handle.read(132)
    except OSError:
        header = b""
    if path.suffix.lower() in DICOM_SUFFIXES or is_dicom(header):
        dicom = read_dicom(path)
        return dicom.frames, dicom
    return read_frames_for_input(path, input_size), None


def _is_video(path: Path) -> bool:
    try:
        with path.open("rb") as handle:
            return is_video(handle.read(VIDEO_HEAD))
    except OSError:
        return False


def _write_dicom_outputs(dicom: DicomImage, frames: list[Detections], model_version: str, out: Path, sc: bool) -> None:
    from polypdet.clinical.outputs import dicom_outputs

    for dataset in dicom_outputs(dicom, frames, model_version, with_sc=sc):
        kind = "sr" if dataset.Modality == "SR" else "sc"
        dataset.save_as(out / f"{dicom.sop_instance_uid}.{kind}.dcm", enforce_file_format=True)
