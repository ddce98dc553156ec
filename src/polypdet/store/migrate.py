"""Run the packaged Alembic migrations up to head (at service start, and from ``polypdet serve``)."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import Connection, Engine, func, select, text
from sqlalchemy.exc import SQLAlchemyError

if TYPE_CHECKING:
    from alembic.config import Config

MIGRATIONS = Path(__file__).parent / "migrations"
HEAD = "0003"
"""The newest revision (a test checks it is Alembic's head): a database already there starts without Alembic,
which would otherwise stay imported in every serving process (~35 MB)."""
# The PostgreSQL advisory lock every replica takes around its migrations: "polypdet" as a 64-bit key.
MIGRATION_LOCK_KEY = int.from_bytes(b"polypdet", "big")


def alembic_config(engine: Engine, connection: Connection | None = None) -> Config:
    """Alembic's configuration; env.py migrates on ``connection`` when given, else in a transaction of ``engine``."""
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["engine"] = engine
    if connection is not None:
        config.attributes["connection"] = connection
    return config


@contextmanager
def migration_lock(connection: Connection) -> Iterator[None]:
    """Hold the session-level advisory lock on ``connection``: other replicas wait here until it is released."""
    connection.execute(select(func.pg_advisory_lock(MIGRATION_LOCK_KEY)))
    connection.commit()  # a session lock outlives transactions; the migrations then run in one of their own
    try:
        yield
    finally:
        if not connection.invalidated:  # a lost connection has released the lock with its session
            connection.rollback()
            connection.execute(select(func.pg_advisory_unlock(MIGRATION_LOCK_KEY)))
            connection.commit()


def upgrade(engine: Engine) -> None:
    """Bring the database to the newest schema; a no-op when it is already there.

    On PostgreSQL, replicas starting together on an empty database take turns: the first migrates under
    :data:`MIGRATION_LOCK_KEY`, the others wait for the lock and then find the schema at head.
    """
    if current_revision(engine) == HEAD:
        return
    from alembic import command

    if engine.dialect.name != "postgresql":
        command.upgrade(alembic_config(engine), "head")
        return
    with engine.connect() as connection, migration_lock(connection), connection.begin():
        command.upgrade(alembic_config(engine, connection), "head")


def current_revision(engine: Engine) -> str | None:
    """The revision the database is at; ``None`` for an empty (or unreachable) one."""
    try:
        with engine.connect() as connection:
            return connection.execute(text("SELECT version_num FROM alembic_version")).scalar()
    except SQLAlchemyError:
        return None


def upgrade_in_child(url: str) -> None:
    """:func:`upgrade` in a short-lived child process: Alembic never loads into the serving process.

    Raises ``subprocess.CalledProcessError`` if the migration fails (the child prints why on stderr).
    """
    from polypdet.store.engine import make_engine

    engine = make_engine(url)
    try:
        if current_revision(engine) == HEAD:
            return
    finally:
        engine.dispose()
    command = [sys.executable, "-c", "from polypdet.store.migrate import main; main()"]
    subprocess.run(command, env={**os.environ, MIGRATE_URL_VARIABLE: url}, check=True)


MIGRATE_URL_VARIABLE = "POLYPDET_MIGRATE_URL"


def main() -> None:
    """The child's work: migrate the database named in the environment."""
    from polypdet.store.engine import make_engine

    upgrade(make_engine(os.environ[MIGRATE_URL_VARIABLE]))
