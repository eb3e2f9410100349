"""Shared fixtures: a fresh, real database per test.

- ``db``: parametrised over SQLite (a new file per test) and PostgreSQL (a private schema per test session,
  emptied before each test), so every test that uses it runs on both. Run one backend with
  ``-k sqlite`` / ``-k postgresql``.
- ``sqlite_db`` / ``pg_db``: one backend only.
- ``override_settings(**env)``: set settings for one test (environment variables, cache cleared).

PostgreSQL comes from ``TEST_POSTGRES_URL``, else ``DATABASE_URL`` when that is PostgreSQL (``make pytest-prod``),
else ``postgresql+psycopg://postgres@127.0.0.1:5432/test``. Tests only ever touch their own schema there. It is
skipped only when unreachable *and* ``CI`` is not set; in CI an unreachable server fails the run.

- ``test_redis_url``: a reachable Redis for the tests that need one, from ``TEST_REDIS_URL`` (default
  ``redis://127.0.0.1:6379/0``; the Makefile exports it to both pytest runs); skipped when unreachable, except
  in CI (``CI`` set), where it fails.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterator

import pytest
from sqlalchemy import Engine, create_engine, make_url, text

from profiles.db import get_engine, init_db, reset_engine
from profiles.models import Base
from profiles.settings import get_settings


def _postgres_url() -> str:
    outer = os.environ.get("DATABASE_URL", "")
    if os.environ.get("TEST_POSTGRES_URL"):
        return os.environ["TEST_POSTGRES_URL"]
    if outer.startswith("postgresql"):
        return outer
    return "postgresql+psycopg://postgres@127.0.0.1:5432/test"


PG_URL = _postgres_url()
DEFAULT_TEST_REDIS_URL = "redis://127.0.0.1:6379/0"


def redis_test_url() -> str:
    """The Redis the tests use (``TEST_REDIS_URL``, else the local default), reachable: else skips, or fails in
    CI (``CI`` set)."""
    import redis

    url = os.environ.get("TEST_REDIS_URL") or DEFAULT_TEST_REDIS_URL
    client = redis.Redis.from_url(url, socket_timeout=3)
    try:
        client.ping()
    except redis.RedisError as exc:
        message = f"Redis unreachable at TEST_REDIS_URL={url}: {exc}"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    finally:
        client.close()
    return url


@pytest.fixture
def test_redis_url() -> str:
    """:func:`redis_test_url` as a fixture."""
    return redis_test_url()


def _configure(mp: pytest.MonkeyPatch, **env: object) -> None:
    for key, value in env.items():
        mp.setenv(key.upper(), str(value))
    get_settings.cache_clear()
    reset_engine()


@pytest.fixture
def override_settings(monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[..., None]]:
    """``override_settings(daily_transfer_limit="100.00", jwt_ttl_minutes=5)``: settings for this test."""
    yield lambda **env: _configure(monkeypatch, **env)
    get_settings.cache_clear()


@pytest.fixture(scope="session")
def pg_url() -> Iterator[str]:
    """URL of a private schema on the test PostgreSQL server, dropped at the end of the session."""
    admin = create_engine(PG_URL, connect_args={"connect_timeout": 3})
    try:
        with admin.connect() as conn:
            conn.execute(text("SELECT 1"))
    except Exception as exc:  # noqa: BLE001 - any failure to connect means "unreachable"
        admin.dispose()
        message = f"PostgreSQL unreachable at {make_url(PG_URL).render_as_string()}: {exc}"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    schema = f"test_{os.getpid()}_{uuid.uuid4().hex[:8]}"
    with admin.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    url = make_url(PG_URL).update_query_dict({"options": f"-csearch_path={schema}"})
    yield url.render_as_string(hide_password=False)
    reset_engine()
    with admin.begin() as conn:
        conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
    admin.dispose()


def _fresh(kind: str, request: pytest.FixtureRequest, mp: pytest.MonkeyPatch) -> Engine:
    if kind == "sqlite":
        tmp = request.getfixturevalue("tmp_path")
        _configure(mp, database_url=f"sqlite:///{tmp / 'crm.db'}")
        init_db()
    else:
        _configure(mp, database_url=request.getfixturevalue("pg_url"))
        init_db()
        names = ", ".join(f'"{t.name}"' for t in Base.metadata.sorted_tables)
        with get_engine().begin() as conn:
            conn.execute(text(f"TRUNCATE {names} RESTART IDENTITY CASCADE"))
    return get_engine()


@pytest.fixture(params=["sqlite", "postgresql"])
def db(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Iterator[Engine]:
    """A fresh, empty CRM database with every table, as the process-wide engine (both backends)."""
    yield _fresh(request.param, request, monkeypatch)
    reset_engine()
    get_settings.cache_clear()


@pytest.fixture
def sqlite_db(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Iterator[Engine]:
    """Like ``db``, SQLite only."""
    yield _fresh("sqlite", request, monkeypatch)
    reset_engine()
    get_settings.cache_clear()


@pytest.fixture
def pg_db(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Iterator[Engine]:
    """Like ``db``, PostgreSQL only."""
    yield _fresh("postgresql", request, monkeypatch)
    reset_engine()
    get_settings.cache_clear()


@pytest.fixture(scope="session", autouse=True)
def _reviewed_nlu_file_outside_the_repository(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """The NLU annotation export (any test, the API fuzz, the APIs the browser tests start) writes to a temporary
    file, never into data/: a stray data/nlu/reviewed.yml would change what `rasa train` learns."""
    previous = os.environ.get("NLU_REVIEWED_FILE")
    os.environ["NLU_REVIEWED_FILE"] = str(tmp_path_factory.mktemp("nlu") / "reviewed.yml")
    get_settings.cache_clear()
    yield
    if previous is None:
        os.environ.pop("NLU_REVIEWED_FILE", None)
    else:
        os.environ["NLU_REVIEWED_FILE"] = previous
    get_settings.cache_clear()
