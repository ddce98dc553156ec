"""Ordinary images lose EXIF, XMP, ICC profiles, comments and PNG text chunks; their pixels stay identical."""

from __future__ import annotations

import io
import struct
import zlib

import numpy as np
import pytest
from PIL import Image, ImageCms, PngImagePlugin

from polypdet.security.deid.images import MetadataStripError, strip_metadata

SECRET = "Doe^Jane PDT-0001"
XMP = f'<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:Description dc:creator="{SECRET}"/></x:xmpmeta>'.encode()


@pytest.fixture
def pixels(polyp_image: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(polyp_image[:200, :240])


def exif() -> Image.Exif:
    data = Image.Exif()
    data[0x013B] = SECRET  # Artist
    data[0x010E] = f"patient {SECRET}"  # ImageDescription
    return data


def icc_with_text() -> bytes:
    profile = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB"))
    return profile.tobytes()


def decoded(data: bytes) -> np.ndarray:
    with Image.open(io.BytesIO(data)) as image:
        return np.asarray(image.convert("RGB"))


def assert_clean(cleaned: bytes, original: bytes) -> None:
    assert SECRET.encode() not in cleaned and b"xmpmeta" not in cleaned
    assert np.array_equal(decoded(cleaned), decoded(original))
    with Image.open(io.BytesIO(cleaned)) as image:
        tags = image.getexif()  # for a TIFF: its structural tags (size, compression), nothing descriptive
        assert not ({0x013B, 0x010E, 0x8769, 0x8825} & set(tags)) and not tags.get_ifd(0x8769)
        assert "icc_profile" not in image.info and "xmp" not in image.info
        assert not any(isinstance(v, str) and "Jane" in v for v in image.info.values())


@pytest.mark.parametrize("progressive", [False, True])
def test_jpeg(pixels: np.ndarray, progressive: bool) -> None:
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(
        buffer, "JPEG", quality=90, exif=exif(), xmp=XMP, icc_profile=icc_with_text(), comment=SECRET,
        progressive=progressive,
    )  # fmt: skip
    original = buffer.getvalue()
    assert SECRET.encode() in original and b"ICC_PROFILE" in original
    cleaned, kind = strip_metadata(original)
    assert kind == "jpeg" and len(cleaned) < len(original)
    assert_clean(cleaned, original)
    assert b"ICC_PROFILE" not in cleaned and b"Exif\x00" not in cleaned


def png_chunk(kind: bytes, payload: bytes) -> bytes:
    return struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", zlib.crc32(kind + payload))


def test_png(pixels: np.ndarray) -> None:
    info = PngImagePlugin.PngInfo()
    info.add_text("Author", SECRET)
    info.add_text("Comment", SECRET, zip=True)
    info.add_itxt("Description", SECRET, lang="en")
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, "PNG", pnginfo=info, exif=exif(), icc_profile=icc_with_text())
    raw = buffer.getvalue()
    # A private chunk and a time stamp after the header, as other tools write them.
    original = raw[:33] + png_chunk(b"prVt", SECRET.encode()) + png_chunk(b"tIME", bytes(7)) + raw[33:]
    cleaned, kind = strip_metadata(original)
    assert kind == "png"
    for chunk in (b"tEXt", b"zTXt", b"iTXt", b"eXIf", b"iCCP", b"tIME", b"prVt"):
        assert chunk not in cleaned, chunk
    assert_clean(cleaned, original)


def test_tiff(pixels: np.ndarray) -> None:
    buffer = io.BytesIO()
    info = {270: f"patient {SECRET}", 315: SECRET, 700: XMP}  # ImageDescription, Artist, XMP
    Image.fromarray(pixels).save(buffer, "TIFF", tiffinfo=info, exif=exif(), icc_profile=icc_with_text())
    original = buffer.getvalue()
    assert SECRET.encode() in original
    cleaned, kind = strip_metadata(original)
    assert kind == "tiff"
    assert_clean(cleaned, original)
    with Image.open(io.BytesIO(cleaned)) as image:
        assert not ({270, 315, 700, 34665, 34675} & set(image.tag_v2))


@pytest.mark.parametrize(
    "data",
    [b"", b"GIF89a....", b"\xff\xd8\xff\xe0\x00\x10JFIF", b"\x89PNG\r\n\x1a\n\x00\x00\x00\x0dIHDR", b"II*\x00junk"],
)
@pytest.mark.filterwarnings("ignore:Corrupt EXIF data")
def test_broken_or_unsupported_files(data: bytes) -> None:
    with pytest.raises(MetadataStripError):
        strip_metadata(data)
