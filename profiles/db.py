"""Engine, sessions and schema creation: created lazily from settings, never at import time.

One engine and one ``sessionmaker`` per process. SQLite (the embedded default) gets foreign keys, a busy
timeout and WAL so the action server and the API can write to the same file; its transactions are begun
explicitly so that ``session_scope(write=True)`` can take the write lock up front (``BEGIN IMMEDIATE``) and
a read-then-write unit of work never fails half way with "database is locked".
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, create_engine, event, inspect, text
from sqlalchemy.engine import Connection, make_url
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.pool import StaticPool

from profiles.models import SQLITE_SCHEMA_VERSION, Base, Money
from profiles.settings import get_settings

log = logging.getLogger(__name__)

SQLITE_BUSY_TIMEOUT_MS = 15_000
MIGRATIONS = Path(__file__).resolve().parent / "migrations"
# Revision of the schema the first release created with create_all (before migrations existed): a database
# that has tables but no alembic_version table is that schema.
BASELINE_REVISION = "0001"
_MIGRATION_LOCK_KEY = 7_412_202_611  # pg_advisory_xact_lock key: one migrating process at a time
_IMMEDIATE = "profiles_sqlite_immediate"

_lock = threading.Lock()
_engine: Engine | None = None
_write_engine: Engine | None = None
_sessionmaker: sessionmaker[Session] | None = None


def private_sqlite_file(path: str | Path) -> Path:
    """Make a SQLite database file owner-only before SQLite opens it: missing directories are created 0700, a
    missing file is created empty with mode 0600, an existing one loses any group/other permission. SQLite
    creates the ``-wal`` and ``-shm`` files with the database file's permissions, so they are 0600 too.
    Returns the path. Raises OSError when the directory cannot be created."""
    file = Path(path)
    missing = [p for p in (file.parent, *file.parent.parents) if not p.exists()]
    file.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    for directory in missing:  # mkdir's mode is masked by the umask, and parents get the default mode
        directory.chmod(0o700)
    try:
        os.close(os.open(file, os.O_CREAT | os.O_WRONLY, 0o600))
        if file.stat().st_mode & 0o077:
            file.chmod(0o600)
    except PermissionError:  # someone else's file: its mode is its owner's business
        log.warning("cannot make %s owner-only", file.name)
    return file


def new_engine(url: str, **kwargs: Any) -> Engine:
    """``sqlalchemy.create_engine(url, **kwargs)`` with ``hide_parameters=True``: a failed statement's text (and
    every traceback or warning that prints it) shows no values, which may be a customer's words or e-mail
    address. Every engine of ours is made here."""
    return create_engine(url, hide_parameters=True, **kwargs)


def _create_engine(url: str) -> Engine:
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite":
        return new_engine(url, pool_pre_ping=True)
    in_memory = parsed.database in (None, "", ":memory:")
    kwargs: dict[str, Any] = {"connect_args": {"check_same_thread": False}}
    if in_memory:
        kwargs["poolclass"] = StaticPool
    elif parsed.database:
        private_sqlite_file(parsed.database)  # 0600 (its -wal/-shm follow), new directories 0700
    engine = new_engine(url, **kwargs)

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


def _alembic_config(connection: Connection) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["connection"] = connection
    return config


_script: ScriptDirectory | None = None


def _head() -> str:
    global _script
    if _script is None:
        _script = ScriptDirectory(str(MIGRATIONS))
    head = _script.get_current_head()
    assert head is not None
    return head


def _upgrade_sqlite_money_to_cents(conn: Connection) -> None:
    """Files written before SQLITE_SCHEMA_VERSION 1 stored money as REAL euros: convert to integer cents."""
    version = int(conn.exec_driver_sql("PRAGMA user_version").scalar() or 0)
    if version >= SQLITE_SCHEMA_VERSION:
        return
    existing = set(inspect(conn).get_table_names())
    for table in Base.metadata.sorted_tables:
        if table.name not in existing:
            continue
        present = {c["name"] for c in inspect(conn).get_columns(table.name)}
        for column in table.columns:
            if isinstance(column.type, Money) and column.name in present:
                conn.exec_driver_sql(
                    f'UPDATE "{table.name}" SET "{column.name}" = CAST(ROUND("{column.name}" * 100) AS INTEGER) '
                    f'WHERE "{column.name}" IS NOT NULL'
                )
    if existing:
        log.warning("SQLite file upgraded: money columns now hold integer cents")
    conn.exec_driver_sql(f"PRAGMA user_version = {SQLITE_SCHEMA_VERSION}")


def init_db() -> None:
    """Bring the schema to the newest Alembic revision (idempotent; safe when several processes start at once).

    - empty database: ``create_all`` then stamp the head revision (Alembic's recommended fresh install);
    - database at an older revision: ``alembic upgrade head`` (profiles/migrations/versions);
    - no tables but a version table (left by a ``drop_all``), at any revision: the same as empty;
    - tables but no ``alembic_version`` (made by the first release's ``create_all``): stamped as
      ``BASELINE_REVISION``, then upgraded.
    On SQLite an older file's money columns are also converted to integer cents first. One process migrates at a
    time: SQLite takes the write lock up front, PostgreSQL an advisory transaction lock.
    """
    head = _head()
    with _get_write_engine().begin() as conn:
        if conn.dialect.name == "postgresql":
            conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _MIGRATION_LOCK_KEY})
        current = MigrationContext.configure(conn).get_current_revision()
        if current == head:
            # Tables dropped without the version table (``drop_all`` in tests) come back here.
            Base.metadata.create_all(conn)
            return
        if conn.dialect.name == "sqlite":
            _upgrade_sqlite_money_to_cents(conn)
        from profiles.conversation_search import is_search_object  # import here: it needs the models loaded

        # The staff console's full-text index (FTS5 table, not a model) outlives a drop_all: it is no "older schema"
        tables = {t for t in inspect(conn).get_table_names() if t != "alembic_version" and not is_search_object(t, "table")}
        if not tables:
            # Empty, or only a version table left behind (a drop_all by an older checkout's tests, at an older
            # revision): nothing to migrate, a fresh install at the head revision.
            Base.metadata.create_all(conn)
            command.stamp(_alembic_config(conn), head, purge=True)
            return
        config = _alembic_config(conn)
        if current is None:
            command.stamp(config, BASELINE_REVISION)
        command.upgrade(config, "head")
        log.warning("database schema upgraded from %s to %s", current or BASELINE_REVISION, head)


def reset_engine() -> None:
    """Dispose of the engine and forget it (tests, or after changing ``DATABASE_URL``)."""
    global _engine, _write_engine, _sessionmaker
    with _lock:
        if _engine is not None:
            _engine.dispose()
        _engine = _write_engine = _sessionmaker = None
