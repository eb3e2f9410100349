"""NLU annotation: staff decisions about user messages' intents, exported into reviewed training data (issue 13
item 4); an index on conversation_events (timestamp, id) for the inbox's newest-first search of common words

Revision ID: 0012_nlu_annotation
Revises: 0011_campaign_triggers
Create Date: 2026-12-06 01:00:00

"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import profiles.models

# revision identifiers, used by Alembic.
revision: str = '0012_nlu_annotation'
down_revision: str | Sequence[str] | None = '0011_campaign_triggers'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Upgrade schema."""
    op.create_table('nlu_annotations',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('event_id', sa.Integer(), nullable=False),
    sa.Column('sender_id', sa.String(length=128), nullable=False),
    sa.Column('text', sa.Text(), nullable=False),
    sa.Column('norm_text', sa.String(length=500), nullable=False),
    sa.Column('predicted_intent', sa.String(length=80), nullable=True),
    sa.Column('confidence', sa.Float(), nullable=True),
    sa.Column('status', sa.String(length=20), nullable=False),
    sa.Column('intent', sa.String(length=80), nullable=True),
    sa.Column('entities', sa.JSON(), nullable=True),
    sa.Column('flagged_by', sa.String(length=80), nullable=True),
    sa.Column('flagged_at', profiles.models.UTCDateTime(), nullable=True),
    sa.Column('decided_by', sa.String(length=80), nullable=True),
    sa.Column('decided_at', profiles.models.UTCDateTime(), nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_nlu_annotations')),
    sa.UniqueConstraint('event_id', name=op.f('uq_nlu_annotations_event_id'))
    )
    with op.batch_alter_table('nlu_annotations', schema=None) as batch_op:
        batch_op.create_index('ix_nlu_annotations_status_norm', ['status', 'norm_text'], unique=False)
        batch_op.create_index(batch_op.f('ix_nlu_annotations_sender_id'), ['sender_id'], unique=False)
    with op.batch_alter_table('conversation_events', schema=None) as batch_op:
        batch_op.create_index('ix_conversation_events_ts_id', ['timestamp', 'id'], unique=False)


def downgrade() -> None:
    """Downgrade schema."""
    with op.batch_alter_table('conversation_events', schema=None) as batch_op:
        batch_op.drop_index('ix_conversation_events_ts_id')
    with op.batch_alter_table('nlu_annotations', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_nlu_annotations_sender_id'))
        batch_op.drop_index('ix_nlu_annotations_status_norm')
    op.drop_table('nlu_annotations')
