"""Export trained weights: ONNX (the engine's format), OpenVINO IR, TFLite and Core ML.

Every export that can run here is checked against its source: the same images through both must give
the same boxes (:func:`parity`). Core ML runs only on Apple platforms, TensorRT engines need an NVIDIA GPU.
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib.util
import logging
import os
import shutil
import sys
import tempfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt

from polypdet.detections import Detections

NOT_RUNNABLE = {"engine": "TensorRT needs an NVIDIA GPU"}
NOT_CHECKED = {"coreml": "Core ML models run only on Apple platforms"}
ONNX2TF_SAMPLES = "calibration_image_sample_data_20x128x128x3_float32.npy"
"""The 20 images (128 px, RGB, 0..1) that onnx2tf checks its layout changes on; it downloads them unless this file
is in its working directory."""


class ExportError(RuntimeError):
    """The format cannot be produced or checked here; the message says why."""


def _cache_dir() -> Path:
    return Path.home() / ".cache" / "polypdet" / "exports"


def onnx_from_checkpoint(checkpoint: Path, imgsz: int | None = None, out: Path | None = None) -> Path:
    """Export an ultralytics ``.pt`` to ONNX once (cached by content hash); needs the train extra."""
    digest = hashlib.sha256(checkpoint.read_bytes()).hexdigest()[:16]
    target = out or _cache_dir() / f"{checkpoint.stem}-{digest}-{imgsz or 'native'}-dynamic.onnx"
    if out is None and target.exists():  # the content-hash cache; an explicit target is always rewritten
        return target
    # ultralytics writes the export beside its source, which may be read-only (shared data): export a copy.
    with ultralytics_on_stderr(), tempfile.TemporaryDirectory(prefix="polypdet-export-") as scratch:
        from ultralytics import YOLO

        source = Path(scratch) / checkpoint.name
        shutil.copyfile(checkpoint, source)
        model = YOLO(str(source))
        trained_size = int((model.ckpt or {}).get("train_args", {}).get("imgsz", 640))
        exported = model.export(format="onnx", imgsz=imgsz or trained_size, simplify=True, dynamic=True, opset=17)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.move(exported, target)
    return target


@contextlib.contextmanager
def ultralytics_on_stderr() -> Iterator[None]:
    """Load and run ultralytics with its prints on stderr and its info lines silenced: a command's stdout carries
    its results (``--json``). Its warnings still show."""
    from polypdet.train.torch_compat import prepare_ultralytics

    with contextlib.redirect_stdout(sys.stderr):  # ultralytics' first import logs (a new settings file) to stdout
        try:
            prepare_ultralytics()
            from ultralytics.utils import LOGGER
        except ImportError as error:
            raise ExportError(
                f"loading .pt files needs the train extra (pip install 'polypdet[train]'): {error}"
            ) from None
        level = LOGGER.level
        LOGGER.setLevel(logging.WARNING)
        try:
            yield
        finally:
            LOGGER.setLevel(level)


def openvino_from_onnx(onnx_path: Path, out_dir: Path) -> Path:
    """Convert ONNX to OpenVINO IR (``.xml`` + ``.bin``), weights kept in fp32."""
    import openvino as ov

    out_dir.mkdir(parents=True, exist_ok=True)
    target = out_dir / f"{onnx_path.stem}.xml"
    ov.save_model(ov.convert_model(str(onnx_path)), str(target), compress_to_fp16=False)
    return target


def static_onnx(onnx_path: Path, imgsz: int, target: Path) -> Path:
    """``onnx_path`` with a fixed ``1 x 3 x imgsz x imgsz`` input and its shape arithmetic folded (onnxruntime's
    basic level): what formats with a fixed input are converted from, and checked against."""
    import onnx
    import onnxruntime as ort

    model = onnx.load(str(onnx_path))
    for dim, size in zip(model.graph.input[0].type.tensor_type.shape.dim, (1, 3, imgsz, imgsz), strict=True):
        dim.Clear()
        dim.dim_value = size
    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_BASIC
    options.optimized_model_filepath = str(target)
    ort.InferenceSession(model.SerializeToString(), options, providers=["CPUExecutionProvider"])
    return target


def tflite_from_onnx(static_path: Path, target: Path, samples: Sequence[npt.NDArray[np.uint8]]) -> Path:
    """Convert a :func:`static_onnx` model to an fp32 TFLite file by onnx2tf (the export extra; it cannot convert
    YOLOv8's dynamic anchors). onnx2tf rewrites its input file, so it gets a copy, and its sample images are made
    from ``samples``."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")  # TensorFlow's C++ start-up lines
    try:
        import onnx2tf
    except ImportError as error:
        raise ExportError(f"tflite export needs the export extra (pip install 'polypdet[export]'): {error}") from None
    static_path, target = static_path.resolve(), target.resolve()
    with tempfile.TemporaryDirectory(prefix="polypdet-tflite-") as scratch, contextlib.chdir(scratch):
        shutil.copyfile(static_path, "model.onnx")
        np.save(ONNX2TF_SAMPLES, _onnx2tf_samples(samples))
        with contextlib.redirect_stdout(sys.stderr):
            try:
                onnx2tf.convert(
                    input_onnx_file_path="model.onnx", output_folder_path="tf", not_use_onnxsim=True, non_verbose=True
                )
            except (Exception, SystemExit) as error:  # onnx2tf exits on what it cannot convert
                reason = type(error).__name__
                raise ExportError(
                    f"onnx2tf could not convert {static_path.name} ({reason}; its log above says where)"
                ) from None
        if not Path("tf/model_float32.tflite").exists():
            raise ExportError(f"onnx2tf wrote no TFLite file for {static_path.name}")
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.move("tf/model_float32.tflite", target)
    return target


