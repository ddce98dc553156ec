"""``/api/stream`` as the service mounts it: the same authentication as every ``/api`` route, then tracked boxes."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from auth_helpers import new_api_key
from fastapi.testclient import TestClient
from starlette.testclient import WebSocketDenialResponse

from polypdet.io.images import decode_image
from polypdet.security.roles import Role


def test_stream_refuses_callers_without_the_detect_permission(make_client: Callable[..., TestClient]) -> None:
    client = make_client(role=None)
    auditor = new_api_key(client, Role.AUDITOR)
    for headers, status in (({}, 401), ({"X-API-Key": "pdk_unknown"}, 401), ({"X-API-Key": auditor}, 403)):
        with (
            pytest.raises(WebSocketDenialResponse) as refused,
            client.websocket_connect("/api/stream", headers=headers),
        ):
            pass
        assert refused.value.status_code == status


def test_stream_answers_a_clinician_with_tracked_boxes(
    make_client: Callable[..., TestClient], jpeg_bytes: bytes
) -> None:
    client = make_client(backend="onnxruntime")
    replies = []
    with client.websocket_connect("/api/stream") as ws:
        for _ in range(5):  # one at a time: a polyp is drawn once its track is 3 frames long
            ws.send_bytes(jpeg_bytes)
            replies.append(ws.receive_json())
    assert [r["frame"] for r in replies] == [1, 2, 3, 4, 5]
    assert replies[0]["detections"] == [] and replies[-1]["detections"]
    assert {d["track_id"] for d in replies[-1]["detections"]} == {d["track_id"] for d in replies[-2]["detections"]}
    height, width = decode_image(jpeg_bytes).shape[:2]
    assert (replies[-1]["image_width"], replies[-1]["image_height"]) == (width, height)
