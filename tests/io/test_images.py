import io
import struct
import zlib

import numpy as np
import pytest
from PIL import Image

from polypdet.io.images import (
    ImageDecodeError,
    ReducedImage,
    decode_for_input,
    decode_frames_for_input,
    decode_image,
    image_size,
)


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


def test_palette_png_with_transparency_gives_its_colours() -> None:
    image = _rgb().quantize(4)
    image.info["transparency"] = 0
    assert decode_image(_encode(image, "PNG"))[0, 0].tolist() == [200, 30, 30]


def test_truncated_png_is_refused() -> None:
    data = _encode(Image.effect_noise((64, 64), 50).convert("RGB"), "PNG")
    with pytest.raises(ImageDecodeError, match="corrupt or truncated"):
        decode_image(data[: len(data) // 2] + data[-12:])  # the IEND chunk kept: only Pillow can tell


def test_png_pixels_are_decoded_once(monkeypatch: pytest.MonkeyPatch) -> None:
    """An upright PNG goes to libspng alone: Pillow only reads its header (its getexif would decode it all)."""
    from PIL import PngImagePlugin

    def no_load(self: Image.Image) -> None:
        raise AssertionError("Pillow decoded the pixels")

    monkeypatch.setattr(PngImagePlugin.PngImageFile, "load", no_load)
    assert decode_image(_encode(_rgb(), "PNG")).shape == (30, 40, 3)


@pytest.mark.parametrize("fmt", ["JPEG", "PNG"])
def test_exif_orientation_is_applied(fmt: str) -> None:
    image = Image.new("RGB", (40, 20), (0, 0, 0))
    image.paste((255, 255, 255), (0, 0, 10, 20))  # white band on the left
    exif = Image.Exif()
    exif[0x0112] = 6  # stored rotated: display needs 90 degrees clockwise
    out = decode_image(_encode(image, fmt, exif=exif, quality=95))
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


def _rotated_exif() -> Image.Exif:
    exif = Image.Exif()
    exif[0x0112] = 6
    return exif


def _big_jpeg(width: int = 1280, height: int = 960, **kwargs: object) -> bytes:
    array = np.zeros((height, width, 3), np.uint8)
    array[:, : width // 2] = (200, 30, 30)  # left half red
    return _encode(Image.fromarray(array), "JPEG", quality=95, **kwargs)


def test_a_large_jpeg_is_decoded_at_the_smallest_scale_that_still_covers_the_input() -> None:
    out = decode_for_input(_big_jpeg(), input_size=320)
    assert isinstance(out, ReducedImage)
    assert (out.scale, out.pixels.shape) == (4, (240, 320, 3))  # 1/4 keeps 320 on the long side, 1/8 would not
    assert image_size(out) == (1280, 960)
    assert out.pixels[120, 40].tolist() == pytest.approx([200, 30, 30], abs=6)  # colours survive, RGB order


@pytest.mark.parametrize(
    ("data", "why"),
    [
        (_big_jpeg(400, 300), "too small to reduce"),
        (_encode(Image.new("RGB", (1280, 960)), "PNG"), "not a JPEG"),
        (_big_jpeg(exif=_rotated_exif()), "EXIF-rotated: the full decoder turns it upright"),
    ],
)
def test_other_images_are_decoded_in_full(data: bytes, why: str) -> None:
    out = decode_for_input(data, input_size=320)
    assert isinstance(out, np.ndarray), why
    assert out.shape[:2] == decode_image(data).shape[:2]


def test_a_truncated_large_jpeg_is_still_refused() -> None:
    with pytest.raises(ImageDecodeError, match="truncated"):
        decode_for_input(_big_jpeg()[:-2000], input_size=320)


def _pages(fmt: str, sizes: list[tuple[int, int]], **kwargs: object) -> bytes:
    """A multi-frame file: frame i filled with grey level 40 * (i + 1)."""
    frames = [Image.new("RGB", size, (40 * (i + 1),) * 3) for i, size in enumerate(sizes)]
    return _encode(frames[0], fmt, save_all=True, append_images=frames[1:], **kwargs)


@pytest.mark.parametrize("fmt", ["TIFF", "GIF", "PNG", "WEBP"])
def test_every_frame_of_a_multi_page_or_animated_image_is_decoded(fmt: str) -> None:
    data = _pages(fmt, [(64, 48)] * 3, **({"lossless": True} if fmt == "WEBP" else {}))
    frames = decode_frames_for_input(data, input_size=320)
    assert [f.shape for f in frames if isinstance(f, np.ndarray)] == [(48, 64, 3)] * 3
    assert [int(np.asarray(f)[10, 10, 0]) for f in frames] == [40, 80, 120]
    assert decode_image(data)[10, 10, 0] == 40  # one image: the first frame


def test_a_single_image_is_one_frame_decoded_as_for_input() -> None:
    frames = decode_frames_for_input(_big_jpeg(), input_size=320)
    assert len(frames) == 1 and isinstance(frames[0], ReducedImage)


def test_frames_of_different_sizes_are_refused() -> None:
    with pytest.raises(ImageDecodeError, match="frame 2 is 32x24 pixels, frame 1 64x48"):
        decode_frames_for_input(_pages("TIFF", [(64, 48), (32, 24)]), input_size=320)


def test_all_frames_together_count_against_the_pixel_limit() -> None:
    data = _pages("TIFF", [(64, 48)] * 3)
    with pytest.raises(ImageDecodeError, match="3 frames of 64x48"):
        decode_frames_for_input(data, input_size=320, max_pixels=64 * 48 * 2)
    assert len(decode_frames_for_input(data, input_size=320, max_pixels=64 * 48 * 3)) == 3


def test_a_camera_jpeg_with_a_preview_picture_is_one_image() -> None:
    data = _pages("MPO", [(64, 48), (32, 24)])
    assert Image.open(io.BytesIO(data)).n_frames == 2
    frames = decode_frames_for_input(data, input_size=320)
    assert len(frames) == 1 and np.asarray(frames[0]).shape == (48, 64, 3)
