"""Request and response bodies as they appear in the OpenAPI document."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, model_validator

Confidence = Annotated[float, Field(ge=0.0, le=1.0, description="minimum confidence, 0..1")]
MaxDet = Annotated[int, Field(ge=1, le=1000, description="most boxes returned, 1..1000")]


class DetectRequest(BaseModel):
    """A JSON upload: exactly one of ``image`` or ``dicom``, base64-encoded."""

    model_config = ConfigDict(extra="forbid")

    image: str | None = Field(default=None, description="base64 JPEG/PNG/BMP/TIFF/WebP")
    dicom: str | None = Field(default=None, description="base64 DICOM Part 10 file")
    conf: Confidence | None = None
    max_det: MaxDet | None = None

    @model_validator(mode="after")
    def exactly_one_payload(self) -> DetectRequest:
        if (self.image is None) == (self.dicom is None):
            raise ValueError("send exactly one of 'image' or 'dicom'")
        return self


class MultipartUpload(BaseModel):
    """A ``multipart/form-data`` upload (documentation only: the route parses the form itself)."""

    file: bytes = Field(description="the image or DICOM file", json_schema_extra={"format": "binary"})
    conf: Confidence | None = None
    max_det: MaxDet | None = None


class DetectionOut(BaseModel):
    model_config = ConfigDict(populate_by_name=True)

    bbox: list[float] = Field(description="[x1, y1, x2, y2] in original-image pixels", min_length=4, max_length=4)
    confidence: float
    class_: str = Field(alias="class")


class FrameOut(BaseModel):
    frame: int = Field(ge=1, description="frame number, from 1 (as DICOM Referenced Frame Number)")
    detections: list[DetectionOut]


class DetectResponse(BaseModel):
    """The seed's response object plus the stored result's id, the image size and timings.

    A multi-frame DICOM, multi-page TIFF or animated GIF/PNG/WebP answers every frame in ``frames``; ``detections``
    then holds the first frame's (what a client of the seed's single-image API reads). ``frames`` is absent for
    single images and single-frame DICOM.
    """

    id: str
    detections: list[DetectionOut] = Field(description="the image's boxes; for a multi-frame source, frame 1's")
    processed_at: str = Field(description="ISO-8601 UTC with a Z")
    model_version: str
    image_width: int
    image_height: int
    inference_ms: float
    cached: bool = Field(description="true when the answer came from the result cache")
    frames: list[FrameOut] | None = Field(
        default=None, description="multi-frame sources only: every frame's boxes (inference_ms is their total)"
    )


class StoredResult(DetectResponse):
    params: dict[str, Any]
    content_hash: str = Field(description="SHA-256 of the uploaded bytes")
    source: str = Field(description="image or dicom")
    owner: str


class ResultList(BaseModel):
    items: list[StoredResult]
    next_cursor: str | None = Field(description="pass as ?cursor= for the next (older) page; null at the end")


class ErrorOut(BaseModel):
    error: str = Field(description="short machine-readable code")
    detail: str = Field(description="what went wrong, for a person")


class Health(BaseModel):
    status: str
    model_loaded: bool
    model_version: str | None
    cpu_usage: float
    memory_usage: float
    timestamp: str


class Readiness(BaseModel):
    ready: bool
    model_loaded: bool
    store: bool
