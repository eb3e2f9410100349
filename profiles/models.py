"""ORM models of the CRM store (SQLAlchemy 2, typed ``Mapped`` columns).

Money is ``Decimal`` (EUR, 2 places) stored exactly (``Money``: ``NUMERIC(14, 2)`` on PostgreSQL, integer
cents on SQLite); datetimes are stored as UTC and always come back
timezone-aware (``UTCDateTime``). These classes never leave profiles/: services return ``profiles.schemas``.
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import ROUND_HALF_UP, Decimal
from typing import Any, ClassVar

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    DateTime,
    Dialect,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    Numeric,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.types import TypeDecorator, TypeEngine

CENT = Decimal("0.01")
# SQLite schema version (PRAGMA user_version) of a file written by this code; profiles.db.init_db upgrades older
# files. 1: money columns hold integer cents.
SQLITE_SCHEMA_VERSION = 1


class Money(TypeDecorator[Decimal]):
    """An EUR amount, exact on both backends: ``Decimal`` in, ``Decimal`` with 2 places out.

    PostgreSQL keeps ``NUMERIC(14, 2)``. SQLite has no decimal type (a NUMERIC column stores a binary REAL, so
    0.10 + 0.20 is not 0.30 on disk nor in ``SUM``): there the value is stored as integer cents, so sums and
    comparisons in SQL stay exact. Values are rounded half away from zero to the cent, as NUMERIC(14, 2) does.
    SQL arithmetic with plain numbers other than + and - (``amount * 2``) would be wrong on SQLite: do it in
    Python.
    """

    impl = Numeric(14, 2)
    cache_ok = True

    def load_dialect_impl(self, dialect: Dialect) -> TypeEngine[Any]:
        if dialect.name == "sqlite":
            return dialect.type_descriptor(BigInteger())
        return dialect.type_descriptor(Numeric(14, 2))

    def process_bind_param(self, value: Any, dialect: Dialect) -> Any:
        if value is None:
            return None
        amount = value if isinstance(value, Decimal) else Decimal(str(value))
        amount = amount.quantize(CENT, rounding=ROUND_HALF_UP)
        return int(amount.scaleb(2)) if dialect.name == "sqlite" else amount

    def process_result_value(self, value: Any, dialect: Dialect) -> Decimal | None:
        if value is None:
            return None
        if dialect.name == "sqlite":
            return Decimal(int(value)).scaleb(-2).quantize(CENT)
        return Decimal(value).quantize(CENT)


MONEY = Money()


def utcnow() -> datetime:
    """Current time, timezone-aware UTC."""
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator[datetime]):
    """A datetime stored in UTC; naive input is taken as UTC, output is always aware UTC.

    PostgreSQL keeps ``timestamptz``; SQLite (no time zones) keeps the naive UTC value, so text order is
    time order there too.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        value = value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        assert isinstance(value, datetime)
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map: ClassVar[dict[Any, Any]] = {Decimal: MONEY, datetime: UTCDateTime()}


def _one_of(column: str, *values: str) -> CheckConstraint:
    allowed = ", ".join(f"'{v}'" for v in values)
    return CheckConstraint(f"{column} IN ({allowed})", name=f"{column}_allowed")


