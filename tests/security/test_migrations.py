"""The Alembic migration of the security tables: matches the models, and on PostgreSQL the log is append-only."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import Engine, text
from sqlalchemy.exc import DBAPIError

from polypdet.security import models  # noqa: F401 - registers the security tables on Base.metadata
from polypdet.security.audit import AuditLog
from polypdet.store.engine import make_engine
from polypdet.store.migrate import alembic_config, upgrade
from polypdet.store.models import Base


@pytest.fixture
def fresh_postgres(empty_postgres_url: str) -> Iterator[Engine]:
    """A brand-new, empty PostgreSQL database."""
    engine = make_engine(empty_postgres_url)
    yield engine
    engine.dispose()


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def fresh(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    """A brand-new, empty database."""
    if request.param == "postgres":
        yield request.getfixturevalue("fresh_postgres")
        return
    engine = make_engine(f"sqlite:///{tmp_path / 'fresh.db'}")
    yield engine
    engine.dispose()


def test_migrations_match_the_models(fresh: Engine) -> None:
    upgrade(fresh)
    with fresh.connect() as connection:
        differences = compare_metadata(MigrationContext.configure(connection), Base.metadata)
    assert differences == []


def test_downgrade_and_upgrade_again(fresh: Engine) -> None:
    upgrade(fresh)
    command.downgrade(alembic_config(fresh), "0001")
    upgrade(fresh)
    AuditLog(fresh).append("test", "pytest")
    assert AuditLog(fresh).verify().ok


STATEMENTS = ["UPDATE audit_log SET actor = 'x'", "DELETE FROM audit_log", "TRUNCATE audit_log"]


@pytest.mark.postgres
@pytest.mark.parametrize("statement", STATEMENTS)
def test_postgres_refuses_changes_to_the_audit_log(fresh_postgres: Engine, statement: str) -> None:
    """On top of the hash chain (which SQLite relies on alone), PostgreSQL refuses to change the log at all."""
    upgrade(fresh_postgres)
    AuditLog(fresh_postgres).append("test", "pytest")
    with pytest.raises(DBAPIError, match="append-only"), fresh_postgres.begin() as connection:
        connection.execute(text(statement))
    assert AuditLog(fresh_postgres).verify().records == 1
