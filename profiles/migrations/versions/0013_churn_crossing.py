"""churn crossing: customer_scores keeps the churn probability before the latest batch scoring run and that run's
time, so an event-triggered campaign can see a churn score crossing a threshold (issue 14)

Revision ID: 0013_churn_crossing
Revises: 0012_nlu_annotation
Create Date: 2026-12-06 04:30:00

"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import profiles.models

# revision identifiers, used by Alembic.
revision: str = '0013_churn_crossing'
down_revision: str | Sequence[str] | None = '0012_nlu_annotation'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Upgrade schema."""
    # plain ALTER TABLE ADD COLUMN on both backends (nullable, no default: no table copy)
    op.add_column('customer_scores', sa.Column('previous_churn_probability', sa.Float(), nullable=True))
    op.add_column('customer_scores', sa.Column('batch_run_at', profiles.models.UTCDateTime(),
                                               nullable=True))


def downgrade() -> None:
    """Downgrade schema."""
    with op.batch_alter_table('customer_scores', schema=None) as batch_op:
        batch_op.drop_column('batch_run_at')
        batch_op.drop_column('previous_churn_probability')