def _onnx2tf_samples(images: Sequence[npt.NDArray[np.uint8]]) -> npt.NDArray[np.float32]:
    import cv2

    resized = [cv2.resize(images[i % len(images)], (128, 128), interpolation=cv2.INTER_AREA) for i in range(20)]
    return np.stack(resized).astype(np.float32) / 255


def coreml_export(source: Path, target: Path, imgsz: int) -> Path:
    """A Core ML package of an ultralytics ``.pt``, or of a YOLOv8 ONNX export through its rebuilt network (the
    train extra and coremltools, which converts on Linux too)."""
    if importlib.util.find_spec("coremltools") is None:
        raise ExportError("coreml export needs coremltools (pip install 'polypdet[export]')")
    from polypdet.train.pretrained import build_checkpoint

    with ultralytics_on_stderr(), tempfile.TemporaryDirectory(prefix="polypdet-coreml-") as scratch:
        from ultralytics import YOLO

        checkpoint = Path(scratch) / f"{target.stem}.pt"
        if source.suffix == ".pt":
            shutil.copyfile(source, checkpoint)  # ultralytics writes its export beside the checkpoint
        else:
            try:
                build_checkpoint(source, checkpoint, imgsz=imgsz)
            except (KeyError, ValueError, RuntimeError) as error:
                raise ExportError(
                    f"{source.name} is not a YOLOv8n export that can be rebuilt for Core ML ({error}); give its .pt"
                ) from None
        exported = YOLO(str(checkpoint)).export(format="coreml", imgsz=imgsz, nms=False)
        if target.exists():
            shutil.rmtree(target)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.move(exported, target)
    return target


@dataclass(frozen=True)
class ParityReport:
    """Boxes scoring >= ``min_conf`` on either side, each matched to its best box on the other side."""

    images: int
    compared: int
    min_iou: float
    max_conf_diff: float

    @property
    def ok(self) -> bool:
        return self.compared > 0 and self.min_iou >= 0.99 and self.max_conf_diff <= 0.01


def parity(source: Sequence[Detections], exported: Sequence[Detections], min_conf: float = 0.25) -> ParityReport:
    """Compare two models' boxes on the same images.

    Run both with a threshold well below ``min_conf``: a box just over the line on one side is then still
    found on the other, and only real differences (a missing box, a moved box, a changed score) count.
    """
    from polypdet.engine.postprocess import box_iou

    compared, min_iou, max_diff = 0, 1.0, 0.0
    for a, b in zip(source, exported, strict=True):
        for mine, other in ((a, b), (b, a)):
            for box, conf in zip(mine.xyxy, mine.confidence, strict=True):
                if conf < min_conf:
                    continue
                compared += 1
                if len(other) == 0:
                    min_iou, max_diff = 0.0, max(max_diff, float(conf))
                    continue
                ious = box_iou(box, other.xyxy)
                j = int(ious.argmax())
                min_iou = min(min_iou, float(ious[j]))
                max_diff = max(max_diff, abs(float(conf) - float(other.confidence[j])))
    return ParityReport(len(source), compared, min_iou, max_diff)


def images_for_parity(paths: Sequence[Path]) -> list[npt.NDArray[np.uint8]]:
    from polypdet.io.images import read_image

    return [read_image(p) for p in paths]


def ultralytics_detections(
    checkpoint: Path, images: Sequence[npt.NDArray[np.uint8]], imgsz: int, conf: float = 0.25, max_det: int = 50
) -> list[Detections]:
    """The source model's own boxes (ultralytics ``predict`` on the ``.pt``), for parity checks."""
    with ultralytics_on_stderr():
        from ultralytics import YOLO

        model = YOLO(str(checkpoint))
    out = []
    for image in images:  # ultralytics takes BGR arrays
        boxes = model.predict(
            np.ascontiguousarray(image[..., ::-1]), imgsz=imgsz, conf=conf, max_det=max_det, verbose=False
        )[0].boxes
        out.append(
            Detections(
                xyxy=boxes.xyxy.numpy(), confidence=boxes.conf.numpy(), class_id=boxes.cls.numpy().astype(np.int64)
            )
        )
    return out
