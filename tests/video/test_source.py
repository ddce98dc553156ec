"""Reading real clips, and one clear error for each kind of bad input."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from polypdet.video.errors import VideoDecodeError, VideoError, VideoOpenError
from polypdet.video.source import VideoFile, open_source


def test_mpeg1_clip_frames_and_timestamps(clip: Path) -> None:
    with VideoFile(clip) as video:
        frames = list(video)
    assert (video.info.width, video.info.height, video.info.codec) == (352, 240, "mpeg1video")
    assert len(frames) == 199
    assert [f.index for f in frames] == list(range(199))
    stamps = np.array([f.timestamp_ms for f in frames])
    assert stamps[0] == 0 and np.all(np.diff(stamps) > 0)
    assert frames[0].image.shape == (240, 352, 3) and frames[0].image.dtype == np.uint8


def test_h264_clip_colours_match_ffmpeg(data: Path) -> None:
    """The fast OpenCV YUV->RGB path gives the colours FFmpeg's own conversion gives."""
    import av

    path = data / "videos" / "auuming_polyp_educational.mp4"
    with av.open(str(path)) as container:
        reference = next(container.decode(video=0)).to_ndarray(format="rgb24")
    with VideoFile(path) as video:
        first = next(iter(video))
        assert video.info.codec == "h264" and video.info.frame_count == 140
    assert first.image.shape == reference.shape
    assert np.abs(first.image.astype(int) - reference.astype(int)).mean() < 2.0


@pytest.mark.parametrize(
    "kind",
    [
        "not a readable video",
        "still image",
        "no such file",
        "not a readable video ",
        "ends before any video frame",
        "no video stream",
        "unsupported video codec",
    ],
)
def test_bad_file_is_refused_on_open(bad_videos: dict[str, Path], kind: str) -> None:
    with pytest.raises(VideoOpenError) as error:
        VideoFile(bad_videos[kind])
    message = str(error.value)
    assert kind.strip() in message and "\n" not in message


def test_truncated_video_yields_what_it_has_then_fails(bad_videos: dict[str, Path]) -> None:
    video = VideoFile(bad_videos["truncated"])
    seen = 0
    with pytest.raises(VideoDecodeError, match="truncated"):
        for _ in video:
            seen += 1
    assert 0 < seen < 50


def test_missing_camera_and_refused_stream(tmp_path: Path) -> None:
    with pytest.raises(VideoError, match="camera 57"):
        open_source("57")
    with pytest.raises(VideoOpenError, match="cannot open the stream"):
        open_source("http://127.0.0.1:9/live.ts")
    with pytest.raises(VideoOpenError, match="not a regular file"):
        open_source(str(tmp_path))
