"""The seed's script names and flags keep working."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

SCRIPTS = Path(__file__).resolve().parents[2] / "scripts"


def run(script: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, str(SCRIPTS / script), *args], capture_output=True, text=True, timeout=300)


def test_infer_and_viz(data: Path, tmp_path: Path) -> None:
    images = tmp_path / "imgs"
    images.mkdir()
    for name in ("430.png", "431.png"):
        (images / name).symlink_to(data / "cvc-clinicdb/images/val" / name)
    done = run(
        "infer_and_viz.py",
        "--weights",
        "models/polyp-yolov8n/model.onnx",
        "--imgs",
        str(images),
        "--out",
        str(tmp_path / "out"),
        "--conf",
        "0.25",
    )
    assert done.returncode == 0, done.stderr
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["430.jpg", "431.jpg"]


def test_eval_val_with_model_flag(data: Path, tmp_path: Path) -> None:
    subset = tmp_path / "set"
    (subset / "images").mkdir(parents=True)
    (subset / "labels").mkdir()
    for stem in ("450", "451", "452"):
        (subset / "images" / f"{stem}.png").symlink_to(data / "cvc-clinicdb/images/val" / f"{stem}.png")
        (subset / "labels" / f"{stem}.txt").symlink_to(data / "cvc-clinicdb/labels/val" / f"{stem}.txt")
    done = run(
        "eval_val.py",
        "--model",
        str(SCRIPTS.parent / "models/polyp-yolov8n"),
        "--data",
        str(subset),
        "--imgsz",
        "320",
        "--json",
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["images"] == 3
