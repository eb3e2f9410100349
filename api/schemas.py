"""Request and response models of the staff API (pydantic 2): what the OpenAPI docs show.

Money is a decimal string in EUR (``"1234.50"``); datetimes are ISO 8601 UTC; account and card numbers only
ever appear masked (``•••• 1234``). Each ``*Out`` model has ``from_view`` building it from the frozen dataclass
the profiles/ service returned.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from profiles.access import AccessRecord
from profiles.consent import CONSENT_CHANNELS, CONSENT_PURPOSES, ConsentView
from profiles.conversation_ref import conversation_ref
from profiles.customer360 import (
    AccountHolding,
    CardHolding,
    ContactPointView,
    Customer360,
    InsuranceHolding,
    InteractionView,
    LoanHolding,
    ScoresView,
)
from profiles.privacy import ErasureView
from profiles.search import SearchHit


class ErrorOut(BaseModel):
    """A refused request: ``detail`` says why (safe to show)."""

    detail: str = Field(examples=["No customer with id 5."])


class FieldErrorOut(BaseModel):
    loc: list[str | int] = Field(examples=[["body", "email"]])
    msg: str
    type: str


class ValidationErrorOut(BaseModel):
    """422: ``detail[i].loc`` names each refused field (``["body", "email"]``, ``["query", "limit"]``)."""

    detail: list[FieldErrorOut]


def _fields(view: Any, model: type[BaseModel]) -> dict[str, Any]:
    return {name: getattr(view, name) for name in model.model_fields}


class ContactPointOut(BaseModel):
    channel: str
    address: str | None
    message_count: int
    first_seen_at: datetime
    last_seen_at: datetime

    @classmethod
    def from_view(cls, v: ContactPointView) -> ContactPointOut:
        return cls(**_fields(v, cls))


class ConsentOut(BaseModel):
    purpose: str = Field(examples=["marketing"])
    channel: str = Field(examples=["all"])
    granted: bool
    source: str = Field(description="where it was recorded: seed, web, telegram, staff_api ...")
    updated_at: datetime

    @classmethod
    def from_view(cls, v: ConsentView) -> ConsentOut:
        return cls(**_fields(v, cls))


class ConsentIn(BaseModel):
    """Record one consent choice (``granted``) for ``purpose`` on ``channel`` (``all`` = every channel)."""

    model_config = ConfigDict(extra="forbid")

    purpose: Literal[CONSENT_PURPOSES]  # type: ignore[valid-type]
    channel: Literal[CONSENT_CHANNELS] = "all"  # type: ignore[valid-type]
    granted: bool
    source: str = Field("staff_api", min_length=1, max_length=30,
                        description="where the customer gave it: staff_api (default), branch, phone_call ...")


class AccountOut(BaseModel):
    id: int
    kind: str
    product: str
    name: str
    masked_number: str
    balance: Decimal = Field(description="EUR")
    currency: str
    opened_at: datetime
    closed_at: datetime | None

    @classmethod
    def from_view(cls, v: AccountHolding) -> AccountOut:
        return cls(**_fields(v, cls))


class CardOut(BaseModel):
    id: int
    kind: str
    masked_number: str
    status: str
    blocked_at: datetime | None
    opened_at: datetime
    closed_at: datetime | None

    @classmethod
    def from_view(cls, v: CardHolding) -> CardOut:
        return cls(**_fields(v, cls))


class LoanOut(BaseModel):
    id: int
    kind: str
    principal: Decimal = Field(description="EUR")
    outstanding: Decimal = Field(description="EUR")
    opened_at: datetime
    closed_at: datetime | None

    @classmethod
    def from_view(cls, v: LoanHolding) -> LoanOut:
        return cls(**_fields(v, cls))


class InsuranceOut(BaseModel):
    id: int
    kind: str
    monthly_premium: Decimal = Field(description="EUR per month")
    opened_at: datetime
    closed_at: datetime | None

    @classmethod
    def from_view(cls, v: InsuranceHolding) -> InsuranceOut:
        return cls(**_fields(v, cls))


class ProductsOut(BaseModel):
    accounts: list[AccountOut]
    cards: list[CardOut]
    loans: list[LoanOut]
    insurance: list[InsuranceOut]
    held: list[str] = Field(description="catalogue ids of the products currently open")


class ScoresOut(BaseModel):
    """Latest analysis results; ``model_versions`` names the model/rule version of each analysis."""

    clv: float | None = Field(description="customer lifetime value, EUR")
    credit_default_probability: float | None
    credit_band: str | None
    churn_probability: float | None = Field(description="0..1")
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

    @classmethod
    def from_view(cls, v: ScoresView) -> ScoresOut:
        return cls(**_fields(v, cls))


class InteractionOut(BaseModel):
    id: int
    kind: str = Field(examples=["chat_message"])
    channel: str
    direction: Literal["inbound", "outbound", "internal"]
    summary: str
    actor: str
    conversation: str | None = Field(description="opaque conversation id (c-...), the same in hand-offs; never "
                                                  "Rasa's sender id", examples=["c-3f9a0c1b2d4e5f607182"])
    details: dict[str, Any] | None
    occurred_at: datetime

    @classmethod
    def from_view(cls, v: InteractionView) -> InteractionOut:
        return cls(**_fields(v, cls))


class Customer360Out(BaseModel):
    """The customer 360. ``version`` is the optimistic-lock version (also the ``ETag`` header): send it back
    in ``If-Match`` (or the body's ``version``) to PATCH the profile."""

    id: int
    version: int
    first_name: str
    last_name: str
    email: str
    phone: str
    age: int
    job: str
    marital: str
    education: str
    household_size: int | None
    children: int | None
    annual_income: Decimal | None = Field(description="EUR per year")
    credit_default: bool
    region: str
    address: str
    contact_channel: str
    preferred_channel: str | None
    contact_points: list[ContactPointOut]
    marketing_consent: bool
    consents: list[ConsentOut]
    products: ProductsOut
    scores: ScoresOut | None = Field(description="null until the batch scorer has scored the customer")
    recent_interactions: list[InteractionOut]
    created_at: datetime
    updated_at: datetime | None

    @classmethod
    def from_view(cls, v: Customer360) -> Customer360Out:
        plain = {n: getattr(v, n) for n in cls.model_fields
                 if n not in ("contact_points", "consents", "products", "scores", "recent_interactions")}
        p = v.products
        return cls(
            **plain,
            contact_points=[ContactPointOut.from_view(c) for c in v.contact_points],
            consents=[ConsentOut.from_view(c) for c in v.consents],
            products=ProductsOut(accounts=[AccountOut.from_view(a) for a in p.accounts],
                                 cards=[CardOut.from_view(c) for c in p.cards],
                                 loans=[LoanOut.from_view(x) for x in p.loans],
                                 insurance=[InsuranceOut.from_view(i) for i in p.insurance], held=list(p.held)),
            scores=ScoresOut.from_view(v.scores) if v.scores else None,
            recent_interactions=[InteractionOut.from_view(i) for i in v.recent_interactions],
        )


class CustomerHitOut(BaseModel):
    """A search hit (staff and admin; the marketing role gets ``SegmentHitOut``)."""

    id: int
    first_name: str
    last_name: str
    email: str | None
    phone: str | None
    region: str | None
    segment: str | None
    churn_probability: float | None
    churn_band: str | None
    clv: float | None = Field(description="EUR")
    loyalty_score: float | None
    credit_band: str | None

    @classmethod
    def from_view(cls, v: SearchHit) -> CustomerHitOut:
        return cls(**_fields(v, cls))


class SegmentHitOut(BaseModel):
    """A search hit for the marketing role: the customer id, segment and scores only (no name, no contact
    details, no credit band: credit data is not for marketing)."""

    id: int
    segment: str | None
    churn_probability: float | None
    churn_band: str | None
    clv: float | None = Field(description="EUR")
    loyalty_score: float | None

    @classmethod
    def from_view(cls, v: SearchHit) -> SegmentHitOut:
        return cls(**_fields(v, cls))


class SearchPageOut(BaseModel):
    """One page; fetch the next with ``after_id=next_after_id`` (or ``offset=next_offset``); both null at the end.
    ``items`` are ``CustomerHitOut`` for staff and admin, ``SegmentHitOut`` for marketing."""

    items: list[CustomerHitOut] | list[SegmentHitOut]
    limit: int
    offset: int
    next_offset: int | None
    next_after_id: int | None


class ProfileUpdateIn(BaseModel):
    """Fields to change (only those sent are changed). ``household_size``, ``children`` and ``annual_income``
    may be null (not known). ``version``: the profile version you read, when not sent as ``If-Match``."""

    model_config = ConfigDict(extra="forbid")

    version: int | None = None
    email: str | None = None
    phone: str | None = None
    address: str | None = None
    region: str | None = None
    age: int | None = None
    job: str | None = None
    marital: str | None = None
    education: str | None = None
    household_size: int | None = None
    children: int | None = None
    annual_income: Decimal | None = Field(None, description="EUR per year, at most 2 decimals")


class FieldChangeOut(BaseModel):
    field: str
    old_value: Any
    new_value: Any


class ProfileUpdateOut(BaseModel):
    """The fields that changed (empty: nothing did) and the profile ``version`` now in force (also the ETag)."""

    customer_id: int
    version: int
    changes: list[FieldChangeOut]


class TimelineOut(BaseModel):
    """Interactions newest first; pass ``next_cursor`` as ``cursor`` for the next (older) page."""

    items: list[InteractionOut]
    next_cursor: str | None


class NoteIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    text: str = Field(min_length=1, max_length=2000, examples=["Called about the mortgage; will visit a branch."])


class ConversationErasureOut(BaseModel):
    """Whether one conversation was removed from Rasa's tracker store (``method``: ``redis`` key deleted, or
    ``rasa_api`` events replaced by none); ``error`` says why not. ``conversation`` is the opaque id (c-...)."""

    conversation: str
    erased: bool
    method: str | None
    error: str | None


class ErasureOut(BaseModel):
    """The erasure: rows deleted per table, each linked conversation's tracker erasure, rows removed from the
    event broker's table (null: none kept there), ``complete`` = every conversation erased too."""

    customer_id: int
    deleted: dict[str, int]
    conversations: list[ConversationErasureOut]
    broker_events_deleted: int | None
    audit_id: int
    erasure_id: int = Field(description="the erasure record: GET /erasures/{erasure_id}, retried until complete")
    complete: bool


class ErasureConversationOut(BaseModel):
    """One conversation of an erasure record: ``erased_at`` once gone from the tracker store, else the last
    attempt's ``last_error``. ``conversation`` is the opaque id (c-...), never Rasa's sender id."""

    conversation: str
    erased_at: datetime | None
    last_error: str | None


class ErasureRecordOut(BaseModel):
    """An erasure record (no personal data): ``complete`` once every conversation is erased (``completed_at``)."""

    id: int
    customer_id: int
    actor: str
    requested_at: datetime
    completed_at: datetime | None
    complete: bool
    conversations: list[ErasureConversationOut]

    @classmethod
    def from_view(cls, view: ErasureView) -> ErasureRecordOut:
        return cls(id=view.id, customer_id=view.customer_id, actor=view.actor, requested_at=view.requested_at,
                   completed_at=view.completed_at, complete=view.completed_at is not None,
                   conversations=[ErasureConversationOut(conversation=conversation_ref(c.sender_id), erased_at=c.erased_at,
                                                         last_error=c.last_error) for c in view.conversations])


class AccessOut(BaseModel):
    staff: str
    role: str
    customer_id: int | None
    action: str
    detail: str | None
    at: datetime

    @classmethod
    def from_view(cls, v: AccessRecord) -> AccessOut:
        return cls(**_fields(v, cls))
