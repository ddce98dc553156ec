"""Shared fixtures: the real datasets, the shipped model and a loaded detector."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from postgres_db import throwaway_database

REPO = Path(__file__).resolve().parents[1]
DATA = Path(os.environ.get("POLYPDET_DATA", REPO.parent / "shared" / "data"))


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if not DATA.is_dir():
        skip = pytest.mark.skip(reason=f"datasets not found at {DATA} (set POLYPDET_DATA)")
        for item in items:
            if "data" in item.fixturenames:
                item.add_marker(skip)


@pytest.fixture(scope="session")
def data() -> Path:
    return DATA


@pytest.fixture(scope="session")
def detector():  # type: ignore[no-untyped-def]
    from polypdet.engine.detector import Detector

    return Detector(backend="onnxruntime")


@pytest.fixture(scope="session")
def polyp_image(data: Path) -> np.ndarray:
    """A real non-square Kvasir-SEG image with one polyp."""
    from polypdet.io.images import read_image

    return read_image(data / "kvasir-seg" / "images" / "cju1d31sp4d4k0878r3fr02ul.jpg")


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """A throwaway PostgreSQL database on 127.0.0.1:5432 for this test session, dropped at the end."""
    with throwaway_database("polypdet_test") as url:
        yield url


@pytest.fixture
def empty_postgres_url(postgres_url: str) -> Iterator[str]:
    """A brand-new database with no tables, for one test (``postgres_url`` first: skips if there is no server)."""
    with throwaway_database("polypdet_empty") as url:
        yield url


@pytest.fixture(scope="session")
def redis_url() -> str:
    """The Redis on 127.0.0.1:6379, database 15 (tests use their own key prefixes too)."""
    redis = pytest.importorskip("redis")
    url = os.environ.get("POLYPDET_TEST_REDIS", "redis://127.0.0.1:6379/15")
    try:
        redis.Redis.from_url(url, socket_connect_timeout=2).ping()
    except redis.RedisError as error:
        pytest.skip(f"Redis not reachable at {url}: {error}")
    return url
