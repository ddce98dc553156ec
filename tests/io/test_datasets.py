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


def test_binary_masks_of_zeros_and_ones(tmp_path: Path) -> None:
    mask = np.zeros((100, 200), np.uint8)
    mask[10:40, 20:60] = 1
    cv2.imwrite(str(tmp_path / "m.png"), mask)
    assert boxes_from_mask(tmp_path / "m.png").tolist() == [[20, 10, 60, 40]]


def _write_image_and_mask(image: Path, mask: Path) -> None:
    """A grey frame and the mask of one polyp at x 10-50, y 5-25."""
    polyp = np.zeros((60, 80), np.uint8)
    polyp[5:25, 10:50] = 255
    for path, pixels in ((image, np.full((60, 80, 3), 90, np.uint8)), (mask, polyp)):
        path.parent.mkdir(parents=True, exist_ok=True)
        assert cv2.imwrite(str(path), pixels)


@pytest.mark.parametrize(
    ("image_name", "mask_name"),
    [
        ("cju0.jpg", "cju0.jpg"),  # Kvasir-SEG
        ("C3_EndoCV2021_00001.jpg", "C3_EndoCV2021_00001_mask.jpg"),  # PolypGen
        ("12.tif", "p12.tif"),  # ETIS-Larib, CVC-ColonDB
        ("seq1/0007.png", "seq1/0007.PNG"),  # sub-folders mirrored
        ("seq2/0008.png", "0008.png"),  # sub-folders flattened
    ],
)
def test_masks_are_found_under_other_datasets_names(tmp_path: Path, image_name: str, mask_name: str) -> None:
    image, mask = tmp_path / "images" / image_name, tmp_path / "masks" / mask_name
    _write_image_and_mask(image, mask)
    (item,) = load_dataset(tmp_path)
    assert item.path == image and item.boxes.tolist() == [[10, 5, 50, 25]]


@pytest.mark.parametrize(
    ("image_name", "mask_name"),
    [
        ("images_C1/C1_001.jpg", "masks_C1/C1_001_mask.jpg"),  # PolypGen as released
        ("Original/1.tif", "Ground Truth/1.tif"),  # CVC-ClinicDB as released
        ("image/1.png", "mask/1.png"),
        ("ETIS-LaribPolypDB/1.tif", "GroundTruth/p1.tif"),  # ETIS-Larib as released: any name beside the masks
    ],
)
def test_image_and_mask_folders_under_other_datasets_names(tmp_path: Path, image_name: str, mask_name: str) -> None:
    image, mask = tmp_path / image_name, tmp_path / mask_name
    _write_image_and_mask(image, mask)
    (item,) = load_dataset(tmp_path)
    assert item.path == image and item.boxes.tolist() == [[10, 5, 50, 25]]


def test_two_image_folders_are_not_guessed_between(tmp_path: Path) -> None:
    for centre in ("C1", "C2"):
        _write_image_and_mask(tmp_path / f"images_{centre}/a.jpg", tmp_path / f"masks_{centre}/a_mask.jpg")
    with pytest.raises(DatasetError, match="expected"):
        load_dataset(tmp_path)


def test_an_image_without_a_mask_is_named(tmp_path: Path) -> None:
    (tmp_path / "images").mkdir()
    (tmp_path / "masks").mkdir()
    cv2.imwrite(str(tmp_path / "images" / "a.jpg"), np.zeros((8, 8, 3), np.uint8))
    with pytest.raises(DatasetError, match=r"no bbox CSV or mask for .*a\.jpg"):
        load_dataset(tmp_path)


def test_yolo_folder(data: Path, tmp_path: Path) -> None:
    items = load_dataset(data / "cvc-clinicdb")
    assert len(items) == 503 and all(len(i.boxes) == 1 for i in items)
    assert all(0 <= b[0] < b[2] <= 384 and 0 <= b[1] < b[3] <= 288 for i in items for b in i.boxes.tolist())
    (tmp_path / "images").mkdir()
    (tmp_path / "labels").mkdir()
    for name in ("a", "b"):
        cv2.imwrite(str(tmp_path / "images" / f"{name}.png"), np.zeros((100, 200, 3), np.uint8))
    (tmp_path / "labels" / "a.txt").write_text("0 0.5 0.5 0.2 0.4\n")  # b.png has no label file: no polyp
    a, b = load_dataset(tmp_path)
    assert a.boxes.tolist() == [[80, 30, 120, 70]] and b.boxes.shape == (0, 4)
    with pytest.raises(DatasetError):
        load_dataset(data / "cvc-clinicdb" / "images")


def test_unknown_layout(tmp_path: Path) -> None:
    with pytest.raises(DatasetError, match="expected"):
        load_dataset(tmp_path)


def test_yolo_segmentation_polygons_are_boxed_by_their_extent(tmp_path: Path) -> None:
    (tmp_path / "images").mkdir()
    (tmp_path / "labels").mkdir()
    cv2.imwrite(str(tmp_path / "images" / "a.png"), np.zeros((100, 200, 3), np.uint8))
    (tmp_path / "labels" / "a.txt").write_text(
        "0 0.1 0.2 0.3 0.2 0.2 0.6\n"  # a triangle
        "0 0.5 0.5 0.2 0.4\n"  # a box beside it
        "1 0.6 0.1 0.9 0.1 0.9 0.3 0.6 0.3\n\n"  # a rectangle of another class: still a polyp
    )
    (item,) = load_dataset(tmp_path)
    np.testing.assert_allclose(item.boxes, [[20, 20, 60, 60], [80, 30, 120, 70], [120, 10, 180, 30]], atol=1e-4)


@pytest.mark.parametrize("line", ["0 0.5 0.5 0.2", "0 0.1 0.2 0.3 0.2 0.2", "0 a b c d"])
def test_a_label_line_that_is_neither_box_nor_polygon_is_named(tmp_path: Path, line: str) -> None:
    (tmp_path / "images").mkdir()
    (tmp_path / "labels").mkdir()
    cv2.imwrite(str(tmp_path / "images" / "a.png"), np.zeros((100, 200, 3), np.uint8))
    (tmp_path / "labels" / "a.txt").write_text(f"0 0.5 0.5 0.2 0.4\n{line}\n")
    with pytest.raises(DatasetError, match=r"a\.txt: line 2 "):
        load_dataset(tmp_path)


def test_a_mask_of_another_size_is_scaled_to_its_image(tmp_path: Path) -> None:
    (tmp_path / "images").mkdir()
    (tmp_path / "masks").mkdir()
    cv2.imwrite(str(tmp_path / "images" / "a.jpg"), np.zeros((120, 160, 3), np.uint8))
    half = np.zeros((60, 80), np.uint8)
    half[5:25, 10:50] = 255
    cv2.imwrite(str(tmp_path / "masks" / "a.png"), half)
    (item,) = load_dataset(tmp_path)
    assert item.boxes.tolist() == [[20, 10, 100, 50]]


def test_a_colour_mask_counts_its_brightest_channel(tmp_path: Path) -> None:
    mask = np.zeros((100, 200, 3), np.uint8)
    mask[10:40, 20:60] = (0, 0, 255)  # red in OpenCV's BGR: grey level 76, below the threshold
    cv2.imwrite(str(tmp_path / "m.png"), mask)
    assert boxes_from_mask(tmp_path / "m.png").tolist() == [[20, 10, 60, 40]]
