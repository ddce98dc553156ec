"""Cache keys: a content hash of the uploaded bytes plus everything that changes the answer."""

from __future__ import annotations

import hashlib


def content_hash(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def cache_key(
    digest: str, model_version: str, input_size: int, crop_margins: bool, conf: float, iou: float, max_det: int
) -> str:
    seen = "picture" if crop_margins else "frame"
    return f"{model_version}:{input_size}:{seen}:{digest}:{conf:.4f}:{iou:.4f}:{max_det}"
