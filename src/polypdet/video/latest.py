"""The latest-frame policy for live sources: a reader thread keeps only the newest frame.

Whoever processes frames never falls behind the camera: a frame not taken before the next one arrives is
dropped (and counted). A file can be played at its own frame rate (``realtime``) to behave like a camera,
or ``lossless`` to hand over every frame.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterable

from polypdet.video.errors import StreamDisconnected, VideoError
from polypdet.video.frames import Frame


class LatestFrameReader:
    """Reads ``frames`` in a background thread; :meth:`get` returns the newest frame not yet taken.

    >>> reader = LatestFrameReader(video, realtime=True)       # doctest: +SKIP
    >>> while (frame := reader.get()) is not None:             # doctest: +SKIP
    ...     process(frame)
    >>> reader.dropped                                         # doctest: +SKIP
    12
    """

    def __init__(self, frames: Iterable[Frame], realtime: bool = False, lossless: bool = False) -> None:
        self.received = 0
        self.dropped = 0
        self.error: VideoError | None = None
        self._frames = frames
        self._realtime = realtime
        self._lossless = lossless
        self._slot: Frame | None = None
        self._ended = False
        self._stopped = False
        self._changed = threading.Condition()
        self._thread = threading.Thread(target=self._read, name="frame-reader", daemon=True)
        self._thread.start()

    def _read(self) -> None:
        clock_start: float | None = None
        try:
            for frame in self._frames:
                if self._realtime:
                    if clock_start is None:
                        clock_start = time.perf_counter() - frame.timestamp_ms / 1000
                    delay = clock_start + frame.timestamp_ms / 1000 - time.perf_counter()
                    if delay > 0:
                        time.sleep(delay)
                    frame = Frame(frame.index, frame.timestamp_ms, frame.image, time.perf_counter())
                if not self._offer(frame):
                    return
        except VideoError as error:
            self.error = error
        except Exception as error:  # an unexpected failure in the source must still end the stream
            self.error = StreamDisconnected(f"the source failed: {error}")
        finally:
            with self._changed:
                self._ended = True
                self._changed.notify_all()

    def _offer(self, frame: Frame) -> bool:
        with self._changed:
            if self._lossless:
                self._changed.wait_for(lambda: self._slot is None or self._stopped)
            if self._stopped:
                return False
            if self._slot is not None:
                self.dropped += 1
            self._slot = frame
            self.received += 1
            self._changed.notify_all()
            return True

    def get(self, timeout: float | None = None) -> Frame | None:
        """The newest frame, waiting for one; ``None`` once the source has ended and every frame was taken.

        Raises ``TimeoutError`` when no frame arrives within ``timeout`` seconds.
        """
        with self._changed:
            if not self._changed.wait_for(lambda: self._slot is not None or self._ended, timeout):
                raise TimeoutError(f"no frame within {timeout} s")
            frame, self._slot = self._slot, None
            self._changed.notify_all()
        if frame is not None and self._lossless:
            # Prefetched frames waited for us, not we for them: latency starts when the frame is taken.
            frame = Frame(frame.index, frame.timestamp_ms, frame.image, time.perf_counter())
        return frame

    def stop(self) -> None:
        """Stop reading (the thread ends after the frame it is decoding)."""
        with self._changed:
            self._stopped = True
            self._changed.notify_all()
        self._thread.join(timeout=5)
