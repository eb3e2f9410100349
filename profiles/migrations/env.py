"""Alembic environment for the CRM store (profiles.models.Base).

Run through ``profiles.db.init_db()`` (which passes its own connection in ``config.attributes["connection"]``)
or from the command line: ``.venv/bin/alembic -c profiles/alembic.ini upgrade head`` (URL from settings).
SQLite needs batch mode (``render_as_batch``) because it cannot ALTER most column properties in place.
"""

from __future__ import annotations

from alembic import context
from sqlalchemy import Connection

from profiles.conversation_search import is_search_object
from profiles.models import Base

config = context.config
target_metadata = Base.metadata


def _run(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
        # the full-text search table/index is made by hand, not from the models
        include_name=lambda name, type_, _parents: not is_search_object(name, type_),
    )
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        _run(connection)
        return
    from profiles.db import get_engine  # noqa: PLC0415 - only when run from the alembic CLI

    with get_engine().connect() as conn:
        _run(conn)
        conn.commit()


if context.is_offline_mode():
    raise SystemExit("offline (--sql) migrations are not supported; run against a database")
run_migrations_online()
