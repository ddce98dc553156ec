"""Alembic environment: the engine comes from :func:`polypdet.store.migrate.upgrade`, never from an ini file."""

from __future__ import annotations

from alembic import context
from sqlalchemy import Engine

from polypdet.store.models import Base

engine: Engine = context.config.attributes["engine"]
with engine.begin() as connection:
    context.configure(connection=connection, target_metadata=Base.metadata, render_as_batch=True)
    with context.begin_transaction():
        context.run_migrations()
