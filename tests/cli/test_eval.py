"""The shipped model on images it never trained on, measured by ``polypdet eval`` as a user would."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from importlib.util import find_spec
from pathlib import Path

import pytest

from polypdet.engine.models import resolve_model
from polypdet.train.prepare import prepare_data


@pytest.fixture(scope="module")
def holdout(data: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return prepare_data(data, tmp_path_factory.mktemp("prepared")).data_yaml.parent / "holdout"


def _eval(target: Path, *extra: str, home: Path | None = None) -> dict[str, float]:
    done = subprocess.run(
        [sys.executable, "-m", "polypdet", "eval", "--data", str(target), "--json", *extra],
        capture_output=True,
        text=True,
        timeout=600,
        env={**os.environ, "HOME": str(home)} if home else None,
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def test_kvasir_holdout_reaches_the_card_figures(holdout: Path) -> None:
    """fp32 (onnxruntime) and the int8 weights (OpenVINO), each against the card's figures."""
    card = resolve_model().card["metrics"]["kvasir_holdout"]
    for extra, figures in ((["--backend", "onnxruntime"], card), (["--precision", "int8"], card["openvino_int8"])):
        got = _eval(holdout / "kvasir", *extra)
        assert got["images"] == 120 and got["instances"] >= 120
        assert got["map50"] >= figures["map50"] - 0.01 and got["map50_95"] >= figures["map50_95"] - 0.01


def test_kvasir_holdout_reaches_the_goal(holdout: Path) -> None:
    """The issue's goal, in fp32 (onnxruntime), the reference that every CPU computes alike. The served path's bf16
    differs between CPUs (1.1.0: 0.7219 on an AMD EPYC with AVX-512 BF16, 0.7178 on an AMX Xeon), so it is not the
    yardstick."""
    got = _eval(holdout / "kvasir", "--backend", "onnxruntime")
    assert got["map50"] >= 0.92 and got["map50_95"] >= 0.72


def test_clinicdb_holdout(holdout: Path) -> None:
    """CVC-ClinicDB's own held-out sequences: the second hospital, but not one the model never saw."""
    got = _eval(holdout / "clinicdb")
    card = resolve_model().card["metrics"]["clinicdb_holdout"]
    assert got["images"] == 75
    assert got["map50"] >= max(0.75, card["map50"] - 0.01) and got["map50_95"] >= card["map50_95"] - 0.01


def _kvasir_subset(data: Path, folder: Path, count: int) -> Path:
    for sub in ("images", "masks"):
        (folder / sub).mkdir(parents=True)
    for image in sorted((data / "kvasir-seg/images").glob("*.jpg"))[:count]:
        (folder / "images" / image.name).symlink_to(image)
        (folder / "masks" / image.name).symlink_to(data / "kvasir-seg/masks" / image.name)
    return folder


def test_eval_reads_kvasir_layout_and_plots(data: Path, tmp_path: Path) -> None:
    subset = _kvasir_subset(data, tmp_path / "kv", 6)
    got = _eval(subset, "--plots", str(tmp_path / "plots"))
    assert got["images"] == 6 and set(got) >= {"map50", "map50_95", "precision", "recall", "f1", "instances"}
    assert (tmp_path / "plots" / "pr_curve.png").stat().st_size > 0
    assert len(list((tmp_path / "plots").glob("example_*.png"))) == 6


def test_eval_gives_bootstrap_intervals(data: Path, tmp_path: Path) -> None:
    got = _eval(_kvasir_subset(data, tmp_path / "kv", 12), "--bootstrap", "40")
    assert got["bootstrap"] == 40
    for name in ("map50", "map50_95"):
        low, high = got[f"{name}_ci95"]
        assert 0 <= low <= got[name] <= high <= 1


def test_eval_compares_two_models_on_the_same_draws(data: Path, tmp_path: Path) -> None:
    subset = _kvasir_subset(data, tmp_path / "kv", 12)
    itself = _eval(subset, "--baseline", str(resolve_model().onnx_path.parent), "--bootstrap", "30")
    assert itself["baseline_map50_95"] == itself["map50_95"] and itself["bootstrap"] == 30
    assert itself["diff_map50_ci95"] == itself["diff_map50_95_ci95"] == [0.0, 0.0]  # paired: no spread at all


@pytest.mark.train
@pytest.mark.skipif(find_spec("ultralytics") is None, reason="a .pt baseline needs the train extra")
def test_eval_shows_a_real_difference_between_models(data: Path, tmp_path: Path) -> None:
    """A ball detector finds no polyps: the polyp model is surely better. A fresh home makes the .pt export here,
    on first use, and its log lines must not spill into the JSON on stdout."""
    subset = _kvasir_subset(data, tmp_path / "kv", 12)
    ball = str(data / "weights/yolov9t-one-class-ball.pt")
    got = _eval(subset, "--baseline", ball, "--bootstrap", "100", home=tmp_path / "home")
    assert got["bootstrap"] == 100 and got["baseline_map50"] < 0.2
    low, high = got["diff_map50_ci95"]
    assert 0.3 < low <= got["map50"] - got["baseline_map50"] <= high


def test_eval_tiles_images_into_a_small_polyp_stress_set(data: Path, tmp_path: Path) -> None:
    subset = _kvasir_subset(data, tmp_path / "kv", 9)
    plain = _eval(subset)
    tiled = _eval(subset, "--tile", "3")
    assert tiled["tile"] == 3 and tiled["images"] == 1 and tiled["instances"] == plain["instances"]
    done = subprocess.run(
        [sys.executable, "-m", "polypdet", "eval", "--data", str(subset), "--tile", "4"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 2 and "needs at least 16 images" in done.stderr and "Traceback" not in done.stderr


def test_eval_on_a_missing_folder_is_a_clear_error(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "polypdet", "eval", "--data", str(tmp_path)], capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 2 and "expected a data.yaml" in done.stderr and "Traceback" not in done.stderr


def test_model_card_describes_the_shipped_model() -> None:
    info = resolve_model()
    from polypdet.engine.models import sha256_of

    assert sha256_of(info.onnx_path) == info.sha256
    assert info.int8_path is not None and sha256_of(info.int8_path) == info.card["int8"]["sha256"]
    assert sha256_of(info.int8_path.with_suffix(".bin")) == info.card["int8"]["weights_sha256"]
    for key in ("training", "metrics", "input_size", "classes"):
        assert key in info.card


def test_unreadable_images_are_named_and_left_out_of_the_figures(data: Path, tmp_path: Path) -> None:
    subset = _kvasir_subset(data, tmp_path / "kv", 6)
    alone = _eval(subset)
    (subset / "images" / "broken.jpg").write_bytes(b"\xff\xd8 not a jpeg")
    (subset / "masks" / "broken.jpg").symlink_to(next((subset / "masks").iterdir()).resolve())
    for extra in ([], ["--tile", "2"]):
        done = subprocess.run(
            [sys.executable, "-m", "polypdet", "eval", "--data", str(subset), "--json", *extra],
            capture_output=True,
            text=True,
            timeout=600,
        )
        assert done.returncode == 1 and "Traceback" not in done.stderr
        assert "broken.jpg: " in done.stderr and "1 image(s) could not be read" in done.stderr
        if not extra:
            got = json.loads(done.stdout)
            assert {k: got[k] for k in ("images", "instances", "map50", "map50_95")} == {
                k: alone[k] for k in ("images", "instances", "map50", "map50_95")
            }
