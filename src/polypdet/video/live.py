"""Live detection: always the newest frame, tracked and drawn, with its latency measured.

Latency is the time from the frame leaving the decoder to its overlay being ready (detection, tracking and
drawing); frames that arrive meanwhile are dropped by :class:`~polypdet.video.latest.LatestFrameReader`.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from polypdet.detections import Detections
from polypdet.engine.detector import Detector, DetectParams
from polypdet.io.annotate import draw_detections
from polypdet.video.errors import StreamDisconnected, VideoError
from polypdet.video.frames import Frame, RGBImage
from polypdet.video.latest import LatestFrameReader
from polypdet.video.source import STREAM_TIMEOUT_S, FrameSource
from polypdet.video.tracking import PolypTrack, PolypTracker, TrackerConfig

FrameSink = Callable[[Frame, RGBImage, Detections, float], bool]
"""Called with each processed frame, its overlay, its boxes and its latency in ms; False stops the stream."""


@dataclass(frozen=True)
class StreamOptions:
    """``realtime`` plays a file at its own frame rate (dropping frames like a camera); a file without it
    hands over every frame."""

    params: DetectParams = field(default_factory=DetectParams)
    tracking: TrackerConfig | None = field(default_factory=TrackerConfig)
    realtime: bool = False
    lossless: bool = False
    max_frames: int | None = None
    duration_s: float | None = None
    frame_timeout_s: float = STREAM_TIMEOUT_S


@dataclass
class StreamReport:
    """What a stream run did; ``error`` says why a live source ended, ``None`` after a normal end."""

    source: str
    received: int = 0
    processed: int = 0
    dropped: int = 0
    elapsed_s: float = 0.0
    latencies_ms: list[float] = field(default_factory=list)
    polyps: list[PolypTrack] = field(default_factory=list)
    ended: str = "end of source"
    error: str | None = None

    def latency_ms(self, percentile: float) -> float:
        return float(np.percentile(self.latencies_ms, percentile)) if self.latencies_ms else 0.0

    def to_json(self) -> dict[str, Any]:
        return {
            "source": self.source,
            "frames_received": self.received,
            "frames_processed": self.processed,
            "frames_dropped": self.dropped,
            "elapsed_s": round(self.elapsed_s, 3),
            "processing_fps": round(self.processed / self.elapsed_s, 1) if self.elapsed_s else 0.0,
            "latency_ms": {
                "p50": round(self.latency_ms(50), 1),
                "p95": round(self.latency_ms(95), 1),
                "max": round(max(self.latencies_ms, default=0.0), 1),
            },
            "unique_polyps": len(self.polyps),
            "polyps": [p.to_json() for p in self.polyps],
            "ended": self.ended,
            "error": self.error,
        }


def run_stream(
    detector: Detector, source: FrameSource, name: str, options: StreamOptions, sink: FrameSink
) -> StreamReport:
    """Process ``source`` newest-frame-first until it ends, a limit is reached, or ``sink`` returns False."""
    report = StreamReport(source=name)
    tracker = PolypTracker(options.tracking, source.info.fps) if options.tracking else None
    reader = LatestFrameReader(source, realtime=options.realtime, lossless=options.lossless)
    start = time.perf_counter()
    try:
        while True:
            try:
                frame = reader.get(timeout=options.frame_timeout_s)
            except TimeoutError:
                raise StreamDisconnected(f"no frame for {options.frame_timeout_s:g} s") from None
            if frame is None:
                if reader.error:
                    raise reader.error
                break
            detections = detector.detect(frame.image, options.params)
            shown = tracker.update(detections, frame.index, frame.timestamp_ms) if tracker else detections
            overlay = draw_detections(frame.image, shown) if len(shown) else frame.image
            latency = (time.perf_counter() - frame.received_at) * 1000
            report.processed += 1
            report.latencies_ms.append(latency)
            if not sink(frame, overlay, shown, latency):
                report.ended = "stopped"
                break
            if options.max_frames is not None and report.processed >= options.max_frames:
                report.ended = "frame limit"
                break
            if options.duration_s is not None and time.perf_counter() - start >= options.duration_s:
                report.ended = "time limit"
                break
    except VideoError as error:
        report.ended, report.error = "disconnected", str(error)
    except KeyboardInterrupt:
        report.ended = "interrupted"
    finally:
        reader.stop()
        report.elapsed_s = time.perf_counter() - start
        report.received, report.dropped = reader.received, reader.dropped
        report.polyps = tracker.polyps() if tracker else []
    return report
