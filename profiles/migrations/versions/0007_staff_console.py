"""staff console: conversation reviews, tags, notes, saved filters, unmask records, message full-text search

Revision ID: 0007_staff_console
Revises: 0006
Create Date: 2026-12-03 17:10:00

"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import profiles.models
from profiles import conversation_search

# revision identifiers, used by Alembic.
revision: str = '0007_staff_console'
down_revision: str | Sequence[str] | None = '0006'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Upgrade schema."""
    op.create_table('conversation_reviews',
    sa.Column('sender_id', sa.String(length=128), nullable=False),
    sa.Column('ref', sa.String(length=40), nullable=False),
    sa.Column('reviewed', sa.Boolean(), nullable=False),
    sa.Column('reviewed_by', sa.String(length=80), nullable=True),
    sa.Column('reviewed_at', profiles.models.UTCDateTime(), nullable=True),
    sa.Column('assignee', sa.String(length=80), nullable=True),
    sa.Column('updated_at', profiles.models.UTCDateTime(), nullable=False),
    sa.PrimaryKeyConstraint('sender_id', name=op.f('pk_conversation_reviews')),
    sa.UniqueConstraint('ref', name=op.f('uq_conversation_reviews_ref'))
    )
    with op.batch_alter_table('conversation_reviews', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_conversation_reviews_assignee'), ['assignee'], unique=False)
        batch_op.create_index(batch_op.f('ix_conversation_reviews_reviewed'), ['reviewed'], unique=False)

    op.create_table('conversation_tags',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('sender_id', sa.String(length=128), nullable=False),
    sa.Column('tag', sa.String(length=40), nullable=False),
    sa.Column('added_by', sa.String(length=80), nullable=False),
    sa.Column('added_at', profiles.models.UTCDateTime(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_conversation_tags')),
    sa.UniqueConstraint('sender_id', 'tag', name=op.f('uq_conversation_tags_sender_id'))
    )
    with op.batch_alter_table('conversation_tags', schema=None) as batch_op:
        batch_op.create_index('ix_conversation_tags_tag', ['tag'], unique=False)

    op.create_table('conversation_notes',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('sender_id', sa.String(length=128), nullable=False),
    sa.Column('staff', sa.String(length=80), nullable=False),
    sa.Column('text', sa.Text(), nullable=False),
    sa.Column('created_at', profiles.models.UTCDateTime(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_conversation_notes'))
    )
    with op.batch_alter_table('conversation_notes', schema=None) as batch_op:
        batch_op.create_index('ix_conversation_notes_sender', ['sender_id', 'created_at'], unique=False)

    op.create_table('saved_filters',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('staff', sa.String(length=80), nullable=False),
    sa.Column('name', sa.String(length=60), nullable=False),
    sa.Column('query', sa.String(length=1000), nullable=False),
    sa.Column('created_at', profiles.models.UTCDateTime(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_saved_filters')),
    sa.UniqueConstraint('staff', 'name', name=op.f('uq_saved_filters_staff'))
    )
    with op.batch_alter_table('saved_filters', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_saved_filters_staff'), ['staff'], unique=False)

    op.create_table('conversation_unmasks',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('sender_id', sa.String(length=128), nullable=False),
    sa.Column('event_id', sa.Integer(), nullable=False),
    sa.Column('item', sa.Integer(), nullable=False),
    sa.Column('staff', sa.String(length=80), nullable=False),
    sa.Column('reason', sa.String(length=200), nullable=False),
    sa.Column('at', profiles.models.UTCDateTime(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_conversation_unmasks'))
    )
    with op.batch_alter_table('conversation_unmasks', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_conversation_unmasks_sender_id'), ['sender_id'], unique=False)

    conversation_search.install(op.get_bind(), rebuild=True)


def downgrade() -> None:
    """Downgrade schema."""
    conversation_search.uninstall(op.get_bind())
    for table in ('conversation_unmasks', 'saved_filters', 'conversation_notes', 'conversation_tags',
                  'conversation_reviews'):
        op.drop_table(table)
