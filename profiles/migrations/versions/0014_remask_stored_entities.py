"""remask stored entities: before the feed masked NLU entities with their text (a card typed in groups, "4111 1111
1111 1111", was four amount entities), their values were stored raw in conversation_events.data and in the chat
message interactions' details; mask them in the rows already stored (profiles.masking.remask_stored_entities).
Data only, no schema change; the downgrade leaves the masked values (the raw ones are not kept anywhere).

Revision ID: 0014_remask_stored_entities
Revises: 0013_churn_crossing
Create Date: 2026-12-06 05:00:00

"""
from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op

from profiles.masking import remask_stored_entities

# revision identifiers, used by Alembic.
revision: str = '0014_remask_stored_entities'
down_revision: str | Sequence[str] | None = '0013_churn_crossing'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BATCH = 2_000  # rows read per query: memory stays bounded on a large transcript store


def _rewrite(table: str, json_column: str, text_of: Any, entities_of: Any, where: Any) -> None:
    """Walk ``table`` by id in batches; re-mask the entities of each row's JSON and write back changed rows."""
    bind = op.get_bind()
    rows = sa.table(table, sa.column('id', sa.Integer), sa.column(json_column, sa.JSON), *where[0])
    last = 0
    while True:
        batch = bind.execute(
            sa.select(rows.c.id, rows.c[json_column], *[rows.c[c.name] for c in where[0]])
            .where(rows.c.id > last, where[1](rows)).order_by(rows.c.id).limit(BATCH)
        ).all()
        if not batch:
            return
        for row in batch:
            data = row[1]
            entities = entities_of(data)
            if isinstance(entities, list) and remask_stored_entities(text_of(row, data), entities):
                bind.execute(sa.update(rows).where(rows.c.id == row.id).values({json_column: data}))
        last = batch[-1].id


def _event_entities(data: Any) -> Any:
    parse = data.get('parse_data') if isinstance(data, dict) else None
    return parse.get('entities') if isinstance(parse, dict) else None


def _event_text(row: Any, data: Any) -> Any:
    parse = data.get('parse_data') if isinstance(data, dict) else None
    return parse.get('text') if isinstance(parse, dict) and isinstance(parse.get('text'), str) else data.get('text')


def upgrade() -> None:
    """Upgrade data."""
    _rewrite('conversation_events', 'data', _event_text, _event_entities,
             ([sa.column('event_type', sa.String)], lambda t: t.c.event_type == 'user'))
    _rewrite('interactions', 'details', lambda row, data: row.summary,
             lambda data: data.get('entities') if isinstance(data, dict) else None,
             ([sa.column('kind', sa.String), sa.column('summary', sa.Text)], lambda t: t.c.kind == 'chat_message'))


def downgrade() -> None:
    """Nothing to undo: the raw values are not kept."""
