"""live hand-off: who took a hand-off request and who handed the conversation back (issue 13 item 5)

Revision ID: 0009_live_handoff
Revises: 0008_campaigns
Create Date: 2026-12-05 10:00:00

"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import profiles.models

# revision identifiers, used by Alembic.
revision: str = '0009_live_handoff'
down_revision: str | Sequence[str] | None = '0008_campaigns'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Upgrade schema."""
    with op.batch_alter_table('handoff_requests', schema=None) as batch_op:
        batch_op.add_column(sa.Column('taken_by', sa.String(length=80), nullable=True))
        batch_op.add_column(sa.Column('taken_at', profiles.models.UTCDateTime(), nullable=True))
        batch_op.add_column(sa.Column('closed_by', sa.String(length=80), nullable=True))
        batch_op.add_column(sa.Column('closed_at', profiles.models.UTCDateTime(), nullable=True))


def downgrade() -> None:
    """Downgrade schema."""
    with op.batch_alter_table('handoff_requests', schema=None) as batch_op:
        batch_op.drop_column('closed_at')
        batch_op.drop_column('closed_by')
        batch_op.drop_column('taken_at')
        batch_op.drop_column('taken_by')
