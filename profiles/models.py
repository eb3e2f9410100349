"""ORM models of the CRM store (SQLAlchemy 2, typed ``Mapped`` columns).

Money is ``Decimal`` (EUR, 2 places) stored exactly (``Money``: ``NUMERIC(14, 2)`` on PostgreSQL, integer
cents on SQLite); datetimes are stored as UTC and always come back
timezone-aware (``UTCDateTime``). These classes never leave profiles/: services return ``profiles.schemas``.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import ROUND_HALF_UP, Decimal
from typing import Any, ClassVar

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    CheckConstraint,
    Date,
    DateTime,
    Dialect,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    Numeric,
    String,
    Text,
    UniqueConstraint,
    event,
    func,
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
    phone: Mapped[str] = mapped_column(String(20), index=True)  # E.164
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
    # Household: people living with the customer (including them) and dependent children; None = not known.
    household_size: Mapped[int | None] = mapped_column(Integer)
    children: Mapped[int | None] = mapped_column(Integer)
    annual_income: Mapped[Decimal | None] = mapped_column(MONEY)
    # Derived by the feed from where the customer actually talks to us (most used channel, last 90 days).
    preferred_channel: Mapped[str | None] = mapped_column(String(20))
    updated_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # Denormalised from the 'marketing' consent row (kept in step by profiles.consent) for segment queries.
    marketing_consent: Mapped[bool] = mapped_column(Boolean, default=False, index=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    version: Mapped[int] = mapped_column(Integer, nullable=False)
    # IANA zone the customer lives in (zoneinfo): quiet hours are read in it (profiles.push.customer_timezone);
    # None = the bank's zone (settings.push_timezone, Europe/Lisbon by default).
    time_zone: Mapped[str | None] = mapped_column(String(40))

    __mapper_args__ = {"version_id_col": version}  # noqa: RUF012 (SQLAlchemy reads it per class)


# Case-insensitive e-mail search (profiles.search compares lower(email)).
Index("ix_customers_email_lower", func.lower(Customer.email))


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
    created_at: Mapped[datetime] = mapped_column(default=utcnow)  # opened
    closed_at: Mapped[datetime | None]
    matures_on: Mapped[date | None] = mapped_column(Date)  # term deposits: the day it matures (campaign trigger)


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
    # One confirmation the customer saw = one key (actions/transfer.py): the database refuses a second
    # execution of the same confirmation (a replayed "yes"). NULL for transfers made without one.
    idempotency_key: Mapped[str | None] = mapped_column(String(64), unique=True)


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
    created_at: Mapped[datetime] = mapped_column(default=utcnow)  # issued
    closed_at: Mapped[datetime | None]
    expires_on: Mapped[date | None] = mapped_column(Date)  # last day the card is valid (campaign trigger)
    # Credit cards only (NULL on debit cards), EUR: the credit limit, what is owed now, the last statement's
    # balance and minimum payment still due, and that statement's due date (profiles/card_billing.py).
    credit_limit: Mapped[Decimal | None]
    balance: Mapped[Decimal | None]
    statement_balance: Mapped[Decimal | None]
    minimum_due: Mapped[Decimal | None]
    statement_due: Mapped[date | None] = mapped_column(Date)


class CardPayment(Base):
    """A credit-card bill paid from one of the customer's accounts (profiles/card_billing.py)."""

    __tablename__ = "card_payments"
    __table_args__ = (
        CheckConstraint("amount > 0", name="amount_positive"),
        Index("ix_card_payments_customer_created", "customer_id", "created_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id", ondelete="CASCADE"))
    card_id: Mapped[int] = mapped_column(ForeignKey("cards.id", ondelete="CASCADE"))
    from_account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"))
    amount: Mapped[Decimal]
    channel: Mapped[str] = mapped_column(String(30))
    actor: Mapped[str] = mapped_column(String(80))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    # One read-back the customer confirmed = one key: the database refuses a second execution (a replayed "yes").
    idempotency_key: Mapped[str] = mapped_column(String(64), unique=True)