class Customer(Base):
    __tablename__ = "customers"

    id: Mapped[int] = mapped_column(primary_key=True)
    # Row number in the bank-marketing file this customer was imported from (the seed's idempotency key).
    source_row: Mapped[int | None] = mapped_column(unique=True)
    first_name: Mapped[str] = mapped_column(String(60))
    last_name: Mapped[str] = mapped_column(String(60))
    email: Mapped[str] = mapped_column(String(254))
    phone: Mapped[str] = mapped_column(String(20))  # E.164
    address: Mapped[str] = mapped_column(String(200))
    region: Mapped[str] = mapped_column(String(60))
    age: Mapped[int] = mapped_column(Integer)
    job: Mapped[str] = mapped_column(String(30))
    marital: Mapped[str] = mapped_column(String(20))
    education: Mapped[str] = mapped_column(String(20))
    credit_default: Mapped[bool] = mapped_column(Boolean, default=False)
    housing_loan: Mapped[bool] = mapped_column(Boolean, default=False)
    personal_loan: Mapped[bool] = mapped_column(Boolean, default=False)
    contact_channel: Mapped[str] = mapped_column(String(20), default="unknown")
    # Denormalised from the 'marketing' consent row (kept in step by profiles.consent) for segment queries.
    marketing_consent: Mapped[bool] = mapped_column(Boolean, default=False, index=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    version: Mapped[int] = mapped_column(Integer, nullable=False)

    __mapper_args__ = {"version_id_col": version}  # noqa: RUF012 (SQLAlchemy reads it per class)


class Consent(Base):
    __tablename__ = "consents"
    __table_args__ = (UniqueConstraint("customer_id", "purpose", "channel"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id", ondelete="CASCADE"))
    purpose: Mapped[str] = mapped_column(String(30))  # e.g. 'marketing'
    channel: Mapped[str] = mapped_column(String(20), default="all")  # channel the consent covers
    granted: Mapped[bool] = mapped_column(Boolean)
    source: Mapped[str] = mapped_column(String(40))  # where it was recorded: seed, web, telegram, staff ...
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class Account(Base):
    __tablename__ = "accounts"
    __table_args__ = (_one_of("kind", "current", "savings", "term_deposit"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id", ondelete="CASCADE"), index=True)
    kind: Mapped[str] = mapped_column(String(20))
    name: Mapped[str] = mapped_column(String(60))
    number: Mapped[str] = mapped_column(String(34), unique=True)  # IBAN
    balance: Mapped[Decimal] = mapped_column(default=Decimal("0.00"))
    currency: Mapped[str] = mapped_column(String(3), default="EUR")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Transfer(Base):
    __tablename__ = "transfers"
    __table_args__ = (
        CheckConstraint("amount > 0", name="amount_positive"),
        CheckConstraint(
            "(to_account_id IS NULL) <> (to_payee_id IS NULL)", name="one_destination"
        ),
        Index("ix_transfers_customer_created", "customer_id", "created_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id", ondelete="CASCADE"))
    from_account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"))
    to_account_id: Mapped[int | None] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"))
    to_payee_id: Mapped[int | None] = mapped_column(ForeignKey("payees.id", ondelete="SET NULL"))
    amount: Mapped[Decimal]
    currency: Mapped[str] = mapped_column(String(3), default="EUR")
    status: Mapped[str] = mapped_column(String(20), default="completed")
    channel: Mapped[str] = mapped_column(String(30))
    actor: Mapped[str] = mapped_column(String(80))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Transaction(Base):
    __tablename__ = "transactions"
    __table_args__ = (Index("ix_transactions_account_booked", "account_id", "booked_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"))
    booked_at: Mapped[datetime]
    amount: Mapped[Decimal]  # EUR, negative = money out
    merchant: Mapped[str | None] = mapped_column(String(60))
    description: Mapped[str] = mapped_column(String(140))
    transfer_id: Mapped[int | None] = mapped_column(
        ForeignKey("transfers.id", ondelete="SET NULL"), index=True
    )


class Payee(Base):
    __tablename__ = "payees"
    __table_args__ = (UniqueConstraint("customer_id", "iban"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(80))
    iban: Mapped[str] = mapped_column(String(34))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Card(Base):
    __tablename__ = "cards"
    __table_args__ = (
        _one_of("kind", "debit", "credit"),
        _one_of("status", "active", "blocked"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id", ondelete="CASCADE"), index=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"), index=True)
    kind: Mapped[str] = mapped_column(String(10))
    number: Mapped[str] = mapped_column(String(19), unique=True)
    status: Mapped[str] = mapped_column(String(10), default="active")
    blocked_reason: Mapped[str | None] = mapped_column(String(20))
    blocked_at: Mapped[datetime | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Loan(Base):
    __tablename__ = "loans"
    __table_args__ = (_one_of("kind", "personal_loan", "mortgage"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id", ondelete="CASCADE"), index=True)
    kind: Mapped[str] = mapped_column(String(20))
    principal: Mapped[Decimal]
    outstanding: Mapped[Decimal]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class AuditLog(Base):
    """One row per write to a profile: who (actor) changed what, through which channel, and when."""

    __tablename__ = "audit_log"
    __table_args__ = (Index("ix_audit_customer_created", "customer_id", "created_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    customer_id: Mapped[int | None] = mapped_column(
        ForeignKey("customers.id", ondelete="SET NULL")
    )
    entity: Mapped[str] = mapped_column(String(40))  # customer, card, consent, transfer ...
    entity_id: Mapped[int | None]
    field: Mapped[str] = mapped_column(String(40))
    old_value: Mapped[str | None] = mapped_column(Text)
    new_value: Mapped[str | None] = mapped_column(Text)
    channel: Mapped[str] = mapped_column(String(30))
    actor: Mapped[str] = mapped_column(String(80))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class HandoffRequest(Base):
    __tablename__ = "handoff_requests"
    __table_args__ = (Index("ix_handoff_status_created", "status", "created_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    customer_id: Mapped[int | None] = mapped_column(
        ForeignKey("customers.id", ondelete="SET NULL"), index=True
    )
    sender_id: Mapped[str] = mapped_column(String(128))
    channel: Mapped[str] = mapped_column(String(30))
    reason: Mapped[str] = mapped_column(String(200))
    status: Mapped[str] = mapped_column(String(20), default="open")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class OfferEvent(Base):
    __tablename__ = "offer_events"
    __table_args__ = (
        _one_of("outcome", "shown", "accepted", "declined"),
        Index("ix_offer_events_customer_product_created", "customer_id", "product", "created_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id", ondelete="CASCADE"))
    product: Mapped[str] = mapped_column(String(30))
    outcome: Mapped[str] = mapped_column(String(10))
    channel: Mapped[str] = mapped_column(String(30))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
