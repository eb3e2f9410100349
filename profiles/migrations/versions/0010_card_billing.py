"""card billing: credit-card limit, balance and statement on cards; card_payments (issue 11 item 9)

Revision ID: 0010_card_billing
Revises: 0009_live_handoff
Create Date: 2026-12-06 01:00:00

Credit cards already in the database get a limit of 2,000 EUR and nothing owed (the seed gives new ones a
statement); debit cards keep NULL in the new columns.
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import profiles.models

# revision identifiers, used by Alembic.
revision: str = '0010_card_billing'
down_revision: str | Sequence[str] | None = '0009_live_handoff'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Upgrade schema."""
    with op.batch_alter_table('cards', schema=None) as batch_op:
        batch_op.add_column(sa.Column('credit_limit', profiles.models.Money(), nullable=True))
        batch_op.add_column(sa.Column('balance', profiles.models.Money(), nullable=True))
        batch_op.add_column(sa.Column('statement_balance', profiles.models.Money(), nullable=True))
        batch_op.add_column(sa.Column('minimum_due', profiles.models.Money(), nullable=True))
        batch_op.add_column(sa.Column('statement_due', sa.Date(), nullable=True))
    cards = sa.table('cards', sa.column('kind', sa.String()), sa.column('credit_limit', profiles.models.Money()),
                     sa.column('balance', profiles.models.Money()),
                     sa.column('statement_balance', profiles.models.Money()),
                     sa.column('minimum_due', profiles.models.Money()))
    from decimal import Decimal
    zero = Decimal("0.00")
    op.execute(cards.update().where(cards.c.kind == 'credit').values(
        credit_limit=Decimal("2000.00"), balance=zero, statement_balance=zero, minimum_due=zero))
    op.create_table(
        'card_payments',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('customer_id', sa.Integer(), nullable=False),
        sa.Column('card_id', sa.Integer(), nullable=False),
        sa.Column('from_account_id', sa.Integer(), nullable=False),
        sa.Column('amount', profiles.models.Money(), nullable=False),
        sa.Column('channel', sa.String(length=30), nullable=False),
        sa.Column('actor', sa.String(length=80), nullable=False),
        sa.Column('created_at', profiles.models.UTCDateTime(), nullable=False),
        sa.Column('idempotency_key', sa.String(length=64), nullable=False),
        sa.CheckConstraint('amount > 0', name=op.f('ck_card_payments_amount_positive')),
        sa.ForeignKeyConstraint(['card_id'], ['cards.id'], name=op.f('fk_card_payments_card_id_cards'),
                                ondelete='CASCADE'),
        sa.ForeignKeyConstraint(['customer_id'], ['customers.id'],
                                name=op.f('fk_card_payments_customer_id_customers'), ondelete='CASCADE'),
        sa.ForeignKeyConstraint(['from_account_id'], ['accounts.id'],
                                name=op.f('fk_card_payments_from_account_id_accounts'), ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_card_payments')),
        sa.UniqueConstraint('idempotency_key', name=op.f('uq_card_payments_idempotency_key')),
    )
    op.create_index('ix_card_payments_customer_created', 'card_payments', ['customer_id', 'created_at'],
                    unique=False)


def downgrade() -> None:
    """Downgrade schema."""
    op.drop_index('ix_card_payments_customer_created', table_name='card_payments')
    op.drop_table('card_payments')
    with op.batch_alter_table('cards', schema=None) as batch_op:
        batch_op.drop_column('statement_due')
        batch_op.drop_column('minimum_due')
        batch_op.drop_column('statement_balance')
        batch_op.drop_column('balance')
        batch_op.drop_column('credit_limit')
