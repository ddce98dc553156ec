"""``/api/stream`` as the service mounts it: the same authentication as every ``/api`` route, then tracked boxes.

Browsers present their credential as the subprotocol ``bearer.<credential>`` next to ``polypdet``.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pytest
from auth_helpers import new_api_key, security
from fastapi.testclient import TestClient
from starlette.testclient import WebSocketDenialResponse

from polypdet.io.images import decode_image
from polypdet.security.roles import Role
from polypdet.security.totp import code_at


def refused_status(client: TestClient, url: str = "/api/stream", **connect: Any) -> int:
    with pytest.raises(WebSocketDenialResponse) as refused, client.websocket_connect(url, **connect):
        pass
    return refused.value.status_code


def test_stream_refuses_callers_without_the_detect_permission(make_client: Callable[..., TestClient]) -> None:
    client = make_client(role=None)
    auditor = new_api_key(client, Role.AUDITOR)
    for headers, status in (({}, 401), ({"X-API-Key": "pdk_unknown"}, 401), ({"X-API-Key": auditor}, 403)):
        assert refused_status(client, headers=headers) == status


def test_browsers_authenticate_with_a_bearer_subprotocol(
    make_client: Callable[..., TestClient], jpeg_bytes: bytes
) -> None:
    client = make_client(role=None, backend="onnxruntime")
    key, auditor = new_api_key(client, Role.CLINICIAN), new_api_key(client, Role.AUDITOR)
    for subprotocols, status in (
        (["polypdet"], 401),  # no credential
        (["polypdet", "bearer."], 401),
        (["polypdet", "bearer.pdk_unknown_secret"], 401),
        (["polypdet", f"bearer.{key}x"], 401),
        (["polypdet", "bearer.not-a-token"], 401),
        (["polypdet", f"bearer.{auditor}"], 403),  # known, but may not detect
    ):
        assert refused_status(client, subprotocols=subprotocols) == status, subprotocols
    for query in (f"api_key={key}", f"token={key}", f"access_token={key}", f"bearer={key}"):  # never in a URL
        assert refused_status(client, f"/api/stream?{query}", subprotocols=["polypdet"]) == 401, query

    with client.websocket_connect("/api/stream", subprotocols=["polypdet", f"bearer.{key}"]) as ws:
        assert ws.accepted_subprotocol == "polypdet"  # the plain one, never the credential
        ws.send_bytes(jpeg_bytes)
        assert ws.receive_json()["frame"] == 1
    with client.websocket_connect("/api/stream", subprotocols=[f"bearer.{key}"]) as ws:
        assert ws.accepted_subprotocol is None  # nothing plain offered: nothing echoed
    assert ("auth.failed", "denied") in [(r["action"], r["outcome"]) for r in security(client).audit.export()]


def test_a_session_token_works_as_a_subprotocol_too(make_client: Callable[..., TestClient]) -> None:
    client = make_client(role=None, backend="onnxruntime")
    context = security(client)
    context.users.create("dr.web", "correct horse battery", Role.CLINICIAN)
    secret = context.users.enroll_totp("dr.web").secret
    login = {"username": "dr.web", "password": "correct horse battery", "totp": code_at(secret, datetime.now(UTC))}
    token = client.post("/api/auth/login", json=login).json()["access_token"]
    with client.websocket_connect("/api/stream", subprotocols=["polypdet", f"bearer.{token}"]) as ws:
        assert ws.accepted_subprotocol == "polypdet"


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
