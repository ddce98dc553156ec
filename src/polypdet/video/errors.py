"""What can go wrong with a video input or output; every message is one line a user can act on."""

from __future__ import annotations


class VideoError(Exception):
    """A video could not be read or written."""


class VideoOpenError(VideoError):
    """The input is missing, not a video, has no video frames, or uses a codec FFmpeg cannot decode."""


class VideoDecodeError(VideoError):
    """The video broke off part-way (truncated or corrupt); frames before the break were processed."""


class StreamDisconnected(VideoError):
    """A live source (camera, RTSP/HTTP stream) stopped delivering frames."""
