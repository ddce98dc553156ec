"""Strip metadata from ordinary images without touching their pixels.

- JPEG: segments are filtered losslessly; only JFIF (APP0), Adobe (APP14, needed to decode colours) and the image
  segments stay — EXIF, XMP, ICC profiles, IPTC/Photoshop, comments and maker notes go.
- PNG: chunks are filtered losslessly against an allow-list of decoding chunks; text (tEXt, zTXt, iTXt), eXIf,
  iCCP, tIME and unknown or private chunks go.
- TIFF: every tag can carry text, so the pixels are re-written (LZW, lossless) into a new file with no metadata.

Dropping the ICC profile means the pixels are read as sRGB, as endoscopy frames almost always are.
"""

from __future__ import annotations

import io
import struct

from PIL import Image, ImageSequence, TiffImagePlugin

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
PNG_KEEP = frozenset(
    {b"IHDR", b"PLTE", b"IDAT", b"IEND", b"tRNS", b"gAMA", b"cHRM", b"sRGB", b"sBIT", b"bKGD", b"pHYs"}
    | {b"acTL", b"fcTL", b"fdAT"}  # APNG frames
)
JPEG_STANDALONE = frozenset({0x01, *range(0xD0, 0xD8)})  # TEM, RST0-7: no length field
APP0, APP14, SOS, EOI, COM = 0xE0, 0xEE, 0xDA, 0xD9, 0xFE


class MetadataStripError(ValueError):
    """The file is not a JPEG, PNG or TIFF this module can clean, or it is corrupt."""


def image_format(data: bytes) -> str | None:
    if data.startswith(b"\xff\xd8\xff"):
        return "jpeg"
    if data.startswith(PNG_SIGNATURE):
        return "png"
    if data[:4] in (b"II*\x00", b"MM\x00*"):
        return "tiff"
    return None


def _keep_jpeg_segment(marker: int, payload: bytes) -> bool:
    if marker == APP0:
        return payload.startswith(b"JFIF\x00")
    if marker == APP14:
        return payload.startswith(b"Adobe")
    return not (0xE1 <= marker <= 0xEF or marker == COM)


def _entropy_end(data: bytes, start: int) -> int:
    """Index of the first marker after entropy-coded data (``FF`` not followed by ``00`` or a restart marker)."""
    position = start
    while True:
        position = data.find(b"\xff", position)
        if position < 0 or position + 1 >= len(data):
            raise MetadataStripError("truncated JPEG scan")
        following = data[position + 1]
        if following == 0x00 or 0xD0 <= following <= 0xD7 or following == 0xFF:
            position += 1
            continue
        return position


def strip_jpeg(data: bytes) -> bytes:
    out, position = bytearray(b"\xff\xd8"), 2
    while position < len(data):
        if data[position] != 0xFF:
            raise MetadataStripError("corrupt JPEG: expected a marker")
        marker = data[position + 1] if position + 1 < len(data) else EOI
        if marker == 0xFF:  # fill byte
            position += 1
            continue
        if marker == EOI:
            out += b"\xff\xd9"
            return bytes(out)
        if marker in JPEG_STANDALONE:
            out += data[position : position + 2]
            position += 2
            continue
        if position + 4 > len(data):
            raise MetadataStripError("truncated JPEG segment")
        (length,) = struct.unpack(">H", data[position + 2 : position + 4])
        end = position + 2 + length
        if length < 2 or end > len(data):
            raise MetadataStripError("corrupt JPEG segment length")
        if _keep_jpeg_segment(marker, data[position + 4 : end]):
            out += data[position:end]
        position = end
        if marker == SOS:
            scan_end = _entropy_end(data, position)
            out += data[position:scan_end]
            position = scan_end
    raise MetadataStripError("JPEG without an end marker")


def strip_png(data: bytes) -> bytes:
    out, position = bytearray(PNG_SIGNATURE), len(PNG_SIGNATURE)
    while position + 12 <= len(data):
        (length,) = struct.unpack(">I", data[position : position + 4])
        kind = data[position + 4 : position + 8]
        end = position + 12 + length
        if end > len(data):
            raise MetadataStripError("truncated PNG chunk")
        if kind in PNG_KEEP:
            out += data[position:end]
        position = end
        if kind == b"IEND":
            return bytes(out)
    raise MetadataStripError("PNG without an IEND chunk")


def strip_tiff(data: bytes) -> bytes:
    try:
        # The TIFF reader itself, not Image.open: only TIFF is accepted here (and no plugin guessing).
        with TiffImagePlugin.TiffImageFile(io.BytesIO(data)) as image:
            frames = []
            for frame in ImageSequence.Iterator(image):
                # A new image from raw pixels carries no info dict, tags, EXIF, XMP or ICC profile.
                clean = Image.frombytes(frame.mode, frame.size, frame.tobytes())
                if frame.mode == "P" and (palette := frame.getpalette()) is not None:
                    clean.putpalette(palette)
                frames.append(clean)
    except (OSError, ValueError, SyntaxError, EOFError, struct.error, Image.DecompressionBombError) as error:
        raise MetadataStripError(f"unreadable TIFF: {error}") from None
    buffer = io.BytesIO()
    frames[0].save(buffer, format="TIFF", compression="tiff_lzw", save_all=True, append_images=frames[1:])
    return buffer.getvalue()


def strip_metadata(data: bytes) -> tuple[bytes, str]:
    """The cleaned image and its format (``jpeg``, ``png`` or ``tiff``)."""
    kind = image_format(data)
    if kind == "jpeg":
        return strip_jpeg(data), kind
    if kind == "png":
        return strip_png(data), kind
    if kind == "tiff":
        return strip_tiff(data), kind
    raise MetadataStripError("not a JPEG, PNG or TIFF image")
