"""``polypdet detect`` as a user runs it: real files, bad files mixed in, JSON out."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image


def polypdet(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "polypdet", *args], capture_output=True, text=True, timeout=300)


def test_json_per_image_in_the_seed_format(data: Path) -> None:
    image = data / "kvasir-seg/images/cju1d31sp4d4k0878r3fr02ul.jpg"
    done = polypdet("detect", str(image), "--json", "--backend", "onnxruntime")
    assert done.returncode == 0, done.stderr
    lines = done.stdout.strip().splitlines()
    assert len(lines) == 1
    result = json.loads(lines[0])
    assert result["image"] == str(image)
    assert result["processed_at"].endswith("Z") and result["model_version"].startswith("polyp-yolov8n@")
    assert (result["image_width"], result["image_height"]) == (622, 529)
    box = result["detections"][0]
    assert set(box) == {"bbox", "confidence", "class"} and box["class"] == "polyp"
    x1, y1, x2, y2 = box["bbox"]
    assert x1 < x2 and y1 < y2


def test_bad_files_get_one_line_each_and_the_batch_goes_on(data: Path, tmp_path: Path) -> None:
    (tmp_path / "empty.jpg").write_bytes(b"")
    (tmp_path / "notes.jpg").write_text("not an image")
    good = data / "cvc-clinicdb/images/val/450.png"
    truncated = tmp_path / "cut.jpg"
    truncated.write_bytes((data / "kvasir-seg/images/cju1d31sp4d4k0878r3fr02ul.jpg").read_bytes()[:3000])
    done = polypdet(
        "detect",
        str(tmp_path / "empty.jpg"),
        str(tmp_path / "notes.jpg"),
        str(tmp_path / "missing.png"),
        str(truncated),
        str(data / "videos/Polypvvv.mpg"),
        str(good),
        "--json",
        "--save",
        str(tmp_path / "out"),
    )
    assert done.returncode == 1
    errors = [line for line in done.stderr.splitlines() if line.strip()]
    assert len(errors) == 6, done.stderr  # five files, one summary
    assert "Traceback" not in done.stderr
    assert any("empty.jpg: empty file" in e for e in errors)
    assert any("missing.png: no such file" in e for e in errors)
    assert any("cut.jpg: corrupt or truncated" in e for e in errors)
    assert any("Polypvvv.mpg: a video, not an image: run 'polypdet video " in e for e in errors)
    assert json.loads(done.stdout)["image"] == str(good)
    assert (tmp_path / "out" / "450.jpg").stat().st_size > 0


def test_folders_and_globs(data: Path) -> None:
    folder = data / "cvc-clinicdb/images/val"
    done = polypdet("detect", str(folder / "43*.png"), "--json")
    assert done.returncode == 0, done.stderr
    assert len(done.stdout.splitlines()) == len(list(folder.glob("43*.png")))


def test_many_files_run_in_batches_with_the_boxes_of_one_at_a_time(data: Path, tmp_path: Path) -> None:
    """More files than one batch, of several sizes, a bad one among them: each good file once, in order, with the
    boxes it gets alone."""
    sources = (
        sorted((data / "kvasir-seg/images").glob("*.jpg"))[:12]
        + sorted((data / "cvc-clinicdb/images/val").glob("*.png"))[:8]
    )
    paths = [str(p) for p in sources]
    (tmp_path / "bad.png").write_text("not an image")
    paths.insert(9, str(tmp_path / "bad.png"))
    # f32: in bf16 two compilations of the network (one shape alone, several in a batch) differ by up to ~2 px
    done = polypdet("detect", *paths, "--json", "--precision", "f32")
    assert done.returncode == 1 and "bad.png: not an image" in done.stderr and "Traceback" not in done.stderr
    results = [json.loads(line) for line in done.stdout.splitlines()]
    assert [r["image"] for r in results] == [str(p) for p in sources]
    for source, result in zip(sources[::7], results[::7], strict=True):
        alone = json.loads(polypdet("detect", str(source), "--json", "--precision", "f32").stdout)
        assert len(alone["detections"]) == len(result["detections"])
        for mine, theirs in zip(alone["detections"], result["detections"], strict=True):
            assert mine["bbox"] == pytest.approx(theirs["bbox"], abs=0.5)


@pytest.mark.parametrize("args", [["--conf", "2"], ["--model", "/nowhere/model.onnx"], ["--imgsz", "500"]])
def test_bad_options_are_one_line_errors(args: list[str], data: Path) -> None:
    done = polypdet("detect", str(data / "cvc-clinicdb/images/val/450.png"), *args)
    assert done.returncode == 2
    assert len(done.stderr.strip().splitlines()) == 1 and "Traceback" not in done.stderr


def test_a_multi_page_tiff_gives_every_page(polyp_image: np.ndarray, tmp_path: Path) -> None:
    pages = [Image.fromarray(polyp_image), Image.fromarray(np.ascontiguousarray(polyp_image[:, ::-1]))]
    tiff = tmp_path / "pages.tif"
    pages[0].save(tiff, save_all=True, append_images=pages[1:])
    done = polypdet("detect", str(tiff), "--json", "--backend", "onnxruntime", "--save", str(tmp_path / "drawn"))
    assert done.returncode == 0, done.stderr
    first, second = (json.loads(line) for line in done.stdout.splitlines())
    assert (first["frame"], second["frame"]) == (1, 2)
    width = polyp_image.shape[1]
    mirrored = [[width - x2, y1, width - x1, y2] for x1, y1, x2, y2 in (d["bbox"] for d in second["detections"])]
    assert len(first["detections"]) == len(mirrored) > 0
    assert sorted(d["bbox"][0] for d in first["detections"]) == pytest.approx(sorted(b[0] for b in mirrored), abs=2)
    assert sorted(p.name for p in (tmp_path / "drawn").iterdir()) == ["pages-0001.jpg", "pages-0002.jpg"]
