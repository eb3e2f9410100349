"""The customer 360: one customer's whole profile in one read, and their interaction timeline.

``get_customer_360`` gathers identity and demographics, location, contact points and channel preference,
consent per purpose and channel, products held (accounts, cards, loans, insurance policies with opened/closed
dates), the latest analysis scores and the most recent interactions, in one read transaction, as frozen
dataclasses. Account and card numbers are masked (``profiles.masking.mask_number``); money is ``Decimal`` EUR;
datetimes are aware UTC. ``version`` is the profile's optimistic-lock version: pass it back to
``profiles.profile_update.update_profile`` to change the profile.

``list_timeline`` pages through the interactions newest first (keyset cursor); ``add_staff_note`` adds an
internal note to the timeline (audited).
"""

from __future__ import annotations

import base64
import binascii
import logging
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any, Final

from sqlalchemy import and_, or_, select
from sqlalchemy.orm import Session

from profiles.audit import record_audit, require_text
from profiles.consent import ConsentView, load_consents
from profiles.conversation_ref import optional_ref
from profiles.customers import ACCOUNT_PRODUCTS, load_customer
from profiles.db import session_scope
from profiles.errors import InvalidInput
from profiles.masking import mask_number, redact
from profiles.models import (
    Account,
    Card,
    ContactPoint,
    Customer,
    CustomerScore,
    InsurancePolicy,
    Interaction,
    Loan,
    utcnow,
)

log = logging.getLogger(__name__)

RECENT_INTERACTIONS: Final = 20
TIMELINE_MAX: Final = 100
NOTE_MAX: Final = 2000
# Interaction kinds (profiles.models.Interaction).
INTERACTION_KINDS: Final = ("chat_message", "campaign_message", "staff_note", "offer", "life_event",
                            "product_interest", "complaint", "consent", "profile_update")


@dataclass(frozen=True, slots=True)
class ContactPointView:
    """A channel the customer uses: ``address`` is the channel's own id (email, E.164 phone, messenger id) or
    None (web chat); ``message_count`` and ``last_seen_at`` come from the conversation feed."""

    channel: str
    address: str | None
    message_count: int
    first_seen_at: datetime
    last_seen_at: datetime


@dataclass(frozen=True, slots=True)
class AccountHolding:
    """An account held: number masked, ``balance`` EUR; ``closed_at`` None while open."""

    id: int
    kind: str  # current | savings | term_deposit
    product: str  # catalogue id (profiles.schemas.PRODUCT_IDS)
    name: str
    masked_number: str
    balance: Decimal
    currency: str
    opened_at: datetime
    closed_at: datetime | None


@dataclass(frozen=True, slots=True)
class CardHolding:
    """A card: number masked; ``status`` active | blocked; issued (``opened_at``) and closed dates."""

    id: int
    kind: str  # debit | credit
    masked_number: str
    status: str
    blocked_at: datetime | None
    opened_at: datetime
    closed_at: datetime | None


@dataclass(frozen=True, slots=True)
class LoanHolding:
    """A loan: ``principal`` and ``outstanding`` in EUR."""

    id: int
    kind: str  # personal_loan | mortgage
    principal: Decimal
    outstanding: Decimal
    opened_at: datetime
    closed_at: datetime | None


@dataclass(frozen=True, slots=True)
class InsuranceHolding:
    """An insurance policy: ``monthly_premium`` in EUR."""

    id: int
    kind: str  # home | life | travel | payment_protection
    monthly_premium: Decimal
    opened_at: datetime
    closed_at: datetime | None


@dataclass(frozen=True, slots=True)
class Products:
    """Everything the customer holds or held (closed products keep their ``closed_at``); ``held`` lists the
    catalogue ids of the products currently open."""

    accounts: tuple[AccountHolding, ...]
    cards: tuple[CardHolding, ...]
    loans: tuple[LoanHolding, ...]
    insurance: tuple[InsuranceHolding, ...]
    held: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class ScoresView:
    """The analyses' latest results (``CustomerScore``, written by the batch scorer).

    Units: ``clv`` EUR; probabilities in [0, 1]; ``recency_days`` days since the last interaction (None =
    never); ``channel_mix`` channel -> share. ``model_versions`` maps analysis name -> model/rule version;
    ``computed_at`` is when the batch wrote them (UTC).
    """

    clv: float | None
    credit_default_probability: float | None
    credit_band: str | None
    churn_probability: float | None
    churn_band: str | None
    segment: str | None
    loyalty_score: float | None
    loyalty_tier: str | None
    product_count: int | None
    interactions_90d: int | None
    recency_days: int | None
    channel_mix: dict[str, Any] | None
    model_versions: dict[str, Any]
    computed_at: datetime


@dataclass(frozen=True, slots=True)
class InteractionView:
    """One timeline item. ``kind`` is one of ``INTERACTION_KINDS``; ``direction`` inbound (from the customer),
    outbound (to them) or internal (staff, system); ``details`` kind-specific JSON."""

    id: int
    kind: str
    channel: str
    direction: str
    summary: str
    actor: str
    conversation: str | None  # the opaque conversation reference (profiles.conversation_ref), never the sender id
    details: dict[str, Any] | None
    occurred_at: datetime


