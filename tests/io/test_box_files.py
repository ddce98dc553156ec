import json
from pathlib import Path

import cv2
import numpy as np
import pytest

from polypdet.io.datasets import DatasetError, load_dataset


def _image(path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(path), np.zeros((100, 200, 3), np.uint8))


def _coco(folder: Path) -> Path:
    for name in ("a.jpg", "b.jpg"):
        _image(folder / "images" / name)
    spec = {
        "images": [{"id": 7, "file_name": "b.jpg"}, {"id": 3, "file_name": "a.jpg"}],
        "annotations": [
            {"id": 1, "image_id": 3, "category_id": 1, "bbox": [10, 20, 30, 40]},
            {"id": 2, "image_id": 3, "category_id": 2, "bbox": [100, 10, 50, 50]},  # another class: a polyp too
            {"id": 3, "image_id": 3, "category_id": 1, "bbox": [150, 70, 2, 20]},  # 2 px wide: an artefact
        ],
        "categories": [{"id": 1, "name": "adenoma"}, {"id": 2, "name": "hyperplastic"}],
    }
    json_file = folder / "annotations" / "instances_val.json"
    json_file.parent.mkdir(parents=True)
    json_file.write_text(json.dumps(spec))
    return json_file


def test_coco_json_file_or_its_folder(tmp_path: Path) -> None:
    json_file = _coco(tmp_path)
    for data in (json_file, tmp_path):
        a, b = load_dataset(data)
        assert (a.path.name, b.path.name) == ("a.jpg", "b.jpg")
        assert a.boxes.tolist() == [[10, 20, 40, 60], [100, 10, 150, 60]]
        assert b.boxes.shape == (0, 4)  # no annotation: a polyp-free frame


def test_coco_image_that_is_not_there_is_named(tmp_path: Path) -> None:
    json_file = _coco(tmp_path)
    (tmp_path / "images" / "b.jpg").unlink()
    with pytest.raises(DatasetError, match=r"image b\.jpg not found"):
        load_dataset(json_file)


def test_a_json_file_that_is_not_coco_is_a_clear_error(tmp_path: Path) -> None:
    (tmp_path / "other.json").write_text('{"images": [{"name": "a.jpg"}]}')
    with pytest.raises(DatasetError, match="not a COCO annotation file"):
        load_dataset(tmp_path / "other.json")


def _voc(folder: Path, name: str, boxes: list[tuple[int, int, int, int]]) -> None:
    _image(folder / "JPEGImages" / f"{name}.jpg")
    objects = "".join(
        f"<object><name>polyp</name><bndbox><xmin>{a}</xmin><ymin>{b}</ymin><xmax>{c}</xmax><ymax>{d}</ymax>"
        "</bndbox></object>"
        for a, b, c, d in boxes
    )
    (folder / "Annotations").mkdir(exist_ok=True)
    xml = f"<annotation><filename>{name}.jpg</filename>{objects}</annotation>"
    (folder / "Annotations" / f"{name}.xml").write_text(xml)


def test_pascal_voc_counts_pixels_from_one_and_includes_the_last(tmp_path: Path) -> None:
    _voc(tmp_path, "a", [(11, 21, 40, 60)])
    _voc(tmp_path, "b", [])
    a, b = load_dataset(tmp_path)
    assert a.boxes.tolist() == [[10, 20, 40, 60]] and b.boxes.shape == (0, 4)


def test_pascal_voc_errors_name_the_file(tmp_path: Path) -> None:
    _voc(tmp_path, "a", [(11, 21, 40, 60)])
    (tmp_path / "Annotations" / "c.xml").write_text("<annotation>")
    with pytest.raises(DatasetError, match=r"c\.xml: no image named c"):
        load_dataset(tmp_path)
    _image(tmp_path / "JPEGImages" / "c.jpg")
    with pytest.raises(DatasetError, match=r"c\.xml: not a Pascal VOC annotation"):
        load_dataset(tmp_path)
