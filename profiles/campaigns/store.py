"""Campaign records: create (with the checks that need the database), read, move through the state machine,
and the audit of who did what. Plain views out, never ORM rows.

States: ``draft`` -> ``scheduled`` (``schedule``) -> ``running`` (planned by the worker at its time) ->
``done`` (every recipient has a final status; a recurring campaign only once no occurrence is left:
``scheduled_at`` holds its next run time, None after its end date); ``running`` <-> ``paused``; ``draft``/``scheduled``/``paused``
-> ``done`` (``cancel``). Any other move is a ``Conflict`` (409). Every move writes a ``CampaignEvent``.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final

from sqlalchemy import exists, func, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session
from sqlalchemy.sql.elements import ColumnElement

from profiles.audit import require_text
from profiles.campaigns.delivery import cancel_pending
from profiles.campaigns.models import Campaign, CampaignDelivery, CampaignEvent
from profiles.campaigns.spec import CHANNELS, CampaignSpec
from profiles.consent import MARKETING, consent_granted_sql
from profiles.customers import holds_product_sql
from profiles.db import get_engine, session_scope
from profiles.errors import Conflict, InvalidInput, NotFound
from profiles.models import Customer, CustomerScore, MessengerLink, utcnow
from profiles.search import SearchQuery, build_search

STATES: Final = ("draft", "scheduled", "running", "paused", "done")
TRANSITIONS: Final = {
    "schedule": (("draft",), "scheduled"),
    "start": (("scheduled",), "running"),
    "pause": (("running",), "paused"),
    "resume": (("paused",), "running"),
    "finish": (("running",), "done"),
    "cancel": (("draft", "scheduled", "paused"), "done"),
}


@dataclass(frozen=True, slots=True)
class CampaignView:
    """One campaign: its validated ``spec`` (``CampaignSpec`` as JSON), ``state``, ``counts`` of the delivery
    log per status (empty before planning) and the audit ``events`` (oldest first, as dicts)."""

    id: int
    name: str
    state: str
    spec: dict[str, Any]
    scheduled_at: datetime | None
    audience_size: int | None
    created_by: str
    created_at: datetime
    planned_at: datetime | None
    finished_at: datetime | None
    counts: dict[str, int]
    events: tuple[dict[str, Any], ...]


def audience_consent(purpose: str, channel: str) -> ColumnElement[bool]:
    """The audience's consent requirement as SQL, by the one consent rule (``profiles.consent``): granted on the
    audience's ``channel``; for ``any``, granted on at least one channel a campaign can send on
    (``spec.CHANNELS``: telegram, facebook, the web chat) — the send-time check then decides on the channel
    actually used."""
    channels = CHANNELS if channel == "any" else (channel,)
    return or_(*(consent_granted_sql(Customer.id, purpose, c) for c in channels))


def audience_select(spec: CampaignSpec) -> Any:
    """SELECT (customer id, segment) of the audience of ``spec`` in id order, at most ``audience.limit`` rows.

    Raises:
        InvalidInput: a filter value refused by ``profiles.search`` (field ``audience.<name>``).
    """
    a = spec.audience
    query = SearchQuery(segment=a.segment, min_churn=a.min_churn, max_churn=a.max_churn, min_clv=a.min_clv,
                        max_clv=a.max_clv, min_loyalty=a.min_loyalty, max_loyalty=a.max_loyalty)
    try:
        stmt = build_search(query, dialect=get_engine().dialect.name)
    except InvalidInput as exc:
        raise InvalidInput(exc.user_message, field=f"audience.{exc.field}") from None
    stmt = stmt.with_only_columns(Customer.id, CustomerScore.segment)
    for product in a.holds:
        stmt = stmt.where(holds_product_sql(product, Customer.id))
    for product in a.lacks:
        stmt = stmt.where(~holds_product_sql(product, Customer.id))
    if a.consent == "marketing":
        stmt = stmt.where(audience_consent(MARKETING, a.channel))
    if a.channel != "any":
        stmt = stmt.where(exists().where(MessengerLink.customer_id == Customer.id, MessengerLink.channel == a.channel))
    return stmt.limit(a.limit)


def audience_size(spec: CampaignSpec) -> int:
    """How many customers the audience of ``spec`` has now (capped at ``audience.limit``)."""
    with session_scope() as session:
        return int(session.scalar(select(func.count()).select_from(audience_select(spec).subquery())) or 0)


def check_against_database(spec: CampaignSpec) -> int:
    """The checks a schema cannot make; returns the audience size.

    Raises:
        InvalidInput: ``audience.segment`` no customer has; ``audience`` empty.
    """
    if spec.audience.segment is not None:
        with session_scope() as session:
            known = session.scalar(select(CustomerScore.customer_id)
                                   .where(CustomerScore.segment == spec.audience.segment).limit(1))
        if known is None:
            raise InvalidInput(f"No customer is in segment {spec.audience.segment!r}.", field="audience.segment")
    size = audience_size(spec)
    if size == 0:
        raise InvalidInput("The audience is empty: no customer matches these filters.", field="audience")
    return size


def _event(session: Session, campaign_id: int, actor: str, action: str, before: str | None, after: str | None,
           detail: str | None = None) -> None:
    session.add(CampaignEvent(campaign_id=campaign_id, actor=require_text(actor, "actor", 80), action=action,
                              from_state=before, to_state=after, detail=detail and detail[:200], at=utcnow()))


def create_campaign(spec: CampaignSpec, *, actor: str) -> CampaignView:
    """Store ``spec`` as a ``draft`` (after ``check_against_database``), audited as ``created`` by ``actor``.

    Raises:
        InvalidInput: see ``check_against_database``.
        Conflict: a campaign of that name exists (field ``name``).
    """
    size = check_against_database(spec)
    try:
        with session_scope(write=True) as session:
            at = spec.schedule.next_run(utcnow()) if spec.schedule.repeats else spec.schedule.at
            row = Campaign(name=spec.name, state="draft", spec=spec.model_dump(mode="json"),
                           scheduled_at=at, audience_size=size, created_by=actor,
                           created_at=utcnow())
            session.add(row)
            session.flush()
            _event(session, row.id, actor, "created", None, "draft", f"audience {size}")
            campaign_id = row.id
    except IntegrityError:
        raise Conflict(f"A campaign named {spec.name!r} exists.") from None
    return get_campaign(campaign_id)


def load_spec(campaign_id: int) -> CampaignSpec:
    """The stored definition of a campaign.

    Raises:
        NotFound: no such campaign.
    """
    with session_scope() as session:
        row = session.get(Campaign, campaign_id)
        if row is None:
            raise NotFound("No such campaign.", detail=f"campaign {campaign_id}")
        return CampaignSpec.model_validate(row.spec, context={"stored": True})  # its time may be past now


def _view(session: Session, row: Campaign) -> CampaignView:
    counts = dict(session.execute(select(CampaignDelivery.status, func.count())
                                  .where(CampaignDelivery.campaign_id == row.id)
                                  .group_by(CampaignDelivery.status)).all())
    events = tuple({"actor": e.actor, "action": e.action, "from": e.from_state, "to": e.to_state,
                    "detail": e.detail, "at": e.at.isoformat()}
                   for e in session.scalars(select(CampaignEvent).where(CampaignEvent.campaign_id == row.id)
                                            .order_by(CampaignEvent.id)))
    return CampaignView(id=row.id, name=row.name, state=row.state, spec=row.spec, scheduled_at=row.scheduled_at,
                        audience_size=row.audience_size, created_by=row.created_by, created_at=row.created_at,
                        planned_at=row.planned_at, finished_at=row.finished_at, counts=dict(Counter(counts)),
                        events=events)


def get_campaign(campaign_id: int) -> CampaignView:
    """One campaign with its counts and audit.

    Raises:
        NotFound: no such campaign.
    """
    with session_scope() as session:
        row = session.get(Campaign, campaign_id)
        if row is None:
            raise NotFound("No such campaign.", detail=f"campaign {campaign_id}")
        return _view(session, row)


def list_campaigns(limit: int = 100) -> list[CampaignView]:
    """The newest ``limit`` campaigns (without their events' detail beyond the view)."""
    with session_scope() as session:
        rows = session.scalars(select(Campaign).order_by(Campaign.id.desc()).limit(limit)).all()
        return [_view(session, r) for r in rows]


def transition(campaign_id: int, action: str, *, actor: str, detail: str | None = None,
               session: Session | None = None) -> str:
    """Apply ``action`` (a key of ``TRANSITIONS``) and audit it; returns the new state.

    Raises:
        NotFound: no such campaign.
        Conflict: the action is not allowed from the current state.
        InvalidInput: unknown action (field ``action``).
    """
    if action not in TRANSITIONS:
        raise InvalidInput(f"action must be one of {', '.join(TRANSITIONS)}.", field="action")
    if session is None:
        with session_scope(write=True) as own:
            return transition(campaign_id, action, actor=actor, detail=detail, session=own)
    row = session.get(Campaign, campaign_id, with_for_update=True)
    if row is None:
        raise NotFound("No such campaign.", detail=f"campaign {campaign_id}")
    sources, target = TRANSITIONS[action]
    if row.state not in sources:
        raise Conflict(f"A {row.state} campaign cannot {action}.")
    before, row.state = row.state, target
    if target == "done":
        row.finished_at = utcnow()
    if action == "cancel":  # its log ends too: nothing pending stays in a finished campaign
        cancelled = cancel_pending(session, row.id, actor, row.finished_at or utcnow())
        detail = detail or (f"{cancelled} pending recipients cancelled" if cancelled else None)
    if action in ("schedule", "resume") and row.spec.get("schedule", {}).get("kind") in ("recurring", "trigger"):
        now = utcnow()  # a draft that waited, or occurrences missed while paused: the next one from now
        if row.scheduled_at is None or row.scheduled_at <= now:
            spec = CampaignSpec.model_validate(row.spec, context={"stored": True})
            row.scheduled_at = spec.schedule.next_run(now)
            if row.scheduled_at is None:
                raise Conflict("The recurring campaign has no occurrence left (its end date has passed).")
            else:
                detail = detail or f"next run {row.scheduled_at.isoformat()}"
    _event(session, row.id, actor, action, before, target, detail)
    return target