@dataclass(frozen=True, slots=True)
class Customer360:
    """One customer's whole profile (see the module docstring). ``scores`` is None until the batch scored them;
    ``recent_interactions`` are the latest 20, newest first."""

    id: int
    version: int
    # identity
    first_name: str
    last_name: str
    email: str
    phone: str
    # demographics
    age: int
    job: str
    marital: str
    education: str
    household_size: int | None
    children: int | None
    annual_income: Decimal | None  # EUR per year
    credit_default: bool
    # location
    region: str
    address: str
    # channels and consent
    contact_channel: str
    preferred_channel: str | None
    contact_points: tuple[ContactPointView, ...]
    marketing_consent: bool
    consents: tuple[ConsentView, ...]
    products: Products
    scores: ScoresView | None
    recent_interactions: tuple[InteractionView, ...]
    created_at: datetime
    updated_at: datetime | None

    @property
    def full_name(self) -> str:
        return f"{self.first_name} {self.last_name}"


@dataclass(frozen=True, slots=True)
class TimelinePage:
    """A page of interactions, newest first; ``next_cursor`` fetches the next (older) page, None at the end."""

    items: tuple[InteractionView, ...]
    next_cursor: str | None


def interaction_view(row: Interaction) -> InteractionView:
    """The plain view of an interaction row."""
    return InteractionView(id=row.id, kind=row.kind, channel=row.channel, direction=row.direction,
                           summary=row.summary, actor=row.actor, conversation=optional_ref(row.sender_id), details=row.details,
                           occurred_at=row.occurred_at)


def scores_view(row: CustomerScore) -> ScoresView:
    """The plain view of a customer's score row."""
    return ScoresView(
        clv=row.clv, credit_default_probability=row.credit_default_probability, credit_band=row.credit_band,
        churn_probability=row.churn_probability, churn_band=row.churn_band, segment=row.segment,
        loyalty_score=row.loyalty_score, loyalty_tier=row.loyalty_tier, product_count=row.product_count,
        interactions_90d=row.interactions_90d, recency_days=row.recency_days, channel_mix=row.channel_mix,
        model_versions=dict(row.model_versions or {}), computed_at=row.computed_at,
    )


def _products(session: Session, customer_id: int) -> Products:
    accounts = tuple(
        AccountHolding(id=a.id, kind=a.kind, product=ACCOUNT_PRODUCTS[a.kind], name=a.name,
                       masked_number=mask_number(a.number), balance=a.balance, currency=a.currency,
                       opened_at=a.created_at, closed_at=a.closed_at)
        for a in session.scalars(select(Account).where(Account.customer_id == customer_id).order_by(Account.id))
    )
    cards = tuple(
        CardHolding(id=c.id, kind=c.kind, masked_number=mask_number(c.number), status=c.status,
                    blocked_at=c.blocked_at, opened_at=c.created_at, closed_at=c.closed_at)
        for c in session.scalars(select(Card).where(Card.customer_id == customer_id).order_by(Card.id))
    )
    loans = tuple(
        LoanHolding(id=loan.id, kind=loan.kind, principal=loan.principal, outstanding=loan.outstanding,
                    opened_at=loan.created_at, closed_at=loan.closed_at)
        for loan in session.scalars(select(Loan).where(Loan.customer_id == customer_id).order_by(Loan.id))
    )
    insurance = tuple(
        InsuranceHolding(id=p.id, kind=p.kind, monthly_premium=p.monthly_premium, opened_at=p.created_at,
                         closed_at=p.closed_at)
        for p in session.scalars(
            select(InsurancePolicy).where(InsurancePolicy.customer_id == customer_id).order_by(InsurancePolicy.id))
    )
    held = {a.product for a in accounts if a.closed_at is None}
    held |= {"credit_card" for c in cards if c.kind == "credit" and c.closed_at is None}
    held |= {loan.kind for loan in loans if loan.closed_at is None}
    held |= {f"{p.kind}_insurance" for p in insurance if p.closed_at is None}
    return Products(accounts=accounts, cards=cards, loans=loans, insurance=insurance, held=tuple(sorted(held)))


def build_360(session: Session, customer: Customer) -> Customer360:
    """The 360 of an already loaded customer, read in ``session``."""
    cid = customer.id
    points = tuple(
        ContactPointView(channel=p.channel, address=p.address, message_count=p.message_count,
                         first_seen_at=p.first_seen_at, last_seen_at=p.last_seen_at)
        for p in session.scalars(
            select(ContactPoint).where(ContactPoint.customer_id == cid)
            .order_by(ContactPoint.last_seen_at.desc(), ContactPoint.id))
    )
    score = session.get(CustomerScore, cid)
    recent = session.scalars(
        select(Interaction).where(Interaction.customer_id == cid)
        .order_by(Interaction.occurred_at.desc(), Interaction.id.desc()).limit(RECENT_INTERACTIONS)
    )
    return Customer360(
        id=cid, version=customer.version, first_name=customer.first_name, last_name=customer.last_name,
        email=customer.email, phone=customer.phone, age=customer.age, job=customer.job, marital=customer.marital,
        education=customer.education, household_size=customer.household_size, children=customer.children,
        annual_income=customer.annual_income, credit_default=customer.credit_default, region=customer.region,
        address=customer.address, contact_channel=customer.contact_channel,
        preferred_channel=customer.preferred_channel, contact_points=points,
        marketing_consent=customer.marketing_consent, consents=tuple(load_consents(session, cid)),
        products=_products(session, cid), scores=scores_view(score) if score is not None else None,
        recent_interactions=tuple(interaction_view(i) for i in recent), created_at=customer.created_at,
        updated_at=customer.updated_at,
    )


