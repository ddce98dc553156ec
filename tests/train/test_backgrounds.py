from pathlib import Path

import numpy as np
import yaml
from PIL import Image

from polypdet.io.datasets import load_yolo_images
from polypdet.train.backgrounds import add_background_frames, paste_flat_shapes
from polypdet.train.prepare import prepare_data


def test_background_frames_are_seeded_and_added_to_training(data: Path, tmp_path: Path) -> None:
    prepared = prepare_data(data, tmp_path / "prepared")
    first = add_background_frames(prepared.data_yaml, tmp_path / "a", seed=0, blank=6, shapes=4)
    add_background_frames(prepared.data_yaml, tmp_path / "b", seed=0, blank=6, shapes=4)
    frames = sorted((tmp_path / "a/images").iterdir())
    blanks, shapes = frames[:6], frames[6:]
    assert [f.stem[:6] for f in frames] == ["blank_"] * 6 + ["shapes"] * 4
    for frame in frames:
        pixels = np.asarray(Image.open(frame), np.float32)
        np.testing.assert_array_equal(pixels, np.asarray(Image.open(tmp_path / "b/images" / frame.name)))
    for frame in blanks:
        assert np.asarray(Image.open(frame), np.float32).std(axis=(0, 1)).max() < 12  # nothing to box
        assert (tmp_path / "a/labels" / f"{frame.stem}.txt").read_text() == ""
    for frame in shapes:  # a training image with its own polyps' labels, and shapes beside them
        original = tmp_path / "prepared/images/train" / frame.name.split("_", 2)[2]
        original = next(original.parent.glob(f"{original.stem}.*"))
        label = (tmp_path / "prepared/labels/train" / f"{original.stem}.txt").read_text()
        assert label and (tmp_path / "a/labels" / f"{frame.stem}.txt").read_text() == label
        with Image.open(original) as image:
            assert Image.open(frame).size == image.size
    spec, original_spec = yaml.safe_load(first.read_text()), yaml.safe_load(prepared.data_yaml.read_text())
    root = Path(spec["path"])
    assert [str(root / t) for t in spec["train"]] == [str(tmp_path / "prepared/images/train"), str(frames[0].parent)]
    assert spec["val"] == [str(tmp_path / "prepared" / v) for v in original_spec["val"]]


def test_flat_shapes_keep_off_the_polyps(data: Path, tmp_path: Path) -> None:
    prepared = prepare_data(data, tmp_path / "prepared")
    item = load_yolo_images(sorted((tmp_path / "prepared/images/train").iterdir())[:1])[0]
    image = np.asarray(Image.open(item.path).convert("RGB")).copy()
    before = image.copy()
    rng = np.random.default_rng(1)
    pasted = paste_flat_shapes(image, item.boxes, rng, count=3)
    assert len(pasted) >= 1 and prepared.train > 0
    changed = np.argwhere((image != before).any(axis=2))
    for x1, y1, x2, y2 in item.boxes.astype(int):  # the polyps' pixels are untouched
        np.testing.assert_array_equal(image[y1:y2, x1:x2], before[y1:y2, x1:x2])
    for x0, y0, x1, y1 in pasted:
        inside = changed[(changed[:, 1] >= x0) & (changed[:, 1] <= x1) & (changed[:, 0] >= y0) & (changed[:, 0] <= y1)]
        assert len(inside) > 0.1 * (x1 - x0) * (y1 - y0)  # a filled shape, not an outline
    assert len(changed) > 0
