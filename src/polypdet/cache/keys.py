"""Cache keys: a content hash of the uploaded bytes plus everything that changes the answer."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping


def content_hash(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def cache_key(digest: str, model_version: str, settings: Mapping[str, object]) -> str:
    """The key of an upload's answer: its bytes, the model, and every setting that decides the boxes (a stored
    result's ``params``: the request's conf, iou and max_det, the detector's input size and margin crop)."""
    parts = (
        f"{name}={value:.4f}" if isinstance(value, float) else f"{name}={value}"
        for name, value in sorted(settings.items())
    )
    return ":".join((model_version, digest, *parts))
