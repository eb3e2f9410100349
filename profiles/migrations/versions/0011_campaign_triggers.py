"""campaign triggers and customer time zones: the CRM dates event-triggered campaigns read (card expiry, term
deposit maturity, next loan payment) and each customer's time zone for quiet hours (issue 14)

Revision ID: 0011_campaign_triggers
Revises: 0010_card_billing
Create Date: 2026-12-06 01:00:00

"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision: str = '0011_campaign_triggers'
down_revision: str | Sequence[str] | None = '0010_card_billing'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Upgrade schema."""
    # plain ALTER TABLE (SQLite 3.35+ drops a column in place): a batch copy of customers would lose the
    # expression index ix_customers_email_lower (0004)
    op.add_column('customers', sa.Column('time_zone', sa.String(length=40), nullable=True))
    with op.batch_alter_table('cards', schema=None) as batch_op:
        batch_op.add_column(sa.Column('expires_on', sa.Date(), nullable=True))
    with op.batch_alter_table('accounts', schema=None) as batch_op:
        batch_op.add_column(sa.Column('matures_on', sa.Date(), nullable=True))
    with op.batch_alter_table('loans', schema=None) as batch_op:
        batch_op.add_column(sa.Column('next_payment_on', sa.Date(), nullable=True))


def downgrade() -> None:
    """Downgrade schema."""
    with op.batch_alter_table('loans', schema=None) as batch_op:
        batch_op.drop_column('next_payment_on')
    with op.batch_alter_table('accounts', schema=None) as batch_op:
        batch_op.drop_column('matures_on')
    with op.batch_alter_table('cards', schema=None) as batch_op:
        batch_op.drop_column('expires_on')
    op.drop_column('customers', 'time_zone')
