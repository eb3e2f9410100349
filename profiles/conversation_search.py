"""Full-text search over the transcript store's message texts (``conversation_events.text``).

- PostgreSQL: a GIN index on ``to_tsvector('english', coalesce(text, ''))``; a query is parsed with
  ``websearch_to_tsquery`` (quotes, ``or``, ``-word`` work; any input is valid).
- SQLite: an FTS5 table ``conversation_fts`` (external content = ``conversation_events``, Porter stemmer) kept
  in step by triggers; the query's words are quoted, so FTS5 syntax typed by staff is searched as words.

Both stem English words ("transfers" finds "transfer"). Neither is an ORM table: Alembic's autogenerate skips
the expression index and ``is_search_object`` tells migrations' comparisons to skip the FTS5 tables.
"""

from __future__ import annotations

import re
from typing import Any

from sqlalchemy import ColumnElement, Connection, Integer, column, func, literal_column, select, text

FTS_TABLE = "conversation_fts"
PG_INDEX = "ix_conversation_events_text_fts"
QUERY_MAX = 200
_WORD = re.compile(r"\w+", re.UNICODE)

_SQLITE_DDL = (
    f"CREATE VIRTUAL TABLE IF NOT EXISTS {FTS_TABLE} USING fts5(text, content='conversation_events', "
    "content_rowid='id', tokenize='porter unicode61')",
    f"CREATE TRIGGER IF NOT EXISTS {FTS_TABLE}_ai AFTER INSERT ON conversation_events WHEN new.text IS NOT NULL "
    f"BEGIN INSERT INTO {FTS_TABLE}(rowid, text) VALUES (new.id, new.text); END",
    f"CREATE TRIGGER IF NOT EXISTS {FTS_TABLE}_ad AFTER DELETE ON conversation_events WHEN old.text IS NOT NULL "
    f"BEGIN INSERT INTO {FTS_TABLE}({FTS_TABLE}, rowid, text) VALUES ('delete', old.id, old.text); END",
    f"CREATE TRIGGER IF NOT EXISTS {FTS_TABLE}_au AFTER UPDATE OF text ON conversation_events BEGIN "
    f"INSERT INTO {FTS_TABLE}({FTS_TABLE}, rowid, text) SELECT 'delete', old.id, old.text WHERE old.text IS NOT NULL; "
    f"INSERT INTO {FTS_TABLE}(rowid, text) SELECT new.id, new.text WHERE new.text IS NOT NULL; END",
)
_PG_DDL = (
    f"CREATE INDEX IF NOT EXISTS {PG_INDEX} ON conversation_events "
    "USING gin (to_tsvector('english'::regconfig, coalesce(text, '')))",
)


def install(connection: Connection, *, rebuild: bool = False) -> None:
    """Create the search structures on ``connection``'s database (idempotent); ``rebuild`` indexes rows that
    existed before (SQLite; PostgreSQL's CREATE INDEX always does)."""
    if connection.dialect.name == "sqlite":
        for ddl in _SQLITE_DDL:
            connection.exec_driver_sql(ddl)
        if rebuild:
            connection.exec_driver_sql(f"INSERT INTO {FTS_TABLE}({FTS_TABLE}) VALUES ('rebuild')")
    elif connection.dialect.name == "postgresql":
        for ddl in _PG_DDL:
            connection.exec_driver_sql(ddl)


def uninstall(connection: Connection) -> None:
    """Drop what :func:`install` made."""
    if connection.dialect.name == "sqlite":
        for suffix in ("ai", "ad", "au"):
            connection.exec_driver_sql(f"DROP TRIGGER IF EXISTS {FTS_TABLE}_{suffix}")
        connection.exec_driver_sql(f"DROP TABLE IF EXISTS {FTS_TABLE}")
    elif connection.dialect.name == "postgresql":
        connection.exec_driver_sql(f"DROP INDEX IF EXISTS {PG_INDEX}")


def is_search_object(name: str | None, type_: str) -> bool:
    """Whether ``name`` (of Alembic object type ``type_``) is the FTS5 table, one of its shadow tables or the
    PostgreSQL search index: made by :func:`install`, not from the models, so never compared with them."""
    if type_ == "index":
        return name == PG_INDEX
    return type_ == "table" and bool(name) and (name == FTS_TABLE or str(name).startswith(f"{FTS_TABLE}_"))


def words(query: str) -> list[str]:
    """The words of a staff member's search (letters/digits runs), at most ``QUERY_MAX`` characters read."""
    return _WORD.findall(query[:QUERY_MAX])


def matching_condition(dialect: str, query: str) -> ColumnElement[bool] | None:
    """PostgreSQL: the condition "this event's text matches all words of ``query``" (the GIN index's
    expression, so the planner can use it); None when the query has no words or on another database."""
    from profiles.models import ConversationEvent  # noqa: PLC0415 - profiles.models imports this module

    terms = words(query)
    if not terms or dialect != "postgresql":
        return None
    vector = func.to_tsvector(literal_column("'english'::regconfig"), func.coalesce(ConversationEvent.text, ""))
    tsquery = func.websearch_to_tsquery(literal_column("'english'::regconfig"), " ".join(terms))
    return vector.bool_op("@@")(tsquery)


def matching_senders(dialect: str, query: str) -> Any:
    """A SELECT of the ``sender_id`` of every event whose text matches all words of ``query``; None when the
    query has no words (then there is nothing to filter on)."""
    from profiles.models import ConversationEvent  # noqa: PLC0415 - profiles.models imports this module

    terms = words(query)
    if not terms:
        return None
    if dialect == "postgresql":
        condition = matching_condition(dialect, query)
        assert condition is not None
        return select(ConversationEvent.sender_id).where(condition)
    match = " ".join('"' + t.replace('"', "") + '"' for t in terms)
    ids = text(f"SELECT rowid FROM {FTS_TABLE} WHERE {FTS_TABLE} MATCH :fts_query").bindparams(fts_query=match)
    return select(ConversationEvent.sender_id).where(ConversationEvent.id.in_(ids.columns(column("rowid", Integer))))
