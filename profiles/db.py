"""Engine, sessions and schema creation: created lazily from settings, never at import time.

One engine and one ``sessionmaker`` per process. SQLite (the embedded default) gets foreign keys, a busy
timeout and WAL so the action server and the API can write to the same file; its transactions are begun
explicitly so that ``session_scope(write=True)`` can take the write lock up front (``BEGIN IMMEDIATE``) and
a read-then-write unit of work never fails half way with "database is locked".
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event, inspect
from sqlalchemy.engine import Connection, make_url
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.pool import StaticPool

from profiles.models import SQLITE_SCHEMA_VERSION, Base, Money
from profiles.settings import get_settings

log = logging.getLogger(__name__)

SQLITE_BUSY_TIMEOUT_MS = 15_000
_IMMEDIATE = "profiles_sqlite_immediate"

_lock = threading.Lock()
_engine: Engine | None = None
_write_engine: Engine | None = None
_sessionmaker: sessionmaker[Session] | None = None


def _create_engine(url: str) -> Engine:
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite":
        return create_engine(url, pool_pre_ping=True)
    in_memory = parsed.database in (None, "", ":memory:")
    kwargs: dict[str, Any] = {"connect_args": {"check_same_thread": False}}
    if in_memory:
        kwargs["poolclass"] = StaticPool
    elif parsed.database:
        Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
    engine = create_engine(url, **kwargs)

    @event.listens_for(engine, "connect")
    def _sqlite_on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None  # we emit BEGIN ourselves (see _sqlite_on_begin)
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        if not in_memory:
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _sqlite_on_begin(conn: Connection) -> None:
        immediate = conn.get_execution_options().get(_IMMEDIATE, False)
        conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")

    return engine


def get_engine() -> Engine:
    """Return the process-wide engine for ``settings.database_url``, creating it on first use."""
    global _engine
    if _engine is None:
        with _lock:
            if _engine is None:
                _engine = _create_engine(get_settings().database_url)
                log.info("database engine created (dialect=%s)", _engine.dialect.name)
    return _engine


def _get_write_engine() -> Engine:
    global _write_engine
    if _write_engine is None:
        _write_engine = get_engine().execution_options(**{_IMMEDIATE: True})
    return _write_engine


def get_sessionmaker() -> sessionmaker[Session]:
    """Return the process-wide ``sessionmaker`` bound to ``get_engine()``."""
    global _sessionmaker
    if _sessionmaker is None:
        engine = get_engine()
        with _lock:
            if _sessionmaker is None:
                _sessionmaker = sessionmaker(bind=engine, expire_on_commit=False)
    return _sessionmaker


@contextmanager
def session_scope(*, write: bool = False) -> Iterator[Session]:
    """One unit of work: ``with session_scope() as s:`` commits on success, rolls back on any error.

    Pass ``write=True`` for a unit of work that reads then writes: on SQLite it starts with
    ``BEGIN IMMEDIATE`` (waits up to the busy timeout for other writers instead of failing later);
    on PostgreSQL it changes nothing (use ``with_for_update()`` for the rows you will change).
    """
    factory = get_sessionmaker()
    session = factory(bind=_get_write_engine()) if write else factory()
    try:
        with session.begin():
            yield session
    finally:
        session.close()


def init_db() -> None:
    """Create every table and index that does not exist yet (idempotent).

    On SQLite it also upgrades a file written by older code (``PRAGMA user_version`` below
    ``models.SQLITE_SCHEMA_VERSION``): money columns stored as REAL/NUMERIC euros become integer cents.
    """
    engine = get_engine()
    if engine.dialect.name != "sqlite":
        Base.metadata.create_all(engine)
        return
    with engine.begin() as conn:
        version = int(conn.exec_driver_sql("PRAGMA user_version").scalar() or 0)
        had_tables = bool(inspect(conn).get_table_names())
        Base.metadata.create_all(conn)
        if version >= SQLITE_SCHEMA_VERSION:
            return
        if had_tables:
            for table in Base.metadata.sorted_tables:
                for column in table.columns:
                    if isinstance(column.type, Money):
                        conn.exec_driver_sql(
                            f'UPDATE "{table.name}" SET "{column.name}" = CAST(ROUND("{column.name}" * 100) AS INTEGER) '
                            f'WHERE "{column.name}" IS NOT NULL'
                        )
            log.warning("SQLite file upgraded: money columns now hold integer cents")
        conn.exec_driver_sql(f"PRAGMA user_version = {SQLITE_SCHEMA_VERSION}")


def reset_engine() -> None:
    """Dispose of the engine and forget it (tests, or after changing ``DATABASE_URL``)."""
    global _engine, _write_engine, _sessionmaker
    with _lock:
        if _engine is not None:
            _engine.dispose()
        _engine = _write_engine = _sessionmaker = None
