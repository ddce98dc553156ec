from pathlib import Path

import pytest

from polypdet.video.frames import VIDEO_HEAD, is_video


@pytest.mark.parametrize("clip", ["Polypvvv.mpg", "auuming_polyp_educational.mp4"])
def test_real_clips_are_videos(data: Path, clip: str) -> None:
    assert is_video((data / "videos" / clip).read_bytes()[:VIDEO_HEAD])


@pytest.mark.parametrize(
    "head",
    [
        b"RIFF\x00\x00\x00\x00AVI LIST",
        b"\x1a\x45\xdf\xa3\x9f\x42\x86\x81",
        b"\x30\x26\xb2\x75\x8e\x66\xcf\x11\xa6\xd9",
        (b"\x47" + b"\x00" * 187) * 2,
    ],
    ids=["avi", "matroska", "asf", "transport-stream"],
)
def test_container_signatures(head: bytes) -> None:
    assert is_video(head)


@pytest.mark.parametrize("head", [b"\xff\xd8\xff\xe0\x00\x10JFIF", b"\x89PNG\r\n\x1a\n", b"G" + b"\x00" * 300, b""])
def test_images_and_other_bytes_are_not(head: bytes) -> None:
    assert not is_video(head)
