"""``/api/stream`` mounted on a bare FastAPI app: JPEG frames in, tracked detections out, stale frames dropped."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest
import supervision as sv
from fastapi import FastAPI
from fastapi.testclient import TestClient

from polypdet.engine.detector import Detector
from polypdet.video.source import VideoFile
from polypdet.video.tracking import TrackerConfig
from polypdet.video.websocket import create_stream_router


def iou(a: list[float], b: list[float]) -> float:
    return float(sv.box_iou_batch(np.array([a]), np.array([b]))[0, 0])


@pytest.fixture(scope="module")
def jpeg_frames(clip: Path) -> list[bytes]:
    """Frames 48-107 of the clip, where a polyp is in view."""
    with VideoFile(clip) as video:
        frames = [f.image for f in video][48:108]
    return [cv2.imencode(".jpg", cv2.cvtColor(f, cv2.COLOR_RGB2BGR))[1].tobytes() for f in frames]


@pytest.fixture(scope="module")
def client(detector: Detector) -> Iterator[TestClient]:
    app = FastAPI()
    app.include_router(create_stream_router(lambda: detector, tracking=TrackerConfig(min_track_len=2)))
    with TestClient(app) as test_client:
        yield test_client


def test_each_frame_answered_in_order_with_stable_track_ids(client: TestClient, jpeg_frames: list[bytes]) -> None:
    replies: list[dict[str, Any]] = []
    with client.websocket_connect("/api/stream") as ws:
        for data in jpeg_frames[:12]:  # one at a time: no frame is dropped
            ws.send_bytes(data)
            replies.append(ws.receive_json())
    assert [r["frame"] for r in replies] == list(range(1, 13))
    assert all(r["dropped"] == 0 and (r["image_width"], r["image_height"]) == (352, 240) for r in replies)
    assert not replies[0]["detections"]  # a track is confirmed on its second frame at the earliest
    tracks: dict[int, list[list[float]]] = {}
    for reply in replies:
        for det in reply["detections"]:
            x1, y1, x2, y2 = det["bbox"]
            assert 0 <= x1 < x2 <= 352 and 0 <= y1 < y2 <= 240 and det["class"] == "polyp"
            tracks.setdefault(det["track_id"], []).append(det["bbox"])
    assert tracks, "a polyp is in view: tracked boxes are expected"
    most_boxes = max(len(r["detections"]) for r in replies)
    assert sorted(tracks) == list(range(1, most_boxes + 1)), "no new ids while the same polyps stay in view"
    for boxes in tracks.values():  # a track confirmed on the last frame has one box and nothing to compare
        assert all(iou(a, b) > 0.3 for a, b in itertools.pairwise(boxes))


def test_client_faster_than_server_gets_newest_frames_not_a_queue(client: TestClient, jpeg_frames: list[bytes]) -> None:
    with client.websocket_connect("/api/stream") as ws:
        for data in jpeg_frames:  # 60 frames at once, far faster than they can be analysed
            ws.send_bytes(data)
        replies = []
        while not replies or replies[-1]["frame"] < len(jpeg_frames):
            replies.append(ws.receive_json())
    numbers = [r["frame"] for r in replies]
    assert numbers == sorted(set(numbers)) and numbers[-1] == len(jpeg_frames)
    assert len(replies) < len(jpeg_frames)
    assert replies[-1]["dropped"] == len(jpeg_frames) - len(replies)


def test_bad_frames_get_an_error_and_the_connection_stays(client: TestClient, jpeg_frames: list[bytes]) -> None:
    with client.websocket_connect("/api/stream") as ws:
        ws.send_bytes(b"not a jpeg")
        assert "error" in ws.receive_json()
        ws.send_text("hello")
        assert "binary" in ws.receive_json()["error"]
        ws.send_bytes(jpeg_frames[0])
        reply = ws.receive_json()
        assert reply["frame"] == 3 and "detections" in reply
