"""One image's outcome in the seed's response format, shared by the CLI, the API and the store."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from polypdet.detections import Detections


def utc_now_iso() -> str:
    """ISO-8601 UTC with a ``Z``, millisecond precision: ``2025-11-14T10:30:00.123Z``."""
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


@dataclass
class DetectionResult:
    detections: Detections
    model_version: str
    image_width: int
    image_height: int
    inference_ms: float
    processed_at: str = field(default_factory=utc_now_iso)

    def to_json(self) -> dict[str, Any]:
        """``{"detections": [...], "processed_at": ..., "model_version": ...}`` plus image size and timing."""
        return {
            "detections": self.detections.to_json(),
            "processed_at": self.processed_at,
            "model_version": self.model_version,
            "image_width": self.image_width,
            "image_height": self.image_height,
            "inference_ms": round(self.inference_ms, 2),
        }
