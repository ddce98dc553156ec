import cv2
import numpy as np
import pytest

from polypdet.engine.preprocess import letterbox, picture_region, to_input_tensor


@pytest.mark.parametrize(
    ("shape", "gain", "pad_x", "pad_y"),
    [
        ((288, 384), 320 / 384, 0, 40),  # landscape: 384x288 -> 320x240, 40 px bars top and bottom
        ((1072, 1920), 179 / 1072, 0, 70),  # 1920x1072 -> 320x179 (178.67 rounds up), pad 141 -> 70 / 71
        ((500, 250), 320 / 500, 80, 0),  # portrait: 250x500 -> 160x320
        ((320, 320), 1.0, 0, 0),
    ],
)
def test_letterbox_geometry(shape: tuple[int, int], gain: float, pad_x: int, pad_y: int) -> None:
    image = np.full((*shape, 3), 200, np.uint8)
    padded, t = letterbox(image, (320, 320))
    assert padded.shape == (320, 320, 3)
    assert t.gain_y == pytest.approx(gain)
    assert (t.pad_x, t.pad_y) == (pad_x, pad_y)
    assert padded[0, 0, 0] == (114 if pad_x or pad_y else 200)


def test_stride_padding_for_dynamic_models() -> None:
    padded, t = letterbox(np.zeros((1072, 1920, 3), np.uint8), (320, 320), stride=32)
    assert padded.shape == (192, 320, 3) and (t.pad_x, t.pad_y) == (0, 6)  # 179 rows + 13 -> 192


def test_boxes_map_back_to_original_pixels() -> None:
    image = np.zeros((288, 384, 3), np.uint8)
    _, t = letterbox(image, (320, 320))
    # a box at original (38, 5)-(192, 144) sits at input (38*g, 5*g+40)-(...)
    g = 320 / 384
    inside = np.array([[38 * g, 5 * g + 40, 192 * g, 144 * g + 40]], np.float32)
    np.testing.assert_allclose(t.to_original(inside), [[38, 5, 192, 144]], atol=1e-3)


def test_boxes_outside_are_clipped() -> None:
    _, t = letterbox(np.zeros((288, 384, 3), np.uint8), (320, 320))
    out = t.to_original(np.array([[-10, 0, 400, 330]], np.float32))
    assert out.tolist() == [[0, 0, 384, 288]]


def test_tensor_is_nchw_unit_range() -> None:
    batch = to_input_tensor([np.full((4, 4, 3), 255, np.uint8), np.zeros((4, 4, 3), np.uint8)])
    assert batch.shape == (2, 3, 4, 4) and batch.dtype == np.float32
    assert batch[0].max() == pytest.approx(1.0) and batch[1].max() == 0.0


def test_picture_region_leaves_out_black_sides_and_their_text() -> None:
    frame = np.zeros((360, 640, 3), np.uint8)
    frame[:, 80:560] = 150  # a 4:3 picture between black sides
    details = ["ID: 0042", "Name: LIL", "D.O.B.:", "27/09/2017", "11:47:17", "Eh:A1 Cm:1"]
    for line in range(16):  # patient details down the left side: some columns are bright over 20 % of the height
        cv2.putText(frame, details[line % 6], (2, 16 + 22 * line), cv2.FONT_HERSHEY_SIMPLEX, 0.45, (255, 255, 255))
    frame[0, :] = 30  # one bright row does not make the sides picture
    assert picture_region(frame) == (80, 0, 560, 360)


def test_picture_region_is_the_whole_frame_without_margins_or_when_dark() -> None:
    assert picture_region(np.full((100, 120, 3), 90, np.uint8)) == (0, 0, 120, 100)
    assert picture_region(np.zeros((100, 120, 3), np.uint8)) == (0, 0, 120, 100)
    dim = np.zeros((100, 120, 3), np.uint8)
    dim[:, 50:90] = 200  # a bright strip a third of the width wide: a dark frame, not a margin
    assert picture_region(dim) == (0, 0, 120, 100)


def test_boxes_from_a_region_map_back_into_the_whole_image() -> None:
    frame = np.zeros((288, 512, 3), np.uint8)
    padded, t = letterbox(frame, (320, 320), region=(64, 0, 448, 288))
    assert padded.shape == (320, 320, 3) and (t.origin_x, t.width, t.pad_y) == (64, 384, 40)
    g = 320 / 384
    inside = np.array([[38 * g, 5 * g + 40, 192 * g, 144 * g + 40], [-10, 0, 400, 330]], np.float32)
    np.testing.assert_allclose(t.to_original(inside), [[102, 5, 256, 144], [64, 0, 448, 288]], atol=1e-3)


def test_a_region_of_a_reduced_decode_maps_to_full_size() -> None:
    _, t = letterbox(np.zeros((144, 256, 3), np.uint8), (320, 320), region=(32, 0, 224, 144))
    full = t.for_full_size(2, 511, 288)
    assert (full.origin_x, full.width, full.height) == (64, 384, 288)
    assert full.to_original(np.array([[0, 0, 320, 320]], np.float32)).tolist() == [[64, 0, 448, 288]]
    whole = letterbox(np.zeros((144, 256, 3), np.uint8), (320, 320))[1].for_full_size(2, 511, 287)
    assert (whole.width, whole.height) == (511, 287)  # an odd size rounds up when reduced: clipped to the image
