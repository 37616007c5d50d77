"""Store fixtures: every store test runs against SQLite (a file) and PostgreSQL.

PostgreSQL comes from CDS_TEST_POSTGRES_URL (scripts/test.d/20-postgres.sh sets it). Each
test gets its own schema there, dropped afterwards. In CI a missing PostgreSQL fails the
run; locally those tests skip and say why.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import quote

import pytest
from sqlalchemy import create_engine, text

from cds.metrics import Metrics
from cds.store.database import Database
from cds.store.sql import SQLStore
from tests.services import postgres_server_url
from tests.store.records import NOW


@contextmanager
def postgres_schema() -> Iterator[str]:
    """A fresh schema on the test PostgreSQL: its URL (search_path set), dropped afterwards."""
    base = postgres_server_url()
    schema = f"t_{uuid.uuid4().hex[:12]}"
    admin = create_engine(base)
    with admin.begin() as conn:
        conn.execute(text(f'create schema "{schema}"'))
    separator = "&" if "?" in base else "?"
    try:
        yield f"{base}{separator}options={quote(f'-csearch_path={schema}')}"
    finally:
        with admin.begin() as conn:
            conn.execute(text(f'drop schema "{schema}" cascade'))
        admin.dispose()


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def database_url(request: pytest.FixtureRequest, tmp_path: Any) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'cds.sqlite3'}"
        return
    with postgres_schema() as url:
        yield url


@pytest.fixture
def postgres_url() -> Iterator[str]:
    with postgres_schema() as url:
        yield url


class Clock:
    """A pinned clock the test moves by hand."""

    def __init__(self, now: datetime = NOW) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> datetime:
        self.now += timedelta(**delta)
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


StoreFactory = Callable[..., SQLStore]


@pytest.fixture
def make_store(database_url: str, clock: Clock, tmp_path: Any) -> Iterator[StoreFactory]:
    """Build started stores on the test database, each with its own audit spool (as on
    separate machines); all are closed at the end."""
    stores: list[SQLStore] = []

    def factory(*, key: str | None = "test-key", start: bool = True, **options: Any) -> SQLStore:
        options.setdefault("clock", clock)
        options.setdefault("metrics", Metrics())
        options.setdefault("flush_ms", 20)
        options.setdefault("spool_dir", tmp_path / f"spool-{len(stores)}")
        store = SQLStore(Database.open(database_url, key), **options)
        if start:
            store.start()
        stores.append(store)
        return store

    yield factory
    for store in stores:
        store.close()


@pytest.fixture
def store(make_store: StoreFactory) -> SQLStore:
    return make_store()
