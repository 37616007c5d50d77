"""Opening the database: engine, tables, schema version and the pseudonym key.

One code path for SQLite (a file, WAL mode) and PostgreSQL (`postgresql+psycopg://...`).
Tables are created at start (no migration tool); `cds_meta.schema_version` records the
layout so that a future layout can refuse, or upgrade, an older database.
"""

from __future__ import annotations

import logging
import secrets
import time
from collections.abc import Callable
from typing import Any

from sqlalchemy import Engine, create_engine, event, insert, select
from sqlalchemy.engine import make_url
from sqlalchemy.exc import (
    IntegrityError,
    InterfaceError,
    OperationalError,
    SQLAlchemyError,
    TimeoutError,
)
from sqlalchemy.pool import StaticPool

from cds.errors import StoreError
from cds.store import tables
from cds.store.pseudonym import Pseudonymiser

log = logging.getLogger("cds.store")

DEFAULT_TIMEOUT_MS = 3000


def make_engine(url: str, timeout_ms: int = DEFAULT_TIMEOUT_MS) -> Engine:
    """An engine that never puts bound parameters (patient data) into error messages and
    never waits longer than `timeout_ms` to connect, for a pooled connection, for a lock or
    (PostgreSQL) for a statement. A server that stops answering mid-statement is not caught
    here: callers on a request path wait in a thread with their own deadline."""
    parsed = make_url(url)
    timeout_s = timeout_ms / 1000.0
    kwargs: dict[str, Any] = {"hide_parameters": True}
    if parsed.get_backend_name() == "sqlite":  # a file never drops a connection: no ping
        kwargs["connect_args"] = {"check_same_thread": False, "timeout": timeout_s}
        if parsed.database in (None, "", ":memory:"):
            kwargs["poolclass"] = StaticPool  # one shared in-memory database
        engine = create_engine(parsed, **kwargs)
        event.listen(engine, "connect", _sqlite_pragmas(timeout_ms))
        return engine
    if parsed.get_backend_name() == "postgresql":
        # libpq counts whole seconds, at least 2.
        kwargs["connect_args"] = {"connect_timeout": max(2, round(timeout_s))}
        engine = create_engine(parsed, pool_size=5, max_overflow=5, pool_pre_ping=True,
                               pool_timeout=timeout_s, **kwargs)
        event.listen(engine, "connect", _postgres_timeouts(timeout_ms))
        return engine
    # A server restart or idle timeout drops pooled connections: ping before reuse.
    return create_engine(parsed, pool_size=5, max_overflow=5, pool_pre_ping=True,
                         pool_timeout=timeout_s, **kwargs)


def _sqlite_pragmas(timeout_ms: int) -> Callable[[Any, Any], None]:
    def on_connect(dbapi_connection: Any, _record: Any) -> None:
        cursor = dbapi_connection.cursor()
        try:
            # WAL lets readers (feedback, suppression) run while the audit writer writes.
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.execute(f"PRAGMA busy_timeout={int(timeout_ms)}")
        finally:
            cursor.close()
    return on_connect


def _postgres_timeouts(timeout_ms: int) -> Callable[[Any, Any], None]:
    def on_connect(dbapi_connection: Any, _record: Any) -> None:
        autocommit = dbapi_connection.autocommit
        dbapi_connection.autocommit = True  # a SET outside any transaction
        try:
            with dbapi_connection.cursor() as cursor:
                cursor.execute(f"SET statement_timeout = {int(timeout_ms)}")
                cursor.execute(f"SET lock_timeout = {int(timeout_ms)}")
        finally:
            dbapi_connection.autocommit = autocommit
    return on_connect


def safe_url(engine: Engine) -> str:
    """The database URL without its password, for logs and CLI output."""
    return engine.url.render_as_string(hide_password=True)


