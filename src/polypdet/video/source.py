"""Frame sources: video files and network streams through FFmpeg (PyAV), local cameras through OpenCV.

Every source yields :class:`~polypdet.video.frames.Frame` objects with RGB images and timestamps from the
start of the source, and turns FFmpeg's failures into one-line :class:`~polypdet.video.errors.VideoError`\\ s.

>>> with VideoFile("clip.mpg") as video:                     # doctest: +SKIP
...     video.info.fps, sum(1 for _ in video)
(30.0, 646)
"""

from __future__ import annotations

import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any, Protocol

import av
import av.container
import av.error
import av.video
import cv2
import numpy as np

from polypdet.video.errors import StreamDisconnected, VideoDecodeError, VideoOpenError
from polypdet.video.frames import Frame, RGBImage

STREAM_SCHEMES = ("rtsp://", "rtsps://", "rtmp://", "http://", "https://", "udp://", "tcp://", "srt://")
STREAM_TIMEOUT_S = 10.0
"""How long a network stream may stay silent (on open or between frames) before it counts as disconnected."""
_FAST_YUV = frozenset({"yuv420p"})


@dataclass(frozen=True)
class VideoInfo:
    """What the container says about its video stream (``frame_count`` 0 when it does not say)."""

    width: int
    height: int
    fps: float
    frame_count: int
    codec: str


class FrameSource(Protocol):
    """Anything that yields frames in order and can be closed."""

    info: VideoInfo

    def __iter__(self) -> Iterator[Frame]: ...

    def close(self) -> None: ...


def is_stream_url(spec: str) -> bool:
    return spec.lower().startswith(STREAM_SCHEMES)


def _rgb(frame: av.VideoFrame) -> RGBImage:
    """Convert with OpenCV where it can: several times faster than FFmpeg's swscale for large frames."""
    if frame.format.name in _FAST_YUV and frame.width % 2 == 0 and frame.height % 2 == 0:
        yuv = frame.to_ndarray()
        return np.asarray(cv2.cvtColor(yuv, cv2.COLOR_YUV2RGB_I420), dtype=np.uint8)
    return np.asarray(frame.to_ndarray(format="rgb24"), dtype=np.uint8)


def _reason(error: BaseException) -> str:
    return getattr(error, "strerror", None) or str(error)


class VideoFile:
    """A video file or network stream decoded by FFmpeg.

    ``live`` sources (network streams) decode with slice threads only, so no frames wait inside the
    decoder, and a read that stalls for ``STREAM_TIMEOUT_S`` ends the stream as disconnected.
    """

    def __init__(self, source: str | Path, live: bool | None = None) -> None:
        self.name = str(source)
        self.live = is_stream_url(self.name) if live is None else live
        self._container = self._open()
        try:
            self._stream = self._video_stream()
        except VideoOpenError:
            self._container.close()
            raise
        rate = self._stream.guessed_rate or self._stream.average_rate
        fps = float(rate) if rate else 0.0
        declared = int(self._stream.frames or 0)
        if not declared and self._container.duration and fps:
            declared = round(self._container.duration / av.time_base * fps)
        context = self._stream.codec_context
        self.info = VideoInfo(context.width, context.height, fps or 25.0, declared, context.name)
        self._exact_count = int(self._stream.frames or 0)

    def _open(self) -> av.container.InputContainer:
        options = {"rtsp_transport": "tcp"} if self.name.lower().startswith(("rtsp://", "rtsps://")) else {}
        timeout = STREAM_TIMEOUT_S if self.live else None
        try:
            return av.open(self.name, mode="r", options=options, timeout=timeout)
        except FileNotFoundError:
            raise VideoOpenError("no such file") from None
        except av.error.EOFError:
            raise VideoOpenError("the file ends before any video frame (empty or cut off)") from None
        except (av.error.FFmpegError, OSError) as error:
            what = "cannot open the stream" if self.live else "not a readable video file"
            raise VideoOpenError(f"{what} ({_reason(error)})") from None

    def _video_stream(self) -> av.video.VideoStream:
        container = self._container
        if container.format.name == "image2" or container.format.name.endswith("_pipe"):
            raise VideoOpenError("a still image, not a video (use `polypdet detect` for images)")
        if not container.streams.video:
            raise VideoOpenError("no video stream in the file")
        stream = container.streams.video[0]
        if stream.codec_context is None:
            raise VideoOpenError("unsupported video codec: FFmpeg has no decoder for it")
        stream.thread_type = "SLICE" if self.live else "AUTO"
        return stream

    def __iter__(self) -> Iterator[Frame]:
        index = 0
        start: float | None = None
        try:
            for decoded in self._container.decode(self._stream):
                if decoded.time is None:
                    timestamp = index * 1000.0 / self.info.fps
                else:
                    start = decoded.time if start is None else start
                    timestamp = (decoded.time - start) * 1000.0
                yield Frame(index, timestamp, _rgb(decoded), time.perf_counter())
                index += 1
        except (av.error.FFmpegError, OSError) as error:
            if self.live:
                raise StreamDisconnected(f"stream lost after {index} frame(s) ({_reason(error)})") from None
            raise VideoDecodeError(f"corrupt or truncated video after frame {index} ({_reason(error)})") from None
        if index == 0:
            raise VideoOpenError("the video has no frames that can be decoded")
        if self.live:
            raise StreamDisconnected(f"stream ended after {index} frame(s)")
        if self._exact_count and index < self._exact_count:
            raise VideoDecodeError(f"truncated video: decoded {index} of {self._exact_count} frames")

    def close(self) -> None:
        self._container.close()

    def __enter__(self) -> VideoFile:
        return self

    def __exit__(self, *exc: type[BaseException] | BaseException | TracebackType | None) -> None:
        self.close()


class CameraSource:
    """A local camera (``/dev/videoN``) by index, through OpenCV's V4L2 back-end."""

    def __init__(self, index: int) -> None:
        self.name = f"camera {index}"
        if sys.platform.startswith("linux") and not Path(f"/dev/video{index}").exists():
            raise VideoOpenError(f"no camera {index} (/dev/video{index} does not exist)")
        self._capture = cv2.VideoCapture(index)
        if not self._capture.isOpened():
            raise VideoOpenError(f"cannot open camera {index} (is /dev/video{index} present and free?)")
        width = int(self._capture.get(cv2.CAP_PROP_FRAME_WIDTH))
        height = int(self._capture.get(cv2.CAP_PROP_FRAME_HEIGHT))
        fps = float(self._capture.get(cv2.CAP_PROP_FPS)) or 30.0
        self.info = VideoInfo(width, height, fps, 0, "camera")

    def __iter__(self) -> Iterator[Frame]:
        index = 0
        start = time.perf_counter()
        while True:
            ok, bgr = self._capture.read()
            if not ok:
                raise StreamDisconnected(f"{self.name} stopped delivering frames after {index} frame(s)")
            now = time.perf_counter()
            rgb: Any = cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
            yield Frame(index, (now - start) * 1000.0, np.asarray(rgb, dtype=np.uint8), now)
            index += 1

    def close(self) -> None:
        self._capture.release()


def open_source(spec: str) -> FrameSource:
    """A camera index (``0``), a stream URL (``rtsp://...``, ``http://...``) or a video file path."""
    if spec.isdigit():
        return CameraSource(int(spec))
    if not is_stream_url(spec) and not Path(spec).is_file():
        raise VideoOpenError("no such file" if not Path(spec).exists() else "not a regular file")
    return VideoFile(spec)
