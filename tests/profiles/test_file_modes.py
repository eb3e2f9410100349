"""Database files are owner-only whatever the umask: the CRM's and the event broker's SQLite files, their
-wal/-shm files (SQLite gives them the database's mode) and the directories created for them."""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import text

from profiles.db import get_engine, init_db, reset_engine
from profiles.feed.consumer import SQLBrokerSource
from profiles.settings import get_settings


@pytest.fixture
def loose_umask() -> Iterator[None]:
    old = os.umask(0o022)  # the usual default: files 0644, directories 0755
    yield
    os.umask(old)


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_crm_database_files_and_directories_are_owner_only(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, loose_umask: None
) -> None:
    db = tmp_path / "var" / "data" / "crm.db"
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{db}")
    get_settings.cache_clear()
    reset_engine()
    try:
        init_db()
        with get_engine().connect() as conn:  # keep it open: -wal and -shm exist while connected
            conn.execute(text("SELECT count(*) FROM customers"))
            assert {p.name: _mode(p) for p in db.parent.iterdir()} == {
                "crm.db": 0o600, "crm.db-wal": 0o600, "crm.db-shm": 0o600}
        assert _mode(tmp_path / "var") == 0o700 and _mode(db.parent) == 0o700
    finally:
        reset_engine()
        get_settings.cache_clear()


def test_an_existing_world_readable_database_is_made_owner_only(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, loose_umask: None
) -> None:
    db = tmp_path / "crm.db"
    db.touch(mode=0o644)
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{db}")
    get_settings.cache_clear()
    reset_engine()
    try:
        init_db()
        assert _mode(db) == 0o600
    finally:
        reset_engine()
        get_settings.cache_clear()


def test_event_broker_database_files_are_owner_only(tmp_path: Path, loose_umask: None) -> None:
    db = tmp_path / "var" / "events.db"
    source = SQLBrokerSource(f"sqlite:///{db}")
    try:
        with source.engine.connect() as conn:
            conn.execute(text("SELECT count(*) FROM events"))
            assert {p.name: _mode(p) for p in db.parent.iterdir()} == {
                "events.db": 0o600, "events.db-wal": 0o600, "events.db-shm": 0o600}
        assert _mode(db.parent) == 0o700
    finally:
        source.engine.dispose()


def test_the_campaign_queue_file_is_owner_only(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, loose_umask: None
) -> None:
    """The embedded task queue (huey's SQLite file) holds campaign jobs: owner-only like the databases."""
    from api.campaign_queue import get_queue, reset_queue

    queue_file = tmp_path / "var" / "campaign_queue.db"
    monkeypatch.delenv("REDIS_URL", raising=False)
    monkeypatch.setenv("CAMPAIGN_QUEUE_FILE", str(queue_file))
    get_settings.cache_clear()
    reset_queue()
    try:
        queue = get_queue()
        queue.storage.enqueued_items()  # opens the file
        assert _mode(queue_file) == 0o600 and _mode(queue_file.parent) == 0o700
    finally:
        reset_queue()
        get_settings.cache_clear()


def test_model_store_folders_are_owner_only(tmp_path: Path, loose_umask: None) -> None:
    """Fitted models (var/analytics, the recommender registry) are learnt from customers' data: the folders the
    store creates, and the missing parents above them, are 0700 like the database's."""
    from profiles.modelstore import ModelStore

    root = tmp_path / "var" / "analytics"
    store = ModelStore(lambda: root)
    version = store.save("churn", {"weights": [1, 2]}, {"auc": 0.7}, version="v1")
    for folder in (tmp_path / "var", root, root / "churn"):
        assert _mode(folder) == 0o700, folder
    assert version == "v1" and (root / "churn" / "v1").is_dir()


def test_model_store_tightens_folders_an_older_release_left_open(tmp_path: Path, loose_umask: None) -> None:
    from profiles.modelstore import ModelStore

    root = tmp_path / "analytics"
    (root / "churn").mkdir(parents=True)
    (root / "churn").chmod(0o755)
    ModelStore(lambda: root).save("churn", {"weights": [1]}, {}, version="v2")
    assert _mode(root / "churn") == 0o700 and _mode(root) == 0o755  # a root that existed is left as it was
