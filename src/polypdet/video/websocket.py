"""``/api/stream``: a WebSocket taking JPEG (or PNG) frames and answering with tracked detections.

The client sends each frame as one binary message. The server answers the newest frame it has whenever it
is free, so a client sending faster than frames can be served gets fewer answers, never a growing delay::

    {"frame": 17, "detections": [{"bbox": [..], "confidence": 0.91, "class": "polyp", "track_id": 1}],
     "dropped": 3, "inference_ms": 12.5, "image_width": 352, "image_height": 240, "model_version": "..."}

``frame`` counts the client's messages from 1; ``dropped`` is how many frames were skipped so far. A bad
frame is answered with ``{"frame": n, "error": "..."}`` and the connection stays open. Each connection
is one procedure with its own tracker. A client offering the subprotocol ``polypdet`` gets it back; other
subprotocols it offers (a browser's ``bearer.<credential>``) are never echoed.

>>> app.include_router(create_stream_router(lambda: detector))   # doctest: +SKIP
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from fastapi import APIRouter, WebSocket, WebSocketDisconnect
from starlette.concurrency import run_in_threadpool

from polypdet.engine.detector import Detector, DetectParams
from polypdet.io.images import ImageDecodeError, decode_image

if TYPE_CHECKING:
    from polypdet.video.tracking import PolypTracker, TrackerConfig

MAX_FRAME_BYTES = 8 * 1024 * 1024
SUBPROTOCOL = "polypdet"


@dataclass
class _Latest:
    """The newest unanswered frame of one connection, and the counters the client sees."""

    received: int = 0
    dropped: int = 0
    frame: tuple[int, bytes, float] | None = None
    closed: bool = False
    ready: asyncio.Event = field(default_factory=asyncio.Event)

    def offer(self, data: bytes) -> None:
        self.received += 1
        if self.frame is not None:
            self.dropped += 1
        self.frame = (self.received, data, time.perf_counter())
        self.ready.set()

    def close(self) -> None:
        self.closed = True
        self.ready.set()


def create_stream_router(
    get_detector: Callable[[], Detector],
    params: DetectParams | None = None,
    tracking: TrackerConfig | None = None,
    path: str = "/api/stream",
) -> APIRouter:
    """A router with the stream endpoint; ``get_detector`` is called once per connection."""
    router = APIRouter()
    params = params or DetectParams()
    inference = threading.Lock()  # one frame at a time per detector: an OpenVINO request is not re-entrant

    def analyse(detector: Detector, tracker: PolypTracker, number: int, data: bytes, arrived: float) -> dict[str, Any]:
        if len(data) > MAX_FRAME_BYTES:
            return {"frame": number, "error": f"frame larger than {MAX_FRAME_BYTES // 1024 // 1024} MB"}
        try:
            image = decode_image(data)
        except ImageDecodeError as error:
            return {"frame": number, "error": str(error)}
        start = time.perf_counter()
        with inference:
            detections = detector.detect(image, params)
        elapsed = (time.perf_counter() - start) * 1000
        tracked = tracker.update(detections, number, arrived * 1000)
        return {
            "frame": number,
            "detections": tracked.to_json(),
            "inference_ms": round(elapsed, 2),
            "image_width": int(image.shape[1]),
            "image_height": int(image.shape[0]),
            "model_version": detector.model_version,
        }

    async def receive(websocket: WebSocket, latest: _Latest) -> None:
        try:
            while True:
                message = await websocket.receive()
                if message["type"] == "websocket.disconnect":
                    return
                data = message.get("bytes")
                if data is None:
                    latest.offer(b"")  # answered with an error: frames must be binary messages
                else:
                    latest.offer(data)
        finally:
            latest.close()

    async def serve(websocket: WebSocket, latest: _Latest, detector: Detector) -> None:
        from polypdet.video.tracking import PolypTracker  # ~75 MB of tracking libraries: load on first use

        tracker = PolypTracker(tracking)
        opened = time.perf_counter()
        while True:
            await latest.ready.wait()
            latest.ready.clear()
            if latest.closed:
                return
            if latest.frame is None:
                continue
            (number, data, arrived), latest.frame = latest.frame, None
            if not data:
                reply: dict[str, Any] = {"frame": number, "error": "send each frame as a binary JPEG/PNG message"}
            else:
                reply = await run_in_threadpool(analyse, detector, tracker, number, data, arrived - opened)
            reply["dropped"] = latest.dropped
            await websocket.send_json(reply)

    @router.websocket(path)
    async def stream(websocket: WebSocket) -> None:
        offered = websocket.scope.get("subprotocols", [])
        await websocket.accept(subprotocol=SUBPROTOCOL if SUBPROTOCOL in offered else None)
        detector = get_detector()
        latest = _Latest()
        tasks = [
            asyncio.create_task(receive(websocket, latest)),
            asyncio.create_task(serve(websocket, latest, detector)),
        ]
        try:
            await asyncio.gather(*tasks)
        except WebSocketDisconnect:
            pass  # the client left while an answer was on its way
        finally:
            for task in tasks:
                task.cancel()

    return router
