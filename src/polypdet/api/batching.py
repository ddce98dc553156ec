"""Dynamic batching: concurrent requests in one worker share inference calls.

Requests wait in a bounded queue. The batch loop takes the first waiting image, waits at most
``max_delay_s`` for more (up to ``max_size``), and runs them together on one inference thread
(OpenVINO's throughput streams run the images of a batch in parallel). A full queue refuses new
work at once (:class:`QueueFullError`, answered 503) instead of letting latency grow without bound.
"""

from __future__ import annotations

import asyncio
import logging
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from polypdet.api.metrics import BATCH_SIZE, INFERENCE_SECONDS, QUEUE_WAIT_SECONDS
from polypdet.detections import Detections
from polypdet.engine.backends import InputTensor
from polypdet.engine.detector import Detector, DetectParams
from polypdet.engine.preprocess import LetterboxTransform

log = logging.getLogger(__name__)


class QueueFullError(RuntimeError):
    """More requests are waiting than the queue holds."""


@dataclass
class Timing:
    queue_ms: float
    inference_ms: float
    batch_size: int


@dataclass
class _Job:
    tensor: InputTensor
    transform: LetterboxTransform
    params: DetectParams
    future: asyncio.Future[tuple[Detections, Timing]]
    enqueued: float = field(default_factory=time.perf_counter)


class InferenceBatcher:
    def __init__(self, detector: Detector, max_size: int = 8, max_delay_s: float = 0.002, queue_max: int = 64) -> None:
        self.detector = detector
        self.max_size = max_size
        self.max_delay_s = max_delay_s
        self._queue: asyncio.Queue[_Job] = asyncio.Queue(queue_max)
        self._executor = ThreadPoolExecutor(1, thread_name_prefix="inference")
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._loop(), name="inference-batcher")

    async def stop(self) -> None:
        if self._task:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        self._executor.shutdown(wait=True)

    @property
    def waiting(self) -> int:
        return self._queue.qsize()

    async def submit(
        self, tensor: InputTensor, transform: LetterboxTransform, params: DetectParams, timeout_s: float
    ) -> tuple[Detections, Timing]:
        """Detections for one preprocessed image; raises QueueFullError or TimeoutError."""
        job = _Job(tensor, transform, params, asyncio.get_running_loop().create_future())
        try:
            self._queue.put_nowait(job)
        except asyncio.QueueFull:
            raise QueueFullError(f"{self._queue.maxsize} requests already waiting") from None
        return await asyncio.wait_for(job.future, timeout_s)

    async def _next_batch(self) -> list[_Job]:
        batch = [await self._queue.get()]
        if self._queue.qsize() < self.max_size - 1 and self.max_delay_s > 0:
            await asyncio.sleep(self.max_delay_s)
        while len(batch) < self.max_size and not self._queue.empty():
            batch.append(self._queue.get_nowait())
        return [job for job in batch if not job.future.done()]  # timed-out requests are dropped

    async def _loop(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            batch = await self._next_batch()
            if not batch:
                continue
            try:
                results = await loop.run_in_executor(self._executor, self._infer, batch)
            except Exception as error:
                log.exception("inference failed for a batch of %d", len(batch))
                for job in batch:
                    if not job.future.done():
                        job.future.set_exception(error)
                continue
            for job, result in zip(batch, results, strict=True):
                if not job.future.done():
                    job.future.set_result(result)

    def _infer(self, batch: list[_Job]) -> list[tuple[Detections, Timing]]:
        start = time.perf_counter()
        outputs = self.detector.backend.infer_many([job.tensor for job in batch])
        detections = [
            self.detector.postprocess(out[0], job.transform, job.params)
            for out, job in zip(outputs, batch, strict=True)
        ]
        inference_s = time.perf_counter() - start
        INFERENCE_SECONDS.observe(inference_s)
        BATCH_SIZE.observe(len(batch))
        timings = []
        for job in batch:
            queue_s = start - job.enqueued
            QUEUE_WAIT_SECONDS.observe(queue_s)
            timings.append(Timing(queue_s * 1000, inference_s * 1000, len(batch)))
        return list(zip(detections, timings, strict=True))
