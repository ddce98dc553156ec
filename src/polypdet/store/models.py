"""The tables. Change them only together with a new migration in ``migrations/versions``."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, DateTime, Float, Index, Integer, LargeBinary, String
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


class Base(DeclarativeBase):
    pass


class ResultRecord(Base):
    """One answered detection request: what was found, on what, with which model and parameters, for whom."""

    __tablename__ = "results"
    __allow_unmapped__ = True  # ``frames`` and ``dicom_header`` below are not columns

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    model_version: Mapped[str] = mapped_column(String(128))
    # ``params`` and ``detections`` live encrypted in ``payload`` (AES-256-GCM, see ResultStore); the plaintext
    # columns only hold rows written before migration 0002.
    params: Mapped[dict[str, Any]] = mapped_column(JSON, nullable=True)
    detections: Mapped[list[dict[str, Any]]] = mapped_column(JSON, nullable=True)
    payload: Mapped[bytes | None] = mapped_column(LargeBinary, nullable=True, default=None)
    image_width: Mapped[int] = mapped_column(Integer)
    image_height: Mapped[int] = mapped_column(Integer)
    inference_ms: Mapped[float] = mapped_column(Float)
    content_hash: Mapped[str] = mapped_column(String(64), index=True)
    source: Mapped[str] = mapped_column(String(16))
    owner: Mapped[str] = mapped_column(String(128))
    # The uploaded bytes, encrypted (own associated-data kind), only with STORE_SOURCE_IMAGES; loaded on demand
    # by ``ResultStore.source_image`` (migration 0003).
    source_image: Mapped[bytes | None] = mapped_column(LargeBinary, nullable=True, default=None, deferred=True)

    # Kept inside the encrypted ``payload`` only, for the DICOM SR / SC and FHIR outputs: every frame's
    # detections (multi-frame sources) and the source DICOM header without pixel data (``Dataset.to_json_dict``).
    frames: list[list[dict[str, Any]]] | None = None
    dicom_header: dict[str, Any] | None = None

    __table_args__ = (Index("ix_results_owner_created_id", "owner", "created_at", "id"),)
