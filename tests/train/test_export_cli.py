"""``polypdet export``: formats that run here are checked against their source; the others say why not."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

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


@pytest.mark.parametrize("fmt", ["coreml", "tflite", "engine"])
def test_formats_that_cannot_run_here_say_so(fmt: str) -> None:
    done = polypdet("export", "--format", fmt)
    assert done.returncode == 2
    assert "cannot be produced and checked on this machine" in done.stderr
