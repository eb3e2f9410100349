"""Alembic migrations (profiles/migrations): the migrated schema is the models' schema, on both backends."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Engine, create_engine, make_url, text

from profiles.conversation_search import is_search_object
from profiles.db import MIGRATIONS, _head, init_db
from profiles.models import Base
from tests.conftest import PG_URL


@pytest.fixture(params=["sqlite", "postgresql"])
def blank(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Engine]]:
    """An empty database (no tables at all) and its URL."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path_factory.mktemp('mig') / 'm.db'}"
        engine = create_engine(url)
        yield url, engine
        engine.dispose()
        return
    request.getfixturevalue("pg_url")  # skips (or fails in CI) when PostgreSQL is unreachable
    schema = f"mig_{uuid.uuid4().hex[:10]}"
    admin = create_engine(PG_URL)
    with admin.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    url = make_url(PG_URL).update_query_dict({"options": f"-csearch_path={schema}"}).render_as_string(
        hide_password=False)
    engine = create_engine(url)
    yield url, engine
    engine.dispose()
    with admin.begin() as conn:
        conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
    admin.dispose()


def _orm_names(name: str | None, type_: str, parent_names: object) -> bool:
    """Compare ORM tables only: the full-text search table/index is not in the models."""
    return not is_search_object(name, type_)


def _config(conn: object) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["connection"] = conn
    return config


def test_migrations_build_exactly_the_models_schema(blank: tuple[str, Engine]) -> None:
    _, engine = blank
    with engine.begin() as conn:
        command.upgrade(_config(conn), "head")
    with engine.connect() as conn:
        assert MigrationContext.configure(conn).get_current_revision() == _head()
        diff = compare_metadata(MigrationContext.configure(conn, opts={"compare_type": True, "include_name": _orm_names}), Base.metadata)
    assert diff == []


def test_downgrade_to_baseline_and_back(blank: tuple[str, Engine]) -> None:
    _, engine = blank
    with engine.begin() as conn:
        command.upgrade(_config(conn), "head")
        command.downgrade(_config(conn), "0001")
        assert "interactions" not in set(conn.dialect.get_table_names(conn))
        command.upgrade(_config(conn), "head")
        assert "interactions" in set(conn.dialect.get_table_names(conn))


def test_init_db_with_only_an_old_version_table_left_builds_the_head_schema(
    blank: tuple[str, Engine], override_settings: object
) -> None:
    """A drop_all by an older checkout's tests leaves alembic_version at its (older) revision and no tables: a
    fresh install, not a migration of tables that are not there (production-mode CI on a shared database)."""
    url, engine = blank
    with engine.begin() as conn:
        conn.execute(text("CREATE TABLE alembic_version (version_num VARCHAR(32) NOT NULL PRIMARY KEY)"))
        conn.execute(text("INSERT INTO alembic_version VALUES ('0006')"))
    override_settings(database_url=url)  # type: ignore[operator]
    init_db()
    with engine.connect() as conn:
        assert MigrationContext.configure(conn).get_current_revision() == _head()
        assert compare_metadata(MigrationContext.configure(conn, opts={"include_name": _orm_names}), Base.metadata) == []


def test_init_db_on_an_empty_database_stamps_head(
    blank: tuple[str, Engine], override_settings: object
) -> None:
    url, engine = blank
    override_settings(database_url=url)  # type: ignore[operator]
    init_db()
    init_db()
    with engine.connect() as conn:
        assert MigrationContext.configure(conn).get_current_revision() == _head()
        assert compare_metadata(MigrationContext.configure(conn, opts={"include_name": _orm_names}), Base.metadata) == []


def test_remask_migration_masks_entities_stored_raw_before_the_feed_masked_them(db: Engine) -> None:
    """Rows stored before the feed masked NLU entities with their text: a card typed in groups left four raw
    4-digit values beside the masked text. Re-running 0014 on such rows masks them (and an IBAN in a value), keeps
    the entities of a message where nothing was masked, and touches nothing else."""
    from datetime import UTC, datetime

    from sqlalchemy import select

    from profiles.db import session_scope
    from profiles.models import ConversationEvent, Interaction
    from tests.profiles.conftest import build_customer

    cid = build_customer(balance="10.00").customer_id
    raw = [{"entity": "amount", "start": 8 + 5 * i, "end": 12 + 5 * i, "value": v}
           for i, v in enumerate(("4111", "1111", "1111", "1234"))]
    now = datetime.now(UTC)
    with session_scope() as s:
        s.add_all([
            ConversationEvent(event_key="k-card", sender_id="s1", customer_id=cid, event_type="user", timestamp=now,
                              text="my card •••• 1234", data={"event": "user", "text": "my card •••• 1234",
                                                             "parse_data": {"text": "my card •••• 1234", "entities": raw}}),
            ConversationEvent(event_key="k-plain", sender_id="s1", customer_id=cid, event_type="user", timestamp=now,
                              text="send 20 to savings", data={"event": "user", "text": "send 20 to savings", "parse_data": {
                                  "text": "send 20 to savings", "entities": [{"entity": "amount", "value": "20"},
                                                                             {"entity": "payee", "value": "PT50 0002 0123 1234 5678 9015 4"}]}}),
            Interaction(customer_id=cid, kind="chat_message", channel="rest", direction="inbound", actor="customer",
                        summary="my card •••• 1234", event_key="k-card",
                        details={"intent": "inform", "entities": [{"entity": "amount", "value": "4111"}]}),
        ])
    with db.begin() as conn:
        command.downgrade(_config(conn), "0013_churn_crossing")
        command.upgrade(_config(conn), "head")
    with session_scope() as s:
        card = s.scalar(select(ConversationEvent.data).where(ConversationEvent.event_key == "k-card"))
        plain = s.scalar(select(ConversationEvent.data).where(ConversationEvent.event_key == "k-plain"))
        details = s.scalar(select(Interaction.details).where(Interaction.event_key == "k-card"))
    assert card is not None and plain is not None and details is not None
    assert [e["value"] for e in card["parse_data"]["entities"]] == ["••••"] * 4
    assert [e["start"] for e in card["parse_data"]["entities"]] == [8, 13, 18, 23]  # only the values change
    assert [e["value"] for e in plain["parse_data"]["entities"]] == ["20", "•••• 0154"]
    assert details["entities"] == [{"entity": "amount", "value": "••••"}]
    assert "4111" not in str(card) + str(details)
