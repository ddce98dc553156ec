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


@pytest.fixture(scope="module")
def tflite_export(
    data: Path, tmp_path_factory: pytest.TempPathFactory
) -> tuple[subprocess.CompletedProcess[str], Path]:
    """``polypdet export --format tflite`` of the shipped model, run once: its output and its folder."""
    pytest.importorskip("onnx2tf", reason="the export extra is not installed")
    out = tmp_path_factory.mktemp("tflite")
    done = polypdet(
        "export", "--format", "tflite", "--out", str(out), "--check-images", str(data / "cvc-clinicdb/images/val")
    )
    return done, out


def test_tflite_export_matches_onnx_at_its_fixed_input(
    tflite_export: tuple[subprocess.CompletedProcess[str], Path],
) -> None:
    done, out = tflite_export
    assert done.returncode == 0, done.stdout + done.stderr
    assert "OK" in done.stdout
    assert (out / "polyp-yolov8n.tflite").stat().st_size > 1_000_000


def test_tflite_export_leaves_the_shipped_model_alone(
    tflite_export: tuple[subprocess.CompletedProcess[str], Path],
) -> None:
    """onnx2tf rewrites the ONNX file it converts: it must never be the shipped model."""
    from polypdet.engine.models import resolve_model, sha256_of

    source = resolve_model(None)
    assert sha256_of(source.onnx_path) == source.sha256


def test_litert_backend_runs_the_tflite_export(
    tflite_export: tuple[subprocess.CompletedProcess[str], Path], tmp_path: Path, polyp_image: np.ndarray
) -> None:
    """The engine's LiteRT backend finds the same polyp in the export as onnxruntime in the ONNX model."""
    from polypdet.engine.detector import Detector
    from polypdet.engine.models import resolve_model
    from polypdet.train.export import static_onnx

    source = resolve_model(None)
    static = static_onnx(source.onnx_path, source.input_size, tmp_path / "static.onnx")
    reference = Detector(replace(source, onnx_path=static), backend="onnxruntime").detect(polyp_image)
    tflite = tflite_export[1] / "polyp-yolov8n.tflite"
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


def test_an_input_size_the_network_cannot_take_is_one_line() -> None:
    done = polypdet("export", "--format", "openvino", "--imgsz", "300")
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == [
        "polypdet export: error: input size must be a multiple of 32 from 32 to 2048, got 300"
    ]


def test_what_onnx2tf_cannot_convert_is_an_export_error(tmp_path: Path) -> None:
    """The dynamic ONNX model itself (its anchors come from the input's shape) is what onnx2tf refuses."""
    pytest.importorskip("onnx2tf", reason="the export extra is not installed")
    from polypdet.engine.models import resolve_model
    from polypdet.train.export import ExportError, tflite_from_onnx

    with pytest.raises(ExportError, match=r"onnx2tf could not convert model.onnx \(\w+; its log above says where\)"):
        tflite_from_onnx(resolve_model(None).onnx_path, tmp_path / "x.tflite", [np.zeros((64, 64, 3), np.uint8)])
