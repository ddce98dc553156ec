"""Fixtures of the security tests: every database test runs on SQLite and on the real PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from security_helpers import FakeClock
from sqlalchemy import Engine

from polypdet.security.crypto import Envelope
from polypdet.security.keys import LocalKeyProvider
from polypdet.security.models import SECURITY_TABLES
from polypdet.store.engine import make_engine
from polypdet.store.models import Base
from postgres_db import throwaway_database


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture(scope="session")
def security_postgres_url(postgres_url: str) -> Iterator[str]:
    """A database of our own next to the shared test database: these tests drop and create tables freely."""
    with throwaway_database("polypdet_security") as url:
        yield url


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    """Empty tables (from the models, no migrations) on a SQLite file or a throwaway PostgreSQL database."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'security.db'}"
    else:
        url = request.getfixturevalue("security_postgres_url")
    engine = make_engine(url)
    Base.metadata.drop_all(engine)
    Base.metadata.create_all(engine, tables=[*SECURITY_TABLES, Base.metadata.tables["results"]])
    yield engine
    Base.metadata.drop_all(engine)
    engine.dispose()


@pytest.fixture
def envelope() -> Envelope:
    return Envelope(LocalKeyProvider.generate())
