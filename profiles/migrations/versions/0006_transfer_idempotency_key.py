"""transfer idempotency key

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-03 16:50:00.000000

"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision: str = '0006'
down_revision: str | Sequence[str] | None = '0005'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Upgrade schema: transfers.idempotency_key, unique (a confirmation executes at most once)."""
    with op.batch_alter_table('transfers', schema=None) as batch_op:
        batch_op.add_column(sa.Column('idempotency_key', sa.String(length=64), nullable=True))
        batch_op.create_unique_constraint(batch_op.f('uq_transfers_idempotency_key'), ['idempotency_key'])


def downgrade() -> None:
    """Downgrade schema."""
    with op.batch_alter_table('transfers', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('uq_transfers_idempotency_key'), type_='unique')
        batch_op.drop_column('idempotency_key')
