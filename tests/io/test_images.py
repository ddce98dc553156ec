import io
import struct
import zlib

import numpy as np
import pytest
from PIL import Image

from polypdet.io.images import ImageDecodeError, decode_image


def _encode(image: Image.Image, fmt: str, **kwargs: object) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, fmt, **kwargs)
    return buffer.getvalue()


def _rgb() -> Image.Image:
    array = np.zeros((30, 40, 3), np.uint8)
    array[:, :20] = (200, 30, 30)
    return Image.fromarray(array)


def test_rgb_png_is_exact() -> None:
    out = decode_image(_encode(_rgb(), "PNG"))
    assert out.shape == (30, 40, 3) and out.dtype == np.uint8
    assert out[0, 0].tolist() == [200, 30, 30]


def test_grayscale_becomes_three_channels() -> None:
    out = decode_image(_encode(Image.new("L", (8, 6), 77), "PNG"))
    assert out.shape == (6, 8, 3) and out[0, 0].tolist() == [77, 77, 77]


def test_rgba_drops_alpha() -> None:
    out = decode_image(_encode(Image.new("RGBA", (8, 6), (10, 20, 30, 0)), "PNG"))
    assert out.shape == (6, 8, 3) and out[0, 0].tolist() == [10, 20, 30]


def test_16_bit_is_scaled_not_clipped() -> None:
    array = np.full((6, 8), 65535, np.uint16)
    array[0, 0] = 32768
    out = decode_image(_encode(Image.fromarray(array), "PNG"))
    assert out[1, 1].tolist() == [255, 255, 255]
    assert 126 <= out[0, 0, 0] <= 128


def test_cmyk_jpeg_converts() -> None:
    out = decode_image(_encode(Image.new("CMYK", (16, 16), (0, 255, 255, 0)), "JPEG", quality=95))
    assert out.shape == (16, 16, 3)
    assert out[8, 8, 0] > 200 and out[8, 8, 1] < 60  # red


def test_exif_orientation_is_applied() -> None:
    image = Image.new("RGB", (40, 20), (0, 0, 0))
    image.paste((255, 255, 255), (0, 0, 10, 20))  # white band on the left
    exif = Image.Exif()
    exif[0x0112] = 6  # stored rotated: display needs 90 degrees clockwise
    out = decode_image(_encode(image, "JPEG", exif=exif, quality=95))
    assert out.shape == (40, 20, 3)  # portrait after transposing
    assert out[2, 10].mean() > 200 and out[-2, 10].mean() < 50  # the band is now on top


def _png_with_size(width: int, height: int) -> bytes:
    data = bytearray(_encode(Image.new("1", (1, 1)), "PNG"))
    ihdr = data[16:29]
    ihdr[0:8] = struct.pack(">II", width, height)
    data[16:29] = ihdr
    data[29:33] = struct.pack(">I", zlib.crc32(b"IHDR" + bytes(ihdr)))
    return bytes(data)


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"", "empty"),
        (b"plain text, not an image", "not an image"),
        (_png_with_size(30000, 30000), "too large"),
    ],
)
def test_bad_input_is_one_clear_error(data: bytes, message: str) -> None:
    with pytest.raises(ImageDecodeError, match=message):
        decode_image(data)


def test_truncated_jpeg_is_refused() -> None:
    data = _encode(Image.effect_noise((64, 64), 50).convert("RGB"), "JPEG")
    with pytest.raises(ImageDecodeError, match="corrupt or truncated"):
        decode_image(data[: len(data) // 2])
