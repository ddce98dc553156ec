"""Alembic environment: the engine or a connection comes from :mod:`polypdet.store.migrate`, not an ini file."""

from __future__ import annotations

from alembic import context
from sqlalchemy import Connection

from polypdet.store.models import Base


def run_migrations(connection: Connection) -> None:
    context.configure(connection=connection, target_metadata=Base.metadata, render_as_batch=True)
    with context.begin_transaction():
        context.run_migrations()


given: Connection | None = context.config.attributes.get("connection")
if given is not None:  # upgrade() holds PostgreSQL's migration lock on it, in a transaction it commits
    run_migrations(given)
else:
    with context.config.attributes["engine"].begin() as connection:
        run_migrations(connection)
