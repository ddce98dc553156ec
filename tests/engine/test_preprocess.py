import numpy as np
import pytest

from polypdet.engine.preprocess import letterbox, to_input_tensor


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
