"""Migrations at start-up: replicas starting together on an empty PostgreSQL database take turns."""

from __future__ import annotations

import multiprocessing
import subprocess
import sys
from multiprocessing.synchronize import Barrier
from pathlib import Path

import pytest
from alembic.script import ScriptDirectory
from sqlalchemy import text

from polypdet.store.engine import make_engine
from polypdet.store.migrate import (
    HEAD,
    MIGRATION_LOCK_KEY,
    alembic_config,
    current_revision,
    migration_lock,
    upgrade,
    upgrade_in_child,
)

REPLICAS = 4
# A bigint advisory lock shows in pg_locks as its high and low 32 bits (classid, objid) with objsubid 1.
HELD_LOCKS = text(
    "SELECT count(*) FROM pg_locks l JOIN pg_database d ON d.oid = l.database"
    " WHERE l.locktype = 'advisory' AND d.datname = current_database() AND l.objid::bigint = :low"
)


def migrate_with_the_others(url: str, start: Barrier) -> None:
    """One replica's start-up: connected first, so that every replica reaches ``upgrade`` at the same moment."""
    engine = make_engine(url)
    engine.connect().close()
    start.wait(timeout=30)
    upgrade(engine)


@pytest.mark.postgres
def test_replicas_starting_together_on_an_empty_database_all_migrate(empty_postgres_url: str) -> None:
    spawn = multiprocessing.get_context("spawn")  # no fork of a test process that may hold model threads
    start = spawn.Barrier(REPLICAS)
    replicas = [
        spawn.Process(target=migrate_with_the_others, args=(empty_postgres_url, start)) for _ in range(REPLICAS)
    ]
    for replica in replicas:
        replica.start()
    for replica in replicas:
        replica.join(timeout=60)
    assert [replica.exitcode for replica in replicas] == [0] * REPLICAS, "a replica failed to migrate"

    engine = make_engine(empty_postgres_url)
    head = ScriptDirectory.from_config(alembic_config(engine)).get_current_head()
    with engine.connect() as connection, migration_lock(connection):
        pass  # the lock taken and given back on a connection that stays open in the pool
    with engine.connect() as connection:
        versions = connection.execute(text("SELECT version_num FROM alembic_version")).scalars().all()
        held = connection.execute(HELD_LOCKS, {"low": MIGRATION_LOCK_KEY & 0xFFFFFFFF}).scalar()
    engine.dispose()
    assert versions == [head]
    assert held == 0, "upgrade() kept the migration lock on a pooled connection"


def test_sqlite_needs_no_lock(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'fresh.db'}")
    upgrade(engine)
    upgrade(engine)
    with engine.connect() as connection:
        assert connection.execute(text("SELECT count(*) FROM alembic_version")).scalar() == 1
    engine.dispose()


def test_head_is_alembics_head(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'any.db'}")
    assert ScriptDirectory.from_config(alembic_config(engine)).get_current_head() == HEAD


def test_a_database_at_head_starts_without_alembic(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'ready.db'}"
    upgrade(make_engine(url))
    check = (
        "import sys; from polypdet.store.engine import make_engine; from polypdet.store.migrate import upgrade; "
        f"upgrade(make_engine({url!r})); print('alembic' in sys.modules)"
    )
    done = subprocess.run([sys.executable, "-c", check], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "False"


def test_polypdet_serve_migrates_in_a_child_process(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'served.db'}"
    upgrade_in_child(url)
    assert current_revision(make_engine(url)) == HEAD
    with pytest.raises(subprocess.CalledProcessError):
        upgrade_in_child("postgresql://nobody@127.0.0.1:1/unreachable")
