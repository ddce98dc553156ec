"""The detector: image in, :class:`~polypdet.detections.Detections` out, on the CPU."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt

from polypdet.detections import Detections
from polypdet.engine.backends import Backend, BackendName, Hint, InputTensor, Precision, load_backend
from polypdet.engine.models import ModelInfo, resolve_model
from polypdet.engine.postprocess import decode_yolo
from polypdet.engine.preprocess import LetterboxTransform, letterbox, picture_region
from polypdet.io.images import ReducedImage

Image = npt.NDArray[np.uint8] | ReducedImage
"""An RGB ``uint8`` array, or a large JPEG decoded at a reduced scale (boxes still come in full-size pixels)."""
STRIDE = 32
"""YOLOv8's largest feature stride: a model with a dynamic input takes any multiple of it."""
MAX_INPUT_SIZE = 2048
"""Larger than any endoscope frame needs; beyond it one tensor alone takes 50 MB and more."""


class InputSizeError(ValueError):
    """An input size the network cannot take."""


def check_input_size(size: int) -> int:
    """``size`` if the network takes it (a multiple of :data:`STRIDE` up to :data:`MAX_INPUT_SIZE`), else an error."""
    if not STRIDE <= size <= MAX_INPUT_SIZE or size % STRIDE:
        raise InputSizeError(f"input size must be a multiple of {STRIDE} from {STRIDE} to {MAX_INPUT_SIZE}, got {size}")
    return size


@dataclass(frozen=True)
class DetectParams:
    """Per-call thresholds (ultralytics' defaults for IoU; the seed's for confidence and count)."""

    conf: float = 0.25
    iou: float = 0.7
    max_det: int = 50


class Detector:
    """Runs one model on RGB ``uint8`` images of any size.

    By default it looks only at the endoscope's picture, without the black margins around it
    (:func:`~polypdet.engine.preprocess.picture_region`): between an HD frame's wide black sides the polyps would
    reach the network a third smaller. ``crop_margins=False`` letterboxes the whole frame, exactly as ultralytics does.

    >>> detector = Detector()                                  # doctest: +SKIP
    >>> detector.detect(rgb_image).to_json()                   # doctest: +SKIP
    [{'bbox': [112.4, 80.0, 301.9, 255.1], 'confidence': 0.91, 'class': 'polyp'}]
    """

    def __init__(
        self,
        model: ModelInfo | str | Path | None = None,
        backend: BackendName = "auto",
        threads: int | None = None,
        precision: Precision = "auto",
        hint: Hint = "latency",
        imgsz: int | None = None,
        params: DetectParams | None = None,
        crop_margins: bool = True,
    ) -> None:
        self.model = model if isinstance(model, ModelInfo) else resolve_model(model)
        self.input_size = check_input_size(imgsz or self.model.input_size)
        self.params = params or DetectParams()
        self.crop_margins = crop_margins
        self.backend: Backend = load_backend(self.model, backend, threads, precision, hint)

    @property
    def model_version(self) -> str:
        return self.model.model_version

    @property
    def settings(self) -> dict[str, int | bool]:
        """What besides the model and a request's :class:`DetectParams` decides the boxes."""
        return {"imgsz": self.input_size, "crop_margins": self.crop_margins}

    def preprocess(self, image: Image) -> tuple[InputTensor, LetterboxTransform]:
        stride = STRIDE if self.backend.dynamic_shape else None
        pixels = image.pixels if isinstance(image, ReducedImage) else image
        region = picture_region(pixels) if self.crop_margins else None
        padded, transform = letterbox(pixels, (self.input_size, self.input_size), stride, region)
        if isinstance(image, ReducedImage):
            transform = transform.for_full_size(image.scale, image.width, image.height)
        return self.backend.tensor([padded]), transform

    def postprocess(
        self, output: npt.NDArray[np.float32], transform: LetterboxTransform, params: DetectParams | None = None
    ) -> Detections:
        p = params or self.params
        boxes, scores, class_ids = decode_yolo(output, p.conf, p.iou, p.max_det)
        return Detections(
            xyxy=transform.to_original(boxes),
            confidence=scores,
            class_id=class_ids,
            class_names=self.model.class_names,
        )

    def detect(self, image: Image, params: DetectParams | None = None) -> Detections:
        """Detect polyps in one RGB image."""
        tensor, transform = self.preprocess(image)
        return self.postprocess(self.backend.infer(tensor)[0], transform, params)

    def detect_batch(self, images: Sequence[Image], params: DetectParams | None = None) -> list[Detections]:
        """Detect in many images, keeping the backend busy with all of them at once."""
        prepared = [self.preprocess(image) for image in images]
        outputs = self.backend.infer_many([tensor for tensor, _ in prepared])
        return [self.postprocess(out[0], t, params) for out, (_, t) in zip(outputs, prepared, strict=True)]
