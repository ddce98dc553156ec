"""The one detection type that flows from the engine to the API, DICOM, FHIR, video and CSV outputs."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

CLASS_NAMES: tuple[str, ...] = ("polyp",)

FloatArray = npt.NDArray[np.float32]
IntArray = npt.NDArray[np.int64]


def _as_float(values: Any, shape: tuple[int, ...]) -> FloatArray:
    return np.ascontiguousarray(values, dtype=np.float32).reshape(shape)


@dataclass(frozen=True)
class Detection:
    """One box in original-image pixels."""

    bbox: tuple[float, float, float, float]
    confidence: float
    class_id: int = 0
    class_name: str = CLASS_NAMES[0]
    track_id: int | None = None

    def to_json(self) -> dict[str, Any]:
        """The seed's detection object: ``{"bbox": [...], "confidence": .., "class": "polyp"}``."""
        out: dict[str, Any] = {
            "bbox": [round(v, 2) for v in self.bbox],
            "confidence": round(self.confidence, 4),
            "class": self.class_name,
        }
        if self.track_id is not None:
            out["track_id"] = self.track_id
        return out


@dataclass
class Detections:
    """Boxes of one image: ``xyxy`` (N, 4) pixels, ``confidence`` (N,), ``class_id`` (N,), ``tracker_id``.

    >>> d = Detections(xyxy=[[10, 20, 50, 60]], confidence=[0.9])
    >>> d.to_json()
    [{'bbox': [10.0, 20.0, 50.0, 60.0], 'confidence': 0.9, 'class': 'polyp'}]
    >>> len(Detections.empty())
    0
    """

    xyxy: FloatArray
    confidence: FloatArray
    class_id: IntArray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    tracker_id: IntArray | None = None
    class_names: Sequence[str] = CLASS_NAMES

    def __post_init__(self) -> None:
        self.xyxy = _as_float(self.xyxy, (-1, 4))
        n = len(self.xyxy)
        self.confidence = _as_float(self.confidence, (n,))
        class_id = np.asarray(self.class_id, dtype=np.int64).reshape(-1)
        self.class_id = class_id if len(class_id) == n else np.zeros(n, dtype=np.int64)
        if self.tracker_id is not None:
            self.tracker_id = np.asarray(self.tracker_id, dtype=np.int64).reshape(n)
        if n and (np.any(self.xyxy[:, 2] < self.xyxy[:, 0]) or np.any(self.xyxy[:, 3] < self.xyxy[:, 1])):
            raise ValueError("boxes must satisfy x1 <= x2 and y1 <= y2")

    @classmethod
    def empty(cls) -> Detections:
        return cls(xyxy=np.zeros((0, 4), np.float32), confidence=np.zeros(0, np.float32))

    def __len__(self) -> int:
        return len(self.xyxy)

    def __getitem__(self, index: Any) -> Detections:
        """Select boxes by a boolean mask, an index array or a slice."""
        if isinstance(index, int):
            index = [index]
        return Detections(
            xyxy=self.xyxy[index],
            confidence=self.confidence[index],
            class_id=self.class_id[index],
            tracker_id=None if self.tracker_id is None else self.tracker_id[index],
            class_names=self.class_names,
        )

    def __iter__(self) -> Iterator[Detection]:
        for i in range(len(self)):
            cid = int(self.class_id[i])
            x1, y1, x2, y2 = (float(v) for v in self.xyxy[i])
            yield Detection(
                bbox=(x1, y1, x2, y2),
                confidence=float(self.confidence[i]),
                class_id=cid,
                class_name=self.class_names[cid] if cid < len(self.class_names) else str(cid),
                track_id=None if self.tracker_id is None else int(self.tracker_id[i]),
            )

    def to_json(self) -> list[dict[str, Any]]:
        """The seed's ``detections`` list."""
        return [d.to_json() for d in self]

    @classmethod
    def from_json(cls, items: Sequence[dict[str, Any]], class_names: Sequence[str] = CLASS_NAMES) -> Detections:
        """Inverse of :meth:`to_json` (class names map back to ids)."""
        if not items:
            return cls.empty()
        ids = [class_names.index(i["class"]) if i.get("class") in class_names else 0 for i in items]
        tracks = [i.get("track_id") for i in items]
        return cls(
            xyxy=np.asarray([i["bbox"] for i in items], np.float32),
            confidence=np.asarray([i["confidence"] for i in items], np.float32),
            class_id=np.asarray(ids, np.int64),
            tracker_id=None if any(t is None for t in tracks) else np.asarray(tracks, np.int64),
            class_names=class_names,
        )
