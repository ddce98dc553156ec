"""Dump and restore the database: PostgreSQL with ``pg_dump``/``pg_restore``, SQLite with its online backup API."""

from __future__ import annotations

import shutil
import sqlite3
import subprocess
from pathlib import Path

from sqlalchemy import inspect, text
from sqlalchemy.engine import Engine, make_url

from polypdet.store.engine import normalize_url


class DatabaseBackupError(RuntimeError):
    """The dump or the restore failed (the message says why, in one line)."""


def database_kind(url: str) -> str:
    backend = make_url(normalize_url(url)).get_backend_name()
    if backend not in {"postgresql", "sqlite"}:
        raise DatabaseBackupError(f"backups support PostgreSQL and SQLite, not {backend}")
    return backend


def libpq_url(url: str) -> str:
    """The URL as ``pg_dump`` understands it (no ``+psycopg`` driver suffix)."""
    return make_url(normalize_url(url)).set(drivername="postgresql").render_as_string(hide_password=False)


def sqlite_path(url: str) -> Path:
    database = make_url(url).database
    if not database or database == ":memory:":
        raise DatabaseBackupError("an in-memory SQLite database cannot be backed up")
    return Path(database)


def _tool(name: str) -> str:
    found = shutil.which(name)
    if found is None:
        raise DatabaseBackupError(f"{name} is not installed (Debian/Ubuntu: apt-get install postgresql-client)")
    return found


def _run(command: list[str]) -> None:
    result = subprocess.run(command, capture_output=True, text=True)
    if result.returncode != 0:
        lines = [line for line in result.stderr.splitlines() if line.strip()]
        raise DatabaseBackupError(f"{Path(command[0]).name} failed: {lines[-1] if lines else result.returncode}")


def dump_database(url: str, target: Path) -> None:
    """Write a consistent snapshot of ``url`` to ``target`` (pg_dump custom format, or a SQLite file)."""
    if database_kind(url) == "postgresql":
        _run([_tool("pg_dump"), "--format=custom", "--no-owner", "--no-privileges", f"--file={target}", libpq_url(url)])
        return
    source = sqlite3.connect(sqlite_path(url))
    try:
        with sqlite3.connect(target) as copy:
            source.backup(copy)
        copy.close()
    finally:
        source.close()


def restore_database(url: str, dump: Path) -> None:
    """Replace the contents of ``url`` with ``dump`` (the service must be stopped)."""
    if database_kind(url) == "postgresql":
        _run([
            _tool("pg_restore"), "--clean", "--if-exists", "--no-owner", "--no-privileges",
            "--single-transaction", "--exit-on-error", f"--dbname={libpq_url(url)}", str(dump),
        ])  # fmt: skip
        return
    path = sqlite_path(url)
    path.parent.mkdir(parents=True, exist_ok=True)
    source = sqlite3.connect(dump)
    try:
        with sqlite3.connect(path) as target:
            source.backup(target)
        target.close()
    finally:
        source.close()


def table_counts(engine: Engine) -> dict[str, int]:
    """Rows per table: what a restore must give back."""
    with engine.connect() as connection:
        return {
            name: int(connection.execute(text(f'SELECT count(*) FROM "{name}"')).scalar_one())
            for name in sorted(inspect(engine).get_table_names())
        }