class Database:
    """An engine with the store's tables in place and the keyed pseudonymiser of this DB.

    With a configured pseudonym key the service may start while the database is away (a
    restart during an outage must not take the service down): the tables are then created
    by the first caller of `ensure_schema()` that reaches it. Without one, the key lives in
    the database, so it must answer at start.
    """

    def __init__(self, engine: Engine, pseudonymiser: Pseudonymiser,
                 schema_ready: bool = True) -> None:
        self.engine = engine
        self.pseudonymiser = pseudonymiser
        self._schema_ready = schema_ready

    @classmethod
    def open(cls, url: str, pseudonym_key: str | None = None,
             timeout_ms: int = DEFAULT_TIMEOUT_MS) -> Database:
        engine = make_engine(url, timeout_ms)
        try:
            key = _initialise(engine, pseudonym_key, timeout_ms / 1000.0)
        except SQLAlchemyError as exc:
            if pseudonym_key is not None and _unreachable(exc):
                log.error("the store at %s does not answer (%s); serving anyway: audit records "
                          "wait in the spool, the tables are created once it answers",
                          safe_url(engine), type(exc).__name__)
                return cls(engine, Pseudonymiser(pseudonym_key), schema_ready=False)
            engine.dispose()
            hint = "" if pseudonym_key is not None else (
                " (with CDS_PSEUDONYM_KEY set the service can start while it is away)")
            raise StoreError(
                f"cannot open the store at {safe_url(engine)}: {type(exc).__name__}{hint}"
            ) from exc
        return cls(engine, Pseudonymiser(key))

    def ensure_schema(self) -> None:
        """Create the tables if the database did not answer at start (raises until it does)."""
        if not self._schema_ready:
            create_schema(self.engine)
            self._schema_ready = True
            log.warning("the store at %s answers again; its tables are in place",
                        safe_url(self.engine))

    def ping(self) -> bool:
        try:
            self.ensure_schema()
            with self.engine.connect() as conn:
                conn.execute(select(1)).scalar_one()
        except Exception:  # readiness: any failure means not ready
            log.warning("store ping failed", exc_info=False)
            return False
        return True

    def dispose(self) -> None:
        self.engine.dispose()


def _initialise(engine: Engine, pseudonym_key: str | None, timeout_s: float) -> str:
    """Tables in place; the pseudonym key. Workers starting together on a new SQLite file
    race to switch it to WAL and create its tables, and SQLite may answer "database is
    locked" without waiting: the loser tries again until `timeout_s`."""
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            create_schema(engine)
            return pseudonym_key or meta_value(engine, "pseudonym_key", secrets.token_hex(32))
        except OperationalError:
            if engine.dialect.name != "sqlite" or time.monotonic() >= deadline:
                raise
            time.sleep(0.05)


def _unreachable(exc: SQLAlchemyError) -> bool:
    """The database did not answer (as opposed to answering with an error)."""
    return isinstance(exc, OperationalError | InterfaceError | TimeoutError) or \
        getattr(exc, "connection_invalidated", False)


def create_schema(engine: Engine) -> None:
    """Create missing tables and check the schema version (replicas may race here)."""
    try:
        tables.metadata.create_all(engine)
    except SQLAlchemyError:
        # Another replica created the same table between our check and our CREATE.
        tables.metadata.create_all(engine)
    version = meta_value(engine, "schema_version", tables.SCHEMA_VERSION)
    if version != tables.SCHEMA_VERSION:
        raise StoreError(
            f"the database has store schema version {version}; this service uses "
            f"{tables.SCHEMA_VERSION}"
        )


def meta_value(engine: Engine, key: str, default: str) -> str:
    """The value stored under `key`, storing `default` first if there is none.

    Insert-then-read makes concurrent replicas agree: whichever insert wins, every
    replica reads the same value back.
    """
    with engine.begin() as conn:
        current = conn.execute(
            select(tables.meta.c.value).where(tables.meta.c.key == key)
        ).scalar_one_or_none()
    if current is not None:
        return str(current)
    try:
        with engine.begin() as conn:
            conn.execute(insert(tables.meta).values(key=key, value=default))
    except IntegrityError:
        pass  # another replica stored its value first: use that one
    with engine.begin() as conn:
        return str(conn.execute(
            select(tables.meta.c.value).where(tables.meta.c.key == key)
        ).scalar_one())
