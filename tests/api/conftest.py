"""Fixtures for the service: settings on a temporary SQLite file, a started app and real image bytes."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from auth_helpers import new_api_key
from fastapi import FastAPI
from fastapi.testclient import TestClient

from polypdet.api.app import create_app
from polypdet.config import Settings
from polypdet.security.roles import Role

KVASIR_IMAGE = "kvasir-seg/images/cju1d31sp4d4k0878r3fr02ul.jpg"
CLINIC_PNG = "cvc-clinicdb/images/val/450.png"


@pytest.fixture
def make_settings(tmp_path: Path) -> Callable[..., Settings]:
    def make(**overrides: Any) -> Settings:
        values: dict[str, Any] = {"polypdet_home": tmp_path / "var", "redis_url": None, "log_json": False}
        return Settings(**(values | overrides))

    return make


@pytest.fixture
def make_client(make_settings: Callable[..., Settings], detector: Any) -> Iterator[Callable[..., TestClient]]:
    """Start an app with the session's detector, signed in with a new API key of ``role`` (``None``: no key);
    extra keyword arguments go to Settings."""
    clients: list[TestClient] = []

    def make(
        app_hook: Callable[[FastAPI], None] | None = None, role: Role | None = Role.CLINICIAN, **overrides: Any
    ) -> TestClient:
        app = create_app(make_settings(**overrides), detector)
        if app_hook:
            app_hook(app)
        client = TestClient(app)
        client.__enter__()
        clients.append(client)
        if role is not None:
            client.headers["X-API-Key"] = new_api_key(client, role)
        return client

    yield make
    for client in clients:
        client.__exit__(None, None, None)


@pytest.fixture
def cache_prefix(redis_url: str) -> Iterator[str]:
    """A Redis key prefix of this test's own; its keys are deleted afterwards."""
    import redis

    prefix = f"polypdet-test:{uuid.uuid4().hex}:"
    yield prefix
    client = redis.Redis.from_url(redis_url)
    client.delete(*client.keys(prefix + "*"))


@pytest.fixture
def client(make_client: Callable[..., TestClient]) -> TestClient:
    return make_client()


@pytest.fixture(scope="session")
def jpeg_bytes(data: Path) -> bytes:
    return (data / KVASIR_IMAGE).read_bytes()


@pytest.fixture(scope="session")
def png_bytes(data: Path) -> bytes:
    return (data / CLINIC_PNG).read_bytes()
