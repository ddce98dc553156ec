"""``polypdet train`` end to end on a tiny copy of the data layout: prepare, fine-tune, export, score, install."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from polypdet.train.pretrained import onnx_tensors

pytest.importorskip("ultralytics", reason="training needs the train extra (torch + ultralytics)")
pytestmark = pytest.mark.train


def _tiny_source(data: Path, root: Path) -> Path:
    kvasir = sorted((data / "kvasir-seg/images").glob("*.jpg"))[:14]
    for sub in ("images", "bbox"):
        (root / "kvasir-seg" / sub).mkdir(parents=True)
    for image in kvasir:
        (root / "kvasir-seg/images" / image.name).symlink_to(image)
        (root / "kvasir-seg/bbox" / f"{image.stem}.csv").symlink_to(data / "kvasir-seg/bbox" / f"{image.stem}.csv")
    for split, names in (("train", ["1", "2", "3", "4"]), ("val", ["450", "451"])):
        for sub, suffix in (("images", ".png"), ("labels", ".txt")):
            folder = root / "cvc-clinicdb" / sub / split
            folder.mkdir(parents=True)
            for name in names:
                (folder / f"{name}{suffix}").symlink_to(data / "cvc-clinicdb" / sub / split / f"{name}{suffix}")
    (root / "weights").mkdir()
    (root / "weights/coco-yolov8n-int8.onnx").symlink_to(data / "weights/coco-yolov8n-int8.onnx")
    return root


def test_train_installs_a_model_with_its_card(data: Path, tmp_path: Path) -> None:
    source = _tiny_source(data, tmp_path / "source")
    args = [
        "--source",
        str(source),
        "--prepared",
        str(tmp_path / "prepared"),
        "--run-dir",
        str(tmp_path / "runs/r"),
        "--models-dir",
        str(tmp_path / "models"),
        "--name",
        "tiny",
        "--version",
        "0.0.1",
        "--epochs",
        "1",
        "--imgsz",
        "64",
        "--batch",
        "4",
        "--blank-frames",
        "2",
        "--class-width",
        "8",
        "--box-width",
        "16",
        "--freeze",
        "22",
    ]
    done = subprocess.run(
        [sys.executable, "-m", "polypdet", "train", *args], capture_output=True, text=True, timeout=600
    )
    assert done.returncode == 0, done.stderr[-3000:]
    card = yaml.safe_load((tmp_path / "models/tiny/card.yaml").read_text())
    assert card["version"] == "0.0.1" and card["input_size"] == 64 and card["training"]["recipe"]["epochs"] == 1
    assert card["training"]["data"]["held_out"] == {"kvasir": 2, "clinicdb": 2}
    assert card["training"]["recipe"]["blank_frames"] == 2
    assert len(list((tmp_path / "runs/r/background_frames/images").iterdir())) == 2
    assert "class branch 8 wide and a box branch 16 wide" in card["architecture"]
    head = onnx_tensors(tmp_path / "models/tiny/model.onnx")
    assert head["model.22.cv3.0.2.weight"].shape[1] == 8 and head["model.22.cv2.0.2.weight"].shape[1] == 16
    _assert_only_the_head_trained(tmp_path / "runs/r")
    assert set(card["metrics"]) >= {"kvasir_holdout", "clinicdb_holdout"}
    assert set(card["metrics"]["kvasir_holdout"]["openvino_int8"]) == {"map50", "map50_95"}
    assert isinstance(card["int8"]["served_by_default"], bool)
    int8 = tmp_path / "models/tiny" / card["int8"]["file"]
    assert int8.with_suffix(".bin").stat().st_size > 0 and int8.read_text().count('type="FakeQuantize"') > 50
    assert int8.read_text().count('type="Swish"') > 50  # SiLU fused before quantising (polypdet.train.quantize)
    listed = subprocess.run(
        [sys.executable, "-m", "polypdet", "models"],
        capture_output=True,
        text=True,
        env={"POLYPDET_MODELS_DIR": str(tmp_path / "models"), "PATH": "/usr/bin"},
    )
    assert "tiny@0.0.1" in listed.stdout
    # a second run over a finished run dir trains nothing more and reinstalls the same weights
    again = subprocess.run(
        [sys.executable, "-m", "polypdet", "train", *args], capture_output=True, text=True, timeout=600
    )
    assert again.returncode == 0, again.stderr[-3000:]


def _assert_only_the_head_trained(run: Path) -> None:
    """``--freeze 22``: every weight and batch-norm statistic before the head is the pruned start's."""
    import torch

    def weights(checkpoint: Path) -> dict[str, torch.Tensor]:
        saved = torch.load(checkpoint, weights_only=False)
        return (saved.get("ema") or saved["model"]).float().state_dict()

    start, trained = weights(run / "pruned.pt"), weights(run / "weights/last.pt")
    backbone = [key for key in start if not key.startswith("model.22.")]
    assert len(backbone) > 250
    for key in backbone:
        torch.testing.assert_close(trained[key], start[key], rtol=1e-3, atol=1e-3, msg=key)
    assert any(not torch.equal(trained[key], start[key]) for key in start if key.startswith("model.22.cv3"))


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--blend-init", "1.5"], "between 0 and 1"),
        (["--blend-init", "0.5"], "needs the ONNX model"),
        (["--blend-init", "0.5", "--init", "m.onnx", "--box-width", "32"], "cannot blend"),
    ],
)
def test_a_bad_blend_stops_before_training(extra: list[str], message: str, tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "polypdet", "train", "--run-dir", str(tmp_path / "r"), *extra],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 2 and message in done.stderr and "Traceback" not in done.stderr
    assert not (tmp_path / "r").exists()


def test_a_head_wider_than_the_start_is_refused_in_one_line(data: Path, tmp_path: Path) -> None:
    source = _tiny_source(data, tmp_path / "source")
    args = ["--source", str(source), "--prepared", str(tmp_path / "prepared"), "--run-dir", str(tmp_path / "r")]
    done = subprocess.run(
        [sys.executable, "-m", "polypdet", "train", *args, "--imgsz", "64", "--class-width", "128"],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 2 and "cannot widen" in done.stderr and "Traceback" not in done.stderr
