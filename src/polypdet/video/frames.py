"""One decoded video frame as it travels through the video pipeline, and what a video file is called."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

RGBImage = npt.NDArray[np.uint8]
VIDEO_SUFFIXES = frozenset({".mp4", ".m4v", ".mov", ".avi", ".mpg", ".mpeg", ".mkv", ".webm", ".wmv", ".ts"})
VIDEO_SIGNATURES = (
    (4, b"ftyp"),  # MP4, MOV
    (4, b"moov"),  # old QuickTime
    (0, b"\x00\x00\x01\xba"),  # MPEG programme stream
    (0, b"\x00\x00\x01\xb3"),  # MPEG-1/2 video stream
    (0, b"\x1a\x45\xdf\xa3"),  # Matroska, WebM
    (8, b"AVI "),
    (0, b"\x30\x26\xb2\x75\x8e\x66\xcf\x11"),  # ASF (WMV)
)
VIDEO_HEAD = 512
"""Bytes of a file's start that :func:`is_video` looks at."""


def is_video(head: bytes) -> bool:
    """True when ``head``, the start of a file, is that of a common video file (whatever the file is called)."""
    if head[:1] == b"\x47" and head[188:189] == b"\x47":  # MPEG transport stream: a sync byte every 188 bytes
        return True
    return any(head[offset : offset + len(magic)] == magic for offset, magic in VIDEO_SIGNATURES)


@dataclass(frozen=True)
class Frame:
    """An RGB frame, its position in the source and when the reader got it.

    ``timestamp_ms`` is the presentation time from the start of the source; ``received_at`` is
    ``time.perf_counter()`` when the frame left the decoder (latency is measured from it).
    """

    index: int
    timestamp_ms: float
    image: RGBImage
    received_at: float

    @property
    def height(self) -> int:
        return int(self.image.shape[0])

    @property
    def width(self) -> int:
        return int(self.image.shape[1])
