"""Decode the video bitstream of a Video Endoscopic Image (MPEG-2, MPEG-4 AVC/H.264, HEVC) with PyAV.

In these transfer syntaxes the encapsulated pixel data is not a list of frames but one video bitstream split
into fragments: joined, it is an elementary stream (or an MPEG-2 program stream) that FFmpeg can demux.
"""

from __future__ import annotations

import io

import av
import numpy as np
from pydicom import uid
from pydicom.encaps import generate_fragments, parse_basic_offsets

from polypdet.io.images import ImageDecodeError, RGBImage

_ELEMENTARY_FORMATS: dict[str, str] = {
    **{ts: "mpegvideo" for ts in (uid.MPEG2MPML, uid.MPEG2MPMLF, uid.MPEG2MPHL, uid.MPEG2MPHLF)},
    **{
        ts: "h264"
        for ts in (
            uid.MPEG4HP41,
            uid.MPEG4HP41F,
            uid.MPEG4HP41BD,
            uid.MPEG4HP41BDF,
            uid.MPEG4HP422D,
            uid.MPEG4HP422DF,
            uid.MPEG4HP423D,
            uid.MPEG4HP423DF,
            uid.MPEG4HP42STEREO,
            uid.MPEG4HP42STEREOF,
        )
    },
    **{ts: "hevc" for ts in (uid.HEVCMP51, uid.HEVCM10P51)},
}

VIDEO_TRANSFER_SYNTAXES = frozenset(_ELEMENTARY_FORMATS)


def extract_bitstream(pixel_data: bytes) -> bytes:
    """The video bitstream: every fragment after the (empty) basic offset table, concatenated."""
    buffer = io.BytesIO(pixel_data)
    parse_basic_offsets(buffer)
    return b"".join(generate_fragments(buffer))


def decode_video_frames(pixel_data: bytes, transfer_syntax: str, max_total_pixels: int) -> list[RGBImage]:
    """Every frame of an encapsulated video as RGB ``uint8``; refuses videos beyond ``max_total_pixels``."""
    stream = extract_bitstream(pixel_data)
    if not stream:
        raise ImageDecodeError("empty video bitstream")
    # FFmpeg's probe recognises program streams; elementary streams need their format named.
    for container_format in (None, _ELEMENTARY_FORMATS[transfer_syntax]):
        try:
            return _decode(stream, container_format, max_total_pixels)
        except av.error.FFmpegError:
            continue
    raise ImageDecodeError("corrupt or undecodable video bitstream")


def _decode(stream: bytes, container_format: str | None, max_total_pixels: int) -> list[RGBImage]:
    frames: list[RGBImage] = []
    total = 0
    with av.open(io.BytesIO(stream), mode="r", format=container_format) as container:
        if not container.streams.video:
            raise av.error.InvalidDataError(0, "no video stream")
        for frame in container.decode(video=0):
            total += frame.width * frame.height
            if total > max_total_pixels:
                raise ImageDecodeError(f"video too long: more than {max_total_pixels} pixels in all frames")
            frames.append(np.ascontiguousarray(frame.to_ndarray(format="rgb24")))
    if not frames:
        raise av.error.InvalidDataError(0, "no frames decoded")
    return frames
