"""A video file in, an annotated video, a per-frame CSV and a summary out, as fast as the CPU allows.

Three stages overlap in threads joined by bounded queues (FFmpeg, OpenCV and OpenVINO release the GIL):

1. decode + letterbox (every ``skip``-th frame is analysed),
2. inference on several frames at once (``backend.infer_many`` keeps OpenVINO's requests in flight),
3. tracking, drawing, CSV and encoding, in frame order.

Frames not analysed (``skip`` > 1) carry the boxes of the last analysed frame, so every frame is written.
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from polypdet.detections import Detections
from polypdet.engine.detector import Detector, DetectParams
from polypdet.engine.preprocess import LetterboxTransform
from polypdet.io.annotate import draw_detections
from polypdet.video.errors import VideoError
from polypdet.video.frames import Frame
from polypdet.video.records import DetectionCsv, VideoSummary
from polypdet.video.source import VideoFile
from polypdet.video.tracking import PolypTracker, TrackerConfig
from polypdet.video.writer import Codec, VideoWriter

_END = object()
Prepared = tuple[Any, LetterboxTransform]


@dataclass(frozen=True)
class VideoOptions:
    """How to process a video; ``tracking=None`` draws every raw detection without ids."""

    params: DetectParams = field(default_factory=DetectParams)
    skip: int = 1
    tracking: TrackerConfig | None = field(default_factory=TrackerConfig)
    codec: Codec = "h264"
    max_frames: int | None = None
    frames_in_flight: int = 4
    queue_size: int = 8

    def __post_init__(self) -> None:
        if self.skip < 1:
            raise ValueError("skip must be at least 1")
        if self.max_frames is not None and self.max_frames < 1:
            raise ValueError("max_frames must be at least 1")


class _Aborted(Exception):
    """Another stage failed or the run was interrupted."""


class _Stages:
    """Runs stage functions in threads; the first failure stops them all."""

    def __init__(self) -> None:
        self.stop = threading.Event()
        self.failure: BaseException | None = None
        self.source_error: VideoError | None = None
        self._threads: list[threading.Thread] = []

    def start(self, stage: Callable[..., None], *args: Any) -> None:
        def guarded() -> None:
            try:
                stage(*args)
            except _Aborted:
                pass
            except BaseException as error:
                self.failure = self.failure or error
                self.stop.set()

        thread = threading.Thread(target=guarded, name=stage.__name__, daemon=True)
        thread.start()
        self._threads.append(thread)

    def put(self, channel: queue.Queue[Any], item: Any) -> None:
        while not self.stop.is_set():
            try:
                channel.put(item, timeout=0.1)
                return
            except queue.Full:
                continue
        raise _Aborted

    def get(self, channel: queue.Queue[Any]) -> Any:
        while not self.stop.is_set():
            try:
                return channel.get(timeout=0.1)
            except queue.Empty:
                continue
        raise _Aborted

    def shutdown(self) -> None:
        self.stop.set()
        for thread in self._threads:
            thread.join(timeout=10)


def _decode(
    stages: _Stages, video: VideoFile, detector: Detector, options: VideoOptions, out: queue.Queue[Any]
) -> None:
    try:
        for frame in video:
            if options.max_frames is not None and frame.index >= options.max_frames:
                break
            prepared = detector.preprocess(frame.image) if frame.index % options.skip == 0 else None
            stages.put(out, (frame, prepared))
    except VideoError as error:
        stages.source_error = error
    stages.put(out, _END)


def _infer(
    stages: _Stages, detector: Detector, options: VideoOptions, source: queue.Queue[Any], out: queue.Queue[Any]
) -> None:
    ended = False
    while not ended:
        chunk: list[tuple[Frame, Prepared | None]] = []
        tensors: list[Any] = []
        # Up to frames_in_flight analysed frames go to the backend together; the frame cap bounds memory.
        while len(tensors) < options.frames_in_flight and len(chunk) < 2 * options.frames_in_flight:
            item = stages.get(source)
            if item is _END:
                ended = True
                break
            chunk.append(item)
            if item[1] is not None:
                tensors.append(item[1][0])
        outputs = iter(detector.backend.infer_many(tensors) if tensors else [])
        for frame, prepared in chunk:
            detections = None
            if prepared is not None:
                detections = detector.postprocess(next(outputs)[0], prepared[1], options.params)
            stages.put(out, (frame, detections))
    stages.put(out, _END)


def process_video(
    detector: Detector,
    video: VideoFile,
    out: Path | None = None,
    csv: Path | None = None,
    options: VideoOptions | None = None,
    progress: Callable[[int], None] | None = None,
) -> VideoSummary:
    """Run the detector over every frame of ``video``; ``progress(n)`` is called as ``n`` more frames finish.

    Raises :class:`~polypdet.video.errors.VideoDecodeError` after writing the frames before a break when
    the video turns out truncated or corrupt.
    """
    options = options or VideoOptions()
    info = video.info
    start = time.perf_counter()
    tracker = PolypTracker(options.tracking, info.fps) if options.tracking else None
    writer = VideoWriter(out, info.width, info.height, info.fps, options.codec) if out else None
    table = DetectionCsv(csv) if csv else None
    stages = _Stages()
    decoded: queue.Queue[Any] = queue.Queue(options.queue_size)
    analysed: queue.Queue[Any] = queue.Queue(options.queue_size)
    frames = inferred = boxes = 0
    try:
        stages.start(_decode, stages, video, detector, options, decoded)
        stages.start(_infer, stages, detector, options, decoded, analysed)
        shown = Detections.empty()
        while (item := stages.get(analysed)) is not _END:
            frame, detections = item
            if detections is not None:
                shown = tracker.update(detections, frame.index, frame.timestamp_ms) if tracker else detections
                inferred += 1
            if writer:
                writer.write(draw_detections(frame.image, shown) if len(shown) else frame.image, frame.timestamp_ms)
            if table:
                table.write(frame.index, frame.timestamp_ms, shown)
            boxes += len(shown)
            frames += 1
            if progress:
                progress(1)
    except _Aborted:
        pass
    finally:
        stages.shutdown()
        if writer:
            writer.close()
        if table:
            table.close()
    if stages.failure:
        raise stages.failure
    if stages.source_error:
        raise stages.source_error
    elapsed = time.perf_counter() - start
    outputs = {name: str(path) for name, path in (("video", out), ("csv", csv)) if path}
    return VideoSummary(
        source=video.name,
        width=info.width,
        height=info.height,
        frames=frames,
        frames_analysed=inferred,
        source_fps=info.fps,
        processing_fps=frames / elapsed if elapsed > 0 else 0.0,
        elapsed_s=elapsed,
        model_version=detector.model_version,
        backend=detector.backend.name,
        conf=options.params.conf,
        tracking=tracker is not None,
        min_track_len=options.tracking.min_track_len if options.tracking else None,
        boxes=boxes,
        tracks=len(tracker.tracks()) if tracker else 0,
        polyps=tracker.polyps() if tracker else [],
        outputs=outputs,
    )
