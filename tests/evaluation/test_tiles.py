from pathlib import Path

import cv2
import numpy as np

from polypdet.evaluation.tiles import CELL, tile_dataset
from polypdet.io.datasets import LabeledImage
from polypdet.io.images import read_image


def _item(tmp_path: Path, name: str, size: tuple[int, int], box: list[float]) -> LabeledImage:
    width, height = size
    image = np.full((height, width, 3), 90, np.uint8)
    x1, y1, x2, y2 = (int(v) for v in box)
    image[y1:y2, x1:x2] = (250, 250, 250)
    cv2.imwrite(str(tmp_path / name), image)
    return LabeledImage(tmp_path / name, np.array([box], np.float32))


def test_tiles_shrink_each_image_into_its_cell_and_move_its_boxes(tmp_path: Path) -> None:
    cell_w, cell_h = CELL
    items = [
        _item(tmp_path, "a.png", (cell_w, cell_h), [10, 20, 110, 220]),  # fills its cell: gain 1
        _item(tmp_path, "b.png", (cell_w // 2, cell_h // 2), [0, 0, 50, 40]),  # half size: gain 2
        _item(tmp_path, "c.png", (cell_w, cell_h), [0, 0, 64, 64]),
        _item(tmp_path, "d.png", (cell_w, cell_h), [100, 100, 200, 200]),
        _item(tmp_path, "e.png", (cell_w, cell_h), [1, 1, 9, 9]),  # a fifth image does not fill a 2 x 2 frame
    ]
    (tiled,) = tile_dataset(items, 2, tmp_path / "out")
    frame = read_image(tiled.path)
    assert frame.shape == (cell_h * 2, cell_w * 2, 3)
    expected = [
        [10, 20, 110, 220],
        [cell_w, 0, cell_w + 100, 80],
        [0, cell_h, 64, cell_h + 64],
        [cell_w + 100, cell_h + 100, cell_w + 200, cell_h + 200],
    ]
    np.testing.assert_allclose(tiled.boxes, expected)
    for x1, y1, x2, y2 in tiled.boxes.astype(int):  # each box still covers its bright patch in the frame
        assert frame[y1 + 2 : y2 - 2, x1 + 2 : x2 - 2].mean() > 230
