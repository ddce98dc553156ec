"""``polypdet export``: formats that run here are checked against their source; the others say why not."""

from __future__ import annotations

import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest


def polypdet(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "polypdet", *args], capture_output=True, text=True, timeout=600)


def test_openvino_export_matches_onnx(data: Path, tmp_path: Path) -> None:
    done = polypdet(
        "export",
        "--format",
        "openvino",
        "--out",
        str(tmp_path),
        "--check-images",
        str(data / "cvc-clinicdb/images/val"),
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "OK" in done.stdout
    assert list(tmp_path.glob("*_openvino/*.xml")) and list(tmp_path.glob("*_openvino/*.bin"))


@pytest.mark.train
def test_onnx_export_from_a_checkpoint_matches_ultralytics(data: Path, tmp_path: Path) -> None:
    pytest.importorskip("ultralytics")
    done = polypdet(
        "export",
        "--model",
        str(data / "weights/yolov9t-one-class-ball.pt"),
        "--format",
        "onnx",
        "--out",
        str(tmp_path),
        "--check-images",
        str(data / "frames-unlabeled"),
    )
    assert tmp_path.glob("*.onnx"), done.stderr
    assert "parity" in done.stdout, done.stdout + done.stderr


def test_tflite_export_matches_onnx_at_its_fixed_input(data: Path, tmp_path: Path) -> None:
    pytest.importorskip("onnx2tf", reason="the export extra is not installed")
    model = Path("models/polyp-yolov8n/model.onnx")
    before = model.read_bytes()
    done = polypdet(
        "export", "--format", "tflite", "--out", str(tmp_path), "--check-images", str(data / "cvc-clinicdb/images/val")
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "OK" in done.stdout
    assert (tmp_path / "polyp-yolov8n.tflite").stat().st_size > 1_000_000
    assert model.read_bytes() == before  # onnx2tf rewrites the file it converts: never the shipped model


def test_litert_backend_runs_a_tflite_export(tmp_path: Path, polyp_image: np.ndarray) -> None:
    """The engine's LiteRT backend finds the same polyp in the export as onnxruntime in the source."""
    pytest.importorskip("onnx2tf", reason="the export extra is not installed")
    from polypdet.engine.detector import Detector
    from polypdet.engine.models import resolve_model
    from polypdet.train.export import static_onnx, tflite_from_onnx

    source = resolve_model(None)
    static = static_onnx(source.onnx_path, 320, tmp_path / "static.onnx")
    tflite = tflite_from_onnx(static, tmp_path / "model.tflite", [polyp_image])
    reference = Detector(replace(source, onnx_path=static), backend="onnxruntime").detect(polyp_image)
    exported = Detector(replace(source, onnx_path=tflite), backend="litert").detect(polyp_image)
    assert len(reference) >= 1 and len(exported) == len(reference)
    np.testing.assert_allclose(exported.xyxy, reference.xyxy, atol=0.5)
    np.testing.assert_allclose(exported.confidence, reference.confidence, atol=1e-3)


@pytest.mark.train
def test_coreml_export_writes_a_package_and_says_it_is_not_checked(tmp_path: Path) -> None:
    coremltools = pytest.importorskip("coremltools", reason="the export extra is not installed")
    pytest.importorskip("ultralytics")
    done = polypdet("export", "--format", "coreml", "--out", str(tmp_path))
    assert done.returncode == 0, done.stdout + done.stderr
    assert "parity not checked: Core ML models run only on Apple platforms" in done.stdout
    spec = coremltools.models.MLModel(str(tmp_path / "polyp-yolov8n.mlpackage"), skip_model_load=True).get_spec()
    (image,) = spec.description.input
    assert (image.type.imageType.width, image.type.imageType.height) == (320, 320)


def test_tensorrt_export_says_why_it_cannot_run_here() -> None:
    done = polypdet("export", "--format", "engine")
    assert done.returncode == 2
    assert "cannot be produced and checked on this machine: TensorRT needs an NVIDIA GPU" in done.stderr
