"""Real clips and deliberately broken video files for the video tests."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest

SHORT_CLIP = "Polypileocecalvalve1.mpg"
"""The shortest atlas clip: 199 frames of 352x240 MPEG-1, 30 frames/s, a polyp in most of it."""


@pytest.fixture(scope="session")
def clip(data: Path) -> Path:
    return data / "videos" / SHORT_CLIP


def write_h264(path: Path, frames: int, faststart: bool = True, size: tuple[int, int] = (64, 48)) -> Path:
    """A small H.264 MP4 of random frames (``faststart`` puts the index in front, as streaming files do)."""
    options = {"movflags": "faststart"} if faststart else {}
    with av.open(str(path), "w", options=options) as out:
        stream = out.add_stream("libx264", rate=Fraction(25))
        stream.width, stream.height, stream.pix_fmt = size[0], size[1], "yuv420p"
        rng = np.random.default_rng(0)
        for _ in range(frames):
            image = rng.integers(0, 255, (size[1], size[0], 3), dtype=np.uint8)
            out.mux(stream.encode(av.VideoFrame.from_ndarray(image, format="rgb24")))
        out.mux(stream.encode(None))
    return path


@pytest.fixture(scope="session")
def bad_videos(tmp_path_factory: pytest.TempPathFactory, data: Path) -> dict[str, Path]:
    """One file per kind of bad input, each with the message fragment it must produce."""
    root = tmp_path_factory.mktemp("bad-videos")
    files: dict[str, Path] = {}
    (root / "notes.mp4").write_text("these are not video frames\n")
    files["not a readable video"] = root / "notes.mp4"
    files["still image"] = data / "kvasir-seg" / "images" / "cju1d31sp4d4k0878r3fr02ul.jpg"
    files["no such file"] = root / "missing.mp4"
    whole = write_h264(root / "whole.mp4", 50).read_bytes()
    (root / "truncated.mp4").write_bytes(whole[: len(whole) // 2])
    files["truncated"] = root / "truncated.mp4"
    index_last = write_h264(root / "index-last.mp4", 50, faststart=False).read_bytes()
    (root / "cut-before-index.mp4").write_bytes(index_last[: len(index_last) // 2])
    files["not a readable video "] = root / "cut-before-index.mp4"
    with av.open(str(root / "no-frames.mkv"), "w") as out:  # a valid header, then not one frame
        stream = out.add_stream("libx264", rate=Fraction(25))
        stream.width, stream.height = 64, 48
        out.start_encoding()
    files["ends before any video frame"] = root / "no-frames.mkv"
    with av.open(str(root / "audio.m4a"), "w") as out:
        audio = out.add_stream("aac", rate=8000)
        samples = np.zeros((1, 8000), dtype=np.float32)
        frame = av.AudioFrame.from_ndarray(samples, format="fltp", layout="mono")
        frame.sample_rate = 8000
        out.mux(audio.encode(frame))
        out.mux(audio.encode(None))
    files["no video stream"] = root / "audio.m4a"
    with av.open(str(root / "mjpeg.avi"), "w") as out:
        stream = out.add_stream("mjpeg", rate=Fraction(25))
        stream.width, stream.height, stream.pix_fmt = 64, 48, "yuvj420p"
        for value in range(0, 250, 50):
            out.mux(stream.encode(av.VideoFrame.from_ndarray(np.full((48, 64, 3), value, np.uint8), format="rgb24")))
        out.mux(stream.encode(None))
    # The same file with a codec tag no decoder knows: what an exotic capture card might produce.
    (root / "unknown-codec.avi").write_bytes((root / "mjpeg.avi").read_bytes().replace(b"MJPG", b"ZQZQ"))
    files["unsupported video codec"] = root / "unknown-codec.avi"
    return files
