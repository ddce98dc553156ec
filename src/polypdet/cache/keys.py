"""Cache keys: a content hash of the uploaded bytes plus everything that changes the answer."""

from __future__ import annotations

import hashlib


def content_hash(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def cache_key(digest: str, model_version: str, input_size: int, conf: float, iou: float, max_det: int) -> str:
    return f"{model_version}:{input_size}:{digest}:{conf:.4f}:{iou:.4f}:{max_det}"
