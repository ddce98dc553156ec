"""Encoding: every frame lands in the file, odd sizes are padded, timestamps are kept."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from polypdet.video.errors import VideoError
from polypdet.video.source import VideoFile
from polypdet.video.writer import VideoWriter


@pytest.mark.parametrize(("codec", "name"), [("h264", "out.mp4"), ("mpeg4", "out.avi")])
def test_frames_in_equal_frames_out(tmp_path: Path, codec: str, name: str) -> None:
    rng = np.random.default_rng(1)
    frames = [rng.integers(0, 255, (37, 51, 3), dtype=np.uint8) for _ in range(12)]
    with VideoWriter(tmp_path / name, 51, 37, fps=25, codec=codec) as writer:  # type: ignore[arg-type]
        for i, image in enumerate(frames):
            writer.write(image, timestamp_ms=i * 40.0)
    with VideoFile(tmp_path / name) as video:
        decoded = list(video)
    assert len(decoded) == 12
    assert decoded[0].image.shape == (38, 52, 3)  # padded to even sizes for 4:2:0
    assert [round(f.timestamp_ms) for f in decoded] == [i * 40 for i in range(12)]  # AVI: from the 25 fps rate


def test_unwritable_path_is_a_clear_error(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("x")
    with pytest.raises(VideoError, match="cannot write"):
        VideoWriter(tmp_path / "file" / "out.mp4", 64, 48, fps=25)
