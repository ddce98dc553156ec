"""Persisted detection results: SQLAlchemy models, the :class:`ResultStore` and its Alembic migrations."""

from polypdet.store.models import ResultRecord
from polypdet.store.store import ResultPage, ResultStore, StoreError

__all__ = ["ResultPage", "ResultRecord", "ResultStore", "StoreError"]
