"""ResultStore on SQLite and on the real PostgreSQL: migrations, save/get, owners, keyset pages."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import inspect

from polypdet.store import ResultRecord, ResultStore
from polypdet.store.engine import normalize_url
from polypdet.store.store import InvalidCursorError


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[ResultStore]:
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'nested' / 'results.db'}"
    else:
        url = request.getfixturevalue("postgres_url")
    opened = ResultStore.open(url)
    yield opened
    with opened.engine.begin() as connection:
        connection.exec_driver_sql("DELETE FROM results")
    opened.close()


def record(owner: str = "anonymous", created: datetime | None = None, boxes: int = 1) -> ResultRecord:
    return ResultRecord(
        id=uuid.uuid4().hex,
        created_at=created or datetime.now(UTC),
        model_version="polyp-yolov8n@test",
        params={"conf": 0.25, "iou": 0.7, "max_det": 50},
        detections=[{"bbox": [1.0, 2.0, 30.5, 40.0], "confidence": 0.9, "class": "polyp"}] * boxes,
        image_width=640,
        image_height=480,
        inference_ms=4.2,
        content_hash="ab" * 32,
        source="image",
        owner=owner,
    )


def test_migrations_create_the_table_and_rerun_cleanly(store: ResultStore) -> None:
    assert "results" in inspect(store.engine).get_table_names()
    assert "alembic_version" in inspect(store.engine).get_table_names()
    ResultStore.open(str(store.engine.url.render_as_string(hide_password=False))).close()  # already at head
    assert store.ping()


def test_saved_result_reads_back_equal(store: ResultStore) -> None:
    saved = record(boxes=2)
    store.add(saved)
    loaded = store.get(saved.id)
    assert loaded is not None
    assert loaded.detections == saved.detections and loaded.params == saved.params
    assert (loaded.image_width, loaded.image_height, loaded.owner) == (640, 480, "anonymous")
    assert store.get(uuid.uuid4().hex) is None


def test_owner_filter_hides_other_owners(store: ResultStore) -> None:
    mine, theirs = record("alice"), record("bob")
    store.add(mine)
    store.add(theirs)
    assert store.get(theirs.id, owner="alice") is None
    assert store.get(theirs.id) is not None
    assert [r.id for r in store.page(10, owner="alice").items] == [mine.id]


def test_keyset_pages_walk_every_result_once_newest_first(store: ResultStore) -> None:
    start = datetime(2026, 1, 1, tzinfo=UTC)
    same_time = start + timedelta(seconds=5)
    records = [record(created=start + timedelta(seconds=i)) for i in range(7)] + [record(created=same_time)]
    for r in records:
        store.add(r)
    seen: list[str] = []
    cursor = None
    while True:
        page = store.page(3, cursor)
        seen += [r.id for r in page.items]
        if page.next_cursor is None:
            break
        cursor = page.next_cursor
    expected = sorted(records, key=lambda r: (r.created_at, r.id), reverse=True)
    assert seen == [r.id for r in expected]


def test_a_forged_cursor_is_refused(store: ResultStore) -> None:
    with pytest.raises(InvalidCursorError):
        store.page(5, "not-a-cursor")


def test_plain_postgresql_urls_get_the_installed_driver() -> None:
    assert normalize_url("postgresql://u@h/db") == "postgresql+psycopg://u@h/db"
    assert normalize_url("postgres://u@h/db") == "postgresql+psycopg://u@h/db"
    assert normalize_url("sqlite:///x.db") == "sqlite:///x.db"


def test_unreachable_database_fails_ping_not_raise() -> None:
    store = ResultStore.open("postgresql://root@127.0.0.1:1/nothing", migrate=False)
    assert store.ping() is False