class Loan(Base):
    __tablename__ = "loans"
    __table_args__ = (_one_of("kind", "personal_loan", "mortgage"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id", ondelete="CASCADE"), index=True)
    kind: Mapped[str] = mapped_column(String(20))
    principal: Mapped[Decimal]
    outstanding: Mapped[Decimal]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)  # opened
    closed_at: Mapped[datetime | None]
    next_payment_on: Mapped[date | None] = mapped_column(Date)  # the next instalment's due day (campaign trigger)


class InsurancePolicy(Base):
    __tablename__ = "insurance_policies"
    __table_args__ = (_one_of("kind", "home", "life", "travel", "payment_protection"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id", ondelete="CASCADE"), index=True)
    kind: Mapped[str] = mapped_column(String(20))
    monthly_premium: Mapped[Decimal]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)  # opened
    closed_at: Mapped[datetime | None]


class ContactPoint(Base):
    """A way the customer reaches us or we reach them: email, phone, web chat, Telegram, Messenger ...

    ``address`` is the channel's own id (e-mail address, E.164 number, messenger user id) or None for
    channels without one (web chat, REST); ``message_count``/``last_seen_at`` come from the feed.
    """

    __tablename__ = "contact_points"
    __table_args__ = (UniqueConstraint("customer_id", "channel", "address"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id", ondelete="CASCADE"), index=True)
    channel: Mapped[str] = mapped_column(String(30))
    address: Mapped[str | None] = mapped_column(String(254))
    message_count: Mapped[int] = mapped_column(Integer, default=0)
    first_seen_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_seen_at: Mapped[datetime] = mapped_column(default=utcnow)


class Interaction(Base):
    """One item of a customer's timeline: a chat message, a campaign message, a staff note, an offer answer,
    a life event / product interest / complaint stated in chat.

    kind: chat_message, campaign_message, staff_note, offer, life_event, product_interest, complaint, consent,
    profile_update. direction: inbound (from the customer), outbound (to them) or internal (staff, system).
    ``details`` holds kind-specific JSON (intent, entities, product, outcome ...).
    """

    __tablename__ = "interactions"
    __table_args__ = (
        _one_of("direction", "inbound", "outbound", "internal"),
        Index("ix_interactions_customer_occurred", "customer_id", "occurred_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(30))
    channel: Mapped[str] = mapped_column(String(30))
    direction: Mapped[str] = mapped_column(String(10))
    summary: Mapped[str] = mapped_column(Text)
    sender_id: Mapped[str | None] = mapped_column(String(128))
    actor: Mapped[str] = mapped_column(String(80))
    details: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    # Idempotency key of the source event (the feed may see an event twice); NULL for API-made rows.
    event_key: Mapped[str | None] = mapped_column(String(64), unique=True)
    occurred_at: Mapped[datetime] = mapped_column(default=utcnow)


class ConversationEvent(Base):
    """Transcript store: every Rasa tracker event the event broker delivered, for staff review.

    ``customer_id`` is set once the conversation (``sender_id``) is linked to a verified customer, also for
    the events before verification; ``data`` is the event JSON with credentials (tokens) removed.
    """

    __tablename__ = "conversation_events"
    __table_args__ = (
        Index("ix_conversation_events_sender_ts", "sender_id", "timestamp"),
        # the inbox's search for a common word walks events newest-first (profiles/conversations.py)
        Index("ix_conversation_events_ts_id", "timestamp", "id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    event_key: Mapped[str] = mapped_column(String(64), unique=True)
    sender_id: Mapped[str] = mapped_column(String(128))
    customer_id: Mapped[int | None] = mapped_column(
        ForeignKey("customers.id", ondelete="CASCADE"), index=True
    )
    event_type: Mapped[str] = mapped_column(String(40))
    timestamp: Mapped[datetime] = mapped_column(UTCDateTime())
    channel: Mapped[str | None] = mapped_column(String(30))
    text: Mapped[str | None] = mapped_column(Text)
    intent: Mapped[str | None] = mapped_column(String(80))
    action_name: Mapped[str | None] = mapped_column(String(80))
    data: Mapped[dict[str, Any]] = mapped_column(JSON)


class ConversationLink(Base):
    """Which verified customer a conversation (Rasa ``sender_id``) belongs to."""

    __tablename__ = "conversation_links"

    sender_id: Mapped[str] = mapped_column(String(128), primary_key=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id", ondelete="CASCADE"), index=True)
    channel: Mapped[str] = mapped_column(String(30))
    linked_at: Mapped[datetime] = mapped_column(default=utcnow)


class CustomerScore(Base):
    """The analyses' current results for one customer (one row, rewritten by each batch run).

    Units: ``clv`` EUR (expected margin over the horizon in analytics.clv); probabilities in [0, 1];
    ``recency_days`` days since the last interaction (None = never). ``model_versions`` maps analysis name to
    the model/rule version that produced it. ``previous_churn_probability``: the churn probability the row held
    before the latest batch run, ``batch_run_at`` (None: never scored by a batch run, or no score before it).
    """

    __tablename__ = "customer_scores"

    customer_id: Mapped[int] = mapped_column(
        ForeignKey("customers.id", ondelete="CASCADE"), primary_key=True
    )
    clv: Mapped[float | None] = mapped_column(Float, index=True)
    credit_default_probability: Mapped[float | None] = mapped_column(Float)
    credit_band: Mapped[str | None] = mapped_column(String(10))
    churn_probability: Mapped[float | None] = mapped_column(Float, index=True)
    churn_band: Mapped[str | None] = mapped_column(String(10))
    segment: Mapped[str | None] = mapped_column(String(40), index=True)
    loyalty_score: Mapped[float | None] = mapped_column(Float, index=True)
    loyalty_tier: Mapped[str | None] = mapped_column(String(20))
    product_count: Mapped[int | None] = mapped_column(Integer)
    interactions_90d: Mapped[int | None] = mapped_column(Integer)
    recency_days: Mapped[int | None] = mapped_column(Integer)
    channel_mix: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    model_versions: Mapped[dict[str, Any]] = mapped_column(JSON)
    computed_at: Mapped[datetime] = mapped_column(default=utcnow)
    # the churn probability before the latest batch run (analytics.batch.run) and that run's time: a churn score
    # crossing a threshold is previous < threshold <= churn_probability, the run its occurrence (campaign triggers)
    previous_churn_probability: Mapped[float | None] = mapped_column(Float)
    batch_run_at: Mapped[datetime | None]


class AccessLog(Base):
    """Every staff read of a customer record (who, which record, what, when); kept after an erasure."""

    __tablename__ = "access_log"
    __table_args__ = (Index("ix_access_log_customer_at", "customer_id", "at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    staff: Mapped[str] = mapped_column(String(80))
    role: Mapped[str] = mapped_column(String(20))
    customer_id: Mapped[int | None]  # no foreign key: the record of a read outlives an erased customer
    action: Mapped[str] = mapped_column(String(40))  # read_360, timeline, search, export ...
    detail: Mapped[str | None] = mapped_column(String(200))
    at: Mapped[datetime] = mapped_column(default=utcnow)


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
    status: Mapped[str] = mapped_column(String(20), default="open")  # open | taken | closed
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    # live hand-off (profiles/handoff.py): the staff member who took the conversation, and who handed it back
    taken_by: Mapped[str | None] = mapped_column(String(80))
    taken_at: Mapped[datetime | None]
    closed_by: Mapped[str | None] = mapped_column(String(80))
    closed_at: Mapped[datetime | None]


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


class LinkCode(Base):
    """A one-time code a verified customer gets (e.g. in the logged-in web chat) to link a messenger account.

    Only the SHA-256 of the code is stored; it expires (``expires_at``) and is spent once (``used_at``).
    """

    __tablename__ = "link_codes"

    id: Mapped[int] = mapped_column(primary_key=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id", ondelete="CASCADE"), index=True)
    code_hash: Mapped[str] = mapped_column(String(64), unique=True)
    expires_at: Mapped[datetime]
    used_at: Mapped[datetime | None]
    used_by: Mapped[str | None] = mapped_column(String(160))  # "<channel>:<messenger user id>"
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class MessengerLink(Base):
    """A messenger account (channel + the messenger's user id = Rasa sender_id) linked to a customer."""

    __tablename__ = "messenger_links"
    __table_args__ = (UniqueConstraint("channel", "external_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id", ondelete="CASCADE"), index=True)
    channel: Mapped[str] = mapped_column(String(30))  # telegram, facebook
    external_id: Mapped[str] = mapped_column(String(128))
    linked_at: Mapped[datetime] = mapped_column(default=utcnow)


class PushDelivery(Base):
    """One attempt to push a proactive message (reminder, offer) to one customer, and its outcome.

    status: delivered, no_channel, no_consent, quiet_hours, not_eligible, channel_error, invalid.
    """

    __tablename__ = "push_deliveries"
    __table_args__ = (Index("ix_push_deliveries_campaign", "campaign", "created_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    customer_id: Mapped[int | None] = mapped_column(
        ForeignKey("customers.id", ondelete="CASCADE"), index=True
    )
    campaign: Mapped[str] = mapped_column(String(80))
    channel: Mapped[str | None] = mapped_column(String(30))
    sender_id: Mapped[str | None] = mapped_column(String(128))
    status: Mapped[str] = mapped_column(String(20))
    reason: Mapped[str | None] = mapped_column(String(200))
    actor: Mapped[str] = mapped_column(String(80))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Erasure(Base):
    """That a customer was erased (right to erasure), kept without personal data: the seed never re-imports
    ``source_row`` and conversations the tracker store still holds are retried until erased.

    ``completed_at`` is set once every conversation of ``conversations`` is gone from the tracker store.
    """

    __tablename__ = "erasures"

    id: Mapped[int] = mapped_column(primary_key=True)
    customer_id: Mapped[int] = mapped_column(Integer, index=True)  # no foreign key: the customer is gone
    source_row: Mapped[int | None] = mapped_column(Integer, unique=True)
    actor: Mapped[str] = mapped_column(String(80))
    requested_at: Mapped[datetime] = mapped_column(default=utcnow)
    completed_at: Mapped[datetime | None]


class ErasureConversation(Base):
    """One conversation (Rasa sender_id) of an erased customer, and whether the tracker store copy is gone."""

    __tablename__ = "erasure_conversations"
    __table_args__ = (UniqueConstraint("erasure_id", "sender_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    erasure_id: Mapped[int] = mapped_column(ForeignKey("erasures.id", ondelete="CASCADE"), index=True)
    sender_id: Mapped[str] = mapped_column(String(128))
    erased_at: Mapped[datetime | None]
    last_error: Mapped[str | None] = mapped_column(String(200))


class ConversationReview(Base):
    """Staff review state of one conversation (Rasa ``sender_id``, never shown: staff see its opaque ref).

    ``ref`` is ``profiles.conversations.conversation_ref(sender_id)``, kept so a ref finds its conversation
    without hashing every sender id. A row exists once a conversation was opened or reviewed.
    """

    __tablename__ = "conversation_reviews"

    sender_id: Mapped[str] = mapped_column(String(128), primary_key=True)
    ref: Mapped[str] = mapped_column(String(40), unique=True)
    reviewed: Mapped[bool] = mapped_column(Boolean, default=False, index=True)
    reviewed_by: Mapped[str | None] = mapped_column(String(80))
    reviewed_at: Mapped[datetime | None]
    assignee: Mapped[str | None] = mapped_column(String(80), index=True)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class ConversationTag(Base):
    """One tag on a conversation (free text or one of ``profiles.conversation_review.STANDARD_TAGS``)."""

    __tablename__ = "conversation_tags"
    __table_args__ = (UniqueConstraint("sender_id", "tag"), Index("ix_conversation_tags_tag", "tag"))

    id: Mapped[int] = mapped_column(primary_key=True)
    sender_id: Mapped[str] = mapped_column(String(128))
    tag: Mapped[str] = mapped_column(String(40))
    added_by: Mapped[str] = mapped_column(String(80))
    added_at: Mapped[datetime] = mapped_column(default=utcnow)


class ConversationNote(Base):
    """A staff note on a conversation (internal; masked like the transcript when shown or exported)."""

    __tablename__ = "conversation_notes"
    __table_args__ = (Index("ix_conversation_notes_sender", "sender_id", "created_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    sender_id: Mapped[str] = mapped_column(String(128))
    staff: Mapped[str] = mapped_column(String(80))
    text: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class SavedFilter(Base):
    """A staff member's named inbox filter: ``query`` is the inbox's query string (``channel=rest&fallback=1``)."""

    __tablename__ = "saved_filters"
    __table_args__ = (UniqueConstraint("staff", "name"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    staff: Mapped[str] = mapped_column(String(80), index=True)
    name: Mapped[str] = mapped_column(String(60))
    query: Mapped[str] = mapped_column(String(1000))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class ConversationUnmask(Base):
    """An admin showed one masked value of a transcript in full: who, which event and value, and why."""

    __tablename__ = "conversation_unmasks"

    id: Mapped[int] = mapped_column(primary_key=True)
    sender_id: Mapped[str] = mapped_column(String(128), index=True)
    event_id: Mapped[int] = mapped_column(Integer)  # no foreign key: the record outlives an erased transcript
    item: Mapped[int] = mapped_column(Integer)
    staff: Mapped[str] = mapped_column(String(80))
    reason: Mapped[str] = mapped_column(String(200))
    at: Mapped[datetime] = mapped_column(default=utcnow)


class NluAnnotation(Base):
    """A staff decision about one user message's intent (issue 13 item 4, ``profiles/nlu_annotation.py``).

    ``event_id`` is the ``conversation_events`` row (no foreign key: the export re-checks that it still exists,
    so an erased customer's message never reaches training data). ``text`` is the masked text
    (``profiles.masking.redact_all``) and ``norm_text`` its normalised form, the de-duplication key. ``status``:
    ``flagged`` (a reviewer marked the intent wrong, not decided yet), ``confirmed`` or ``corrected``; ``intent``
    and ``entities`` (``[{"entity", "value"}]``) are the decision.
    """

    __tablename__ = "nlu_annotations"
    __table_args__ = (Index("ix_nlu_annotations_status_norm", "status", "norm_text"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    event_id: Mapped[int] = mapped_column(Integer, unique=True)
    sender_id: Mapped[str] = mapped_column(String(128), index=True)
    text: Mapped[str] = mapped_column(Text)
    norm_text: Mapped[str] = mapped_column(String(500))
    predicted_intent: Mapped[str | None] = mapped_column(String(80))
    confidence: Mapped[float | None] = mapped_column(Float)
    status: Mapped[str] = mapped_column(String(20))
    intent: Mapped[str | None] = mapped_column(String(80))
    entities: Mapped[list[dict[str, str]] | None] = mapped_column(JSON)
    flagged_by: Mapped[str | None] = mapped_column(String(80))
    flagged_at: Mapped[datetime | None]
    decided_by: Mapped[str | None] = mapped_column(String(80))
    decided_at: Mapped[datetime | None]


def _install_search(target: Any, connection: Any, **_: Any) -> None:
    from profiles.conversation_search import install  # noqa: PLC0415 - imports this module

    install(connection)


# Full-text search over message texts (FTS5 on SQLite, a GIN expression index on PostgreSQL): created with the
# table by create_all, and by migration 0007 on an upgraded database.
event.listen(ConversationEvent.__table__, "after_create", _install_search)


# Campaign tables live in their own module; importing it here puts them in Base.metadata (create_all, Alembic).
from profiles.campaigns import models as _campaign_models  # noqa: E402,F401
