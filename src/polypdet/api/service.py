"""One detection request end to end: cache → decode → batch inference → store. Owned by the app."""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict
from datetime import UTC, datetime
from typing import Any

from fastapi.concurrency import run_in_threadpool

from polypdet.api.batching import InferenceBatcher, QueueFullError, Timing
from polypdet.api.decoding import decode_upload, dicom_header
from polypdet.api.errors import ApiError
from polypdet.api.intake import Upload
from polypdet.api.metrics import CACHE_LOOKUPS, REJECTED
from polypdet.cache import ResultCache, cache_key
from polypdet.cache.keys import content_hash
from polypdet.config import Settings
from polypdet.detections import Detections
from polypdet.engine.backends import InputTensor
from polypdet.engine.detector import Detector, DetectParams, Image
from polypdet.engine.preprocess import LetterboxTransform
from polypdet.store import ResultRecord, ResultStore, StoreError
from polypdet.store.store import as_utc

log = logging.getLogger(__name__)

OUTCOME_KEYS = frozenset({"detections", "image_width", "image_height", "inference_ms"})
HASH_IN_THREAD_BYTES = 1 << 20
"""Hash bigger uploads off the event loop (SHA-256 runs at about 1 GB/s)."""


def record_json(record: ResultRecord, cached: bool = False) -> dict[str, Any]:
    """A stored result as the API shows it: the seed's object plus id, size, timing and provenance."""
    created = as_utc(record.created_at).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    return {
        "id": record.id,
        "detections": record.detections,
        "processed_at": created,
        "model_version": record.model_version,
        "image_width": record.image_width,
        "image_height": record.image_height,
        "inference_ms": record.inference_ms,
        "cached": cached,
        "params": record.params,
        "content_hash": record.content_hash,
        "source": record.source,
        "owner": record.owner,
        "frames": frames_json(record.frames),
    }


def frames_json(frames: list[list[dict[str, Any]]] | None) -> list[dict[str, Any]] | None:
    """Per-frame detections of a multi-frame source, numbered from 1 like DICOM frames; ``None`` otherwise."""
    if not frames:
        return None
    return [{"frame": number, "detections": detections} for number, detections in enumerate(frames, start=1)]


class DetectionService:
    def __init__(self, settings: Settings, detector: Detector, store: ResultStore, cache: ResultCache) -> None:
        self.settings = settings
        self.detector = detector
        self.store = store
        self.cache = cache
        self.batcher = InferenceBatcher(
            detector, settings.batch_max_size, settings.batch_max_delay_ms / 1000, settings.queue_max
        )
        self._decoders = ThreadPoolExecutor(2, thread_name_prefix="decode")

    def start(self) -> None:
        self.batcher.start()

    async def stop(self) -> None:
        await self.batcher.stop()
        self._decoders.shutdown(wait=False)
        await self.cache.close()
        self.store.close()

    def params_for(self, conf: float | None, max_det: int | None) -> DetectParams:
        return DetectParams(
            conf=self.settings.confidence_threshold if conf is None else conf,
            max_det=self.settings.max_detections if max_det is None else max_det,
        )

    def _prepare(self, frames: Sequence[Image]) -> list[tuple[InputTensor, LetterboxTransform]]:
        return [self.detector.preprocess(frame) for frame in frames]

    async def _submit(
        self, tensor: InputTensor, transform: LetterboxTransform, params: DetectParams
    ) -> tuple[Detections, Timing]:
        try:
            return await self.batcher.submit(tensor, transform, params, self.settings.request_timeout_s)
        except QueueFullError:
            REJECTED.labels("queue_full").inc()
            raise ApiError(
                503, "overloaded", "too many requests waiting; retry shortly", {"Retry-After": "1"}
            ) from None
        except TimeoutError:
            REJECTED.labels("timeout").inc()
            detail = f"no answer within {self.settings.request_timeout_s:g} s; retry shortly"
            raise ApiError(503, "timeout", detail, {"Retry-After": "2"}) from None

    async def _infer(self, upload: Upload, params: DetectParams) -> tuple[dict[str, Any], dict[str, Any] | None]:
        """The outcome (cacheable, no patient data) and, for DICOM, the header; frames go in batcher-sized groups."""
        loop = asyncio.get_running_loop()
        decoded = await loop.run_in_executor(self._decoders, decode_upload, upload, self.detector.input_size)
        (width, height), header, frames = decoded.size, decoded.dicom_header, decoded.frames
        del decoded  # each group of frames is let go once it is letterboxed, not held while inference waits
        per_frame: list[list[dict[str, Any]]] = []
        inference_ms = 0.0
        step = self.settings.batch_max_size
        while frames:
            group, frames = frames[:step], frames[step:]
            prepared = await loop.run_in_executor(self._decoders, self._prepare, group)
            del group
            answers = await asyncio.gather(*(self._submit(tensor, transform, params) for tensor, transform in prepared))
            per_frame.extend(detections.to_json() for detections, _ in answers)
            inference_ms += sum(timing.inference_ms for _, timing in answers)
        outcome = {
            "detections": per_frame[0],
            "image_width": width,
            "image_height": height,
            "inference_ms": round(inference_ms, 2),
            "frames": per_frame if len(per_frame) > 1 else None,
        }
        return outcome, header

    async def detect(self, upload: Upload, owner: str) -> dict[str, Any]:
        """Answer one upload and persist the result; returns the API response object.

        A multi-frame DICOM or multi-page image answers every frame (``frames``); ``detections`` holds the first's.
        """
        params = self.params_for(upload.conf, upload.max_det)
        if len(upload.data) > HASH_IN_THREAD_BYTES:
            digest = await run_in_threadpool(content_hash, upload.data)
        else:
            digest = content_hash(upload.data)
        detector = self.detector
        settings = asdict(params) | detector.settings
        key = cache_key(digest, detector.model_version, settings)
        found = await self.cache.get(key)
        if found is not None and not found.keys() >= OUTCOME_KEYS:
            found = None
        CACHE_LOOKUPS.labels(self.cache.name, "hit" if found else "miss").inc()
        header = None
        if found is None:
            outcome, header = await self._infer(upload, params)
            await self.cache.set(key, outcome)
        else:
            outcome = found
            if upload.kind == "dicom":  # the cache holds no patient data: read the header again
                header = await asyncio.get_running_loop().run_in_executor(self._decoders, dicom_header, upload.data)
        record = ResultRecord(
            id=uuid.uuid4().hex,
            created_at=datetime.now(UTC),
            model_version=detector.model_version,
            params=settings,
            detections=outcome["detections"],
            image_width=outcome["image_width"],
            image_height=outcome["image_height"],
            inference_ms=outcome["inference_ms"],
            content_hash=digest,
            source=upload.kind,
            owner=owner,
            source_image=upload.data if self.settings.store_source_images else None,
        )
        record.frames, record.dicom_header = outcome.get("frames"), header
        try:
            await run_in_threadpool(self.store.add, record)
        except StoreError as error:
            log.error("result not saved: %s", error)
            raise ApiError(503, "store_unavailable", "the results store is unavailable", {"Retry-After": "5"}) from None
        return record_json(record, cached=found is not None)