def get_customer_360(customer_id: int) -> Customer360:
    """The customer's 360 (one consistent read).

    Raises:
        NotFound: no such customer.
    """
    with session_scope() as session:
        return build_360(session, load_customer(session, customer_id))


def _encode_cursor(row: Interaction) -> str:
    raw = f"{row.occurred_at.isoformat()}|{row.id}".encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _decode_cursor(cursor: str) -> tuple[datetime, int]:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        stamp, _, ident = raw.partition("|")
        at, ident_value = datetime.fromisoformat(stamp), int(ident)
        if at.tzinfo is None or not 0 < ident_value < 2**31:
            raise ValueError("naive time or id out of range")
        return at, ident_value
    except (ValueError, binascii.Error, UnicodeDecodeError):
        raise InvalidInput("The cursor is not valid: use the next_cursor of a previous page.",
                           field="cursor") from None


def list_timeline(
    customer_id: int, *, kinds: tuple[str, ...] | list[str] | None = None, limit: int = 50,
    cursor: str | None = None,
) -> TimelinePage:
    """The customer's interactions, newest first (by ``occurred_at`` then id), ``limit`` (1..100) per page.

    ``kinds`` keeps only those kinds (each one of ``INTERACTION_KINDS``); ``cursor`` is the ``next_cursor`` of
    the previous page (keyset pagination: stable while new interactions arrive).

    Raises:
        InvalidInput: limit out of range (field ``limit``), unknown kind (``kind``), malformed cursor (``cursor``).
        NotFound: no such customer.
    """
    if not 1 <= limit <= TIMELINE_MAX:
        raise InvalidInput(f"limit must be between 1 and {TIMELINE_MAX}.", field="limit")
    wanted = tuple(dict.fromkeys(kinds or ()))
    unknown = [k for k in wanted if k not in INTERACTION_KINDS]
    if unknown:
        raise InvalidInput(f"Unknown kind {unknown[0]!r}: use one of {', '.join(INTERACTION_KINDS)}.",
                           field="kind")
    after = _decode_cursor(cursor) if cursor else None
    stmt = (select(Interaction).where(Interaction.customer_id == customer_id)
            .order_by(Interaction.occurred_at.desc(), Interaction.id.desc()).limit(limit + 1))
    if wanted:
        stmt = stmt.where(Interaction.kind.in_(wanted))
    if after is not None:
        at, ident = after
        stmt = stmt.where(or_(Interaction.occurred_at < at, and_(Interaction.occurred_at == at,
                                                                 Interaction.id < ident)))
    with session_scope() as session:
        load_customer(session, customer_id)
        rows = list(session.scalars(stmt))
        more = len(rows) > limit
        rows = rows[:limit]
        return TimelinePage(items=tuple(interaction_view(r) for r in rows),
                            next_cursor=_encode_cursor(rows[-1]) if more else None)


def add_staff_note(customer_id: int, text: str, *, staff: str, channel: str = "staff_api") -> InteractionView:
    """Add a staff note to the customer's timeline: ``Interaction(kind="staff_note", direction="internal",
    actor=staff)``, with card/account numbers in the text masked (``redact``), and an audit row, in one
    transaction. ``text`` 1..2000 characters after stripping, printable characters, tabs and line breaks.

    Raises:
        InvalidInput: empty, too long or non-printable text (field ``text``), empty staff/channel.
        NotFound: no such customer.
    """
    if text and any(not (c.isprintable() or c in "\n\t") for c in text.replace("\r\n", "\n")):
        raise InvalidInput("The note can only contain printable characters and line breaks.", field="text")
    note = require_text(redact(text) if text else text, "text", NOTE_MAX)
    staff = require_text(staff, "staff", 80)
    channel = require_text(channel, "channel", 30)
    with session_scope(write=True) as session:
        load_customer(session, customer_id)
        row = Interaction(customer_id=customer_id, kind="staff_note", channel=channel, direction="internal",
                          summary=note, actor=staff, occurred_at=utcnow())
        session.add(row)
        session.flush()
        record_audit(session, customer_id=customer_id, entity="interaction", entity_id=row.id, field="staff_note",
                     old_value=None, new_value=note, channel=channel, actor=f"staff:{staff}")
        log.info("customer %s: staff note %s by %s", customer_id, row.id, staff)
        return interaction_view(row)
