"""The engine gives the boxes ultralytics gives with the same weights (needs the train extra)."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("ultralytics", reason="parity needs the train extra (torch + ultralytics)")

from polypdet.detections import Detections
from polypdet.engine.detector import Detector, DetectParams
from polypdet.engine.models import resolve_model
from polypdet.engine.preprocess import picture_region
from polypdet.io.images import read_image
from polypdet.train.export import onnx_from_checkpoint, parity, ultralytics_detections
from polypdet.train.pretrained import build_checkpoint

pytestmark = pytest.mark.train


@pytest.fixture(scope="module")
def images(data: Path) -> list[np.ndarray]:
    """Non-square images of three sizes from three sources."""
    paths = [
        *sorted((data / "kvasir-seg/images").glob("*.jpg"))[:4],
        *sorted((data / "cvc-clinicdb/images/val").glob("*.png"))[:3],
        *sorted((data / "frames-unlabeled").glob("*.jpg"))[:3],
    ]
    return [read_image(p) for p in paths]


@pytest.fixture(scope="module")
def coco_checkpoint(data: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_checkpoint(data / "weights/coco-yolov8n-int8.onnx", tmp_path_factory.mktemp("w") / "coco.pt")


@pytest.mark.parametrize("imgsz", [320, 640])
def test_rebuilt_coco_yolov8n(coco_checkpoint: Path, images: list[np.ndarray], imgsz: int) -> None:
    """A COCO model sees little in endoscopy: compare every box scoring 0.1 or more."""
    source = ultralytics_detections(coco_checkpoint, images, imgsz, conf=0.05)
    model = resolve_model(onnx_from_checkpoint(coco_checkpoint, imgsz))
    engine = Detector(model, backend="onnxruntime", crop_margins=False)
    _assert_same(source, engine.detect_batch(images, DetectParams(conf=0.05)), min_conf=0.1)


def test_cropped_margins_as_ultralytics_on_the_picture(coco_checkpoint: Path, images: list[np.ndarray]) -> None:
    """By default the engine runs on the picture inside the black margins: ultralytics' boxes on that crop,
    moved back into the whole frame."""
    regions = [picture_region(image) for image in images]
    whole = [(0, 0, image.shape[1], image.shape[0]) for image in images]
    assert sum(region != full for region, full in zip(regions, whole, strict=True)) >= 4
    crops = [image[y0:y1, x0:x1] for image, (x0, y0, x1, y1) in zip(images, regions, strict=True)]
    source = [
        replace(found, xyxy=found.xyxy + np.array([x0, y0, x0, y0], np.float32))
        for found, (x0, y0, _, _) in zip(
            ultralytics_detections(coco_checkpoint, crops, 320, conf=0.05), regions, strict=True
        )
    ]
    engine = Detector(resolve_model(onnx_from_checkpoint(coco_checkpoint, 320)), backend="onnxruntime")
    _assert_same(source, engine.detect_batch(images, DetectParams(conf=0.05)), min_conf=0.1)


def test_shipped_model_rebuilt_for_a_second_stage(data: Path, images: list[np.ndarray], tmp_path: Path) -> None:
    """The shipped fp32 ONNX (a 1-class head fine-tuned from COCO) rebuilds into a checkpoint with its boxes,
    also once its batch norms carry calibrated statistics."""
    shipped = resolve_model(None)
    calibration = sorted((data / "kvasir-seg/images").glob("*.jpg"))[-16:]
    checkpoint = build_checkpoint(shipped.onnx_path, tmp_path / "shipped.pt", calibration, shipped.input_size)
    source = ultralytics_detections(checkpoint, images, shipped.input_size, conf=0.05)
    ours = Detector(shipped, backend="onnxruntime", crop_margins=False).detect_batch(images, DetectParams(conf=0.05))
    # Checkpoints hold fp16 weights (as ultralytics saves them): close, not float-identical.
    _assert_same(source, ours, min_conf=0.1, min_iou=0.99, max_conf_diff=0.01)


def test_real_ultralytics_checkpoint(data: Path, images: list[np.ndarray]) -> None:
    """A real ultralytics YOLOv9t checkpoint, loaded by path: exported to ONNX on first use."""
    checkpoint = data / "weights/yolov9t-one-class-ball.pt"
    info = resolve_model(checkpoint)
    assert info.class_names == ("ball",)
    source = ultralytics_detections(checkpoint, images, info.input_size, conf=0.005)
    ours = Detector(info, backend="onnxruntime", crop_margins=False).detect_batch(images, DetectParams(conf=0.005))
    _assert_same(source, ours, min_conf=0.01)


def _assert_same(
    source: list[Detections],
    ours: list[Detections],
    min_conf: float,
    min_iou: float = 0.999,
    max_conf_diff: float = 1e-3,
) -> None:
    # Same letterbox (padded to a multiple of 32), same decoding: the same boxes to float precision.
    report = parity(source, ours, min_conf)
    assert report.compared > 0, "nothing to compare"
    assert report.min_iou > min_iou, report
    assert report.max_conf_diff < max_conf_diff, report
