"""One decoded video frame as it travels through the video pipeline, and what a video file is called."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

RGBImage = npt.NDArray[np.uint8]
VIDEO_SUFFIXES = frozenset({".mp4", ".m4v", ".mov", ".avi", ".mpg", ".mpeg", ".mkv", ".webm", ".wmv", ".ts"})


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
