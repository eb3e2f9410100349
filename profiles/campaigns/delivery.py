"""The per-recipient delivery log: claiming a recipient, the frequency cap, and final statuses.

At most once: a recipient is one ``CampaignDelivery`` row (unique ``(campaign, customer, step)``) and moves
out of ``queued``/``held``/``throttled`` only through a conditional UPDATE (``... WHERE status IN ('queued', 'held')``): of two
workers given the same task (every queue redelivers), one wins, the other's UPDATE matches no row and it sends
nothing. A real send is ``queued`` -> ``sending`` (committed) -> call the channel -> ``delivered``/error; a
worker killed between the two leaves ``sending``, which ``expire_sending`` turns into ``unknown`` and which is
never retried (the message may have gone out). A send that only records (``record_only``) moves
``queued`` -> ``delivered`` in one transaction, so nothing can be half done.

Frequency cap: at most ``settings.campaign_frequency_cap`` deliveries per customer in 7 days across all
campaigns, checked in the claiming transaction with the customer's row locked (PostgreSQL ``FOR UPDATE``;
SQLite's ``BEGIN IMMEDIATE`` serialises writers), so two campaigns cannot both take the last slot.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Final

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from profiles.campaigns.models import Campaign, CampaignDelivery
from profiles.db import session_scope
from profiles.models import Customer, utcnow
from profiles.settings import get_settings

PENDING: Final = ("queued", "held", "throttled")
FINAL: Final = ("delivered", "control", "capped", "no_consent", "no_channel", "not_eligible", "failed", "unknown",
                "invalid", "cancelled")
STATUSES: Final = (*PENDING, "sending", "channel_error", *FINAL)
CAP_DAYS: Final = 7
MAX_ATTEMPTS: Final = 3  # channel errors: retried with backoff 1, 4 min, then failed


@dataclass(frozen=True, slots=True)
class Recipient:
    """A due recipient of a batch: the delivery row ``id``, its customer and group."""

    id: int
    customer_id: int
    variant: str
    attempts: int


def due_recipients(campaign_id: int, step: int, batch: int, now: datetime) -> list[Recipient]:
    """The batch's rows still ``queued``/``held`` whose next attempt is due at ``now`` (id order)."""
    with session_scope() as session:
        rows = session.execute(
            select(CampaignDelivery.id, CampaignDelivery.customer_id, CampaignDelivery.variant,
                   CampaignDelivery.attempts)
            .where(CampaignDelivery.campaign_id == campaign_id, CampaignDelivery.step == step,
                   CampaignDelivery.batch == batch, CampaignDelivery.status.in_(PENDING),
                   (CampaignDelivery.next_attempt_at.is_(None)) | (CampaignDelivery.next_attempt_at <= now))
            .order_by(CampaignDelivery.id)).all()
    return [Recipient(int(r[0]), int(r[1]), str(r[2]), int(r[3])) for r in rows]


def next_attempt(row_id: int) -> datetime | None:
    """When a held or throttled row is due again (None: now)."""
    with session_scope() as session:
        return session.scalar(select(CampaignDelivery.next_attempt_at).where(CampaignDelivery.id == row_id))


def campaign_state(campaign_id: int) -> str | None:
    """The campaign's state, or None when it does not exist."""
    with session_scope() as session:
        return session.scalar(select(Campaign.state).where(Campaign.id == campaign_id))


def _cap_reached(session: Session, customer_id: int, now: datetime) -> bool:
    session.execute(select(Customer.id).where(Customer.id == customer_id).with_for_update())
    sent = session.scalar(select(func.count()).select_from(CampaignDelivery).where(
        CampaignDelivery.customer_id == customer_id, CampaignDelivery.status.in_(("delivered", "sending")),
        CampaignDelivery.sent_at >= now - timedelta(days=CAP_DAYS))) or 0
    return sent >= get_settings().campaign_frequency_cap


def _set(session: Session, row_id: int, status: str, now: datetime, *, sources: tuple[str, ...] = PENDING,
         **values: object) -> bool:
    result = session.execute(update(CampaignDelivery)
                             .where(CampaignDelivery.id == row_id, CampaignDelivery.status.in_(sources))
                             .values(status=status, updated_at=now, **values))
    return bool(getattr(result, "rowcount", 0))


def skip(row_id: int, status: str, reason: str | None, *, channel: str | None = None,
         now: datetime | None = None) -> bool:
    """Give a pending row a final skip status (``no_consent``, ``no_channel``, ``not_eligible``, ``invalid``);
    False when another worker had it already."""
    moment = now or utcnow()
    with session_scope(write=True) as session:
        return _set(session, row_id, status, moment, reason=reason and reason[:200], channel=channel)


def hold(row_id: int, until: datetime, reason: str, *, now: datetime | None = None) -> bool:
    """Hold a pending row until ``until`` (quiet hours): it stays due-able, status ``held``."""
    moment = now or utcnow()
    with session_scope(write=True) as session:
        return _set(session, row_id, "held", moment, reason=reason[:200], next_attempt_at=until)


def throttle(row_id: int, until: datetime, reason: str, *, channel: str | None, now: datetime | None = None) -> bool:
    """The channel's send rate is used up: the pending row is ``throttled`` until ``until`` (then sent, never
    dropped); False when another worker had it."""
    moment = now or utcnow()
    with session_scope(write=True) as session:
        return _set(session, row_id, "throttled", moment, reason=reason[:200], channel=channel,
                    next_attempt_at=until)


def claim(row_id: int, customer_id: int, channel: str | None, *, record_only: bool,
          now: datetime | None = None) -> str | None:
    """Take a pending row for sending, after the frequency cap; returns ``sending`` (send it now, then
    ``finish``), ``delivered`` (``record_only``: done), ``capped``, or None when the row is not pending any more
    (another worker took it, or the campaign was paused: nothing to do)."""
    moment = now or utcnow()
    with session_scope(write=True) as session:
        state = session.scalar(select(Campaign.state).join(CampaignDelivery, CampaignDelivery.campaign_id == Campaign.id)
                               .where(CampaignDelivery.id == row_id))
        if state != "running":
            return None
        if _cap_reached(session, customer_id, moment):
            won = _set(session, row_id, "capped", moment, channel=channel,
                       reason=f"frequency cap: {get_settings().campaign_frequency_cap} in {CAP_DAYS} days")
            return "capped" if won else None
        status = "delivered" if record_only else "sending"
        won = _set(session, row_id, status, moment, channel=channel, sent_at=moment, reason=None,
                   attempts=CampaignDelivery.attempts + 1)
        return status if won else None


def finish(row_id: int, status: str, reason: str | None, attempts: int, *, now: datetime | None = None) -> str:
    """Record the outcome of a ``sending`` row: ``delivered``, a final skip, or ``channel_error`` which is
    queued again with backoff (1 min, then 4) until ``MAX_ATTEMPTS`` and then ``failed``. Returns the status."""
    moment = now or utcnow()
    with session_scope(write=True) as session:
        if status != "channel_error":
            _set(session, row_id, status, moment, sources=("sending",), reason=reason and reason[:200])
            return status
        if attempts >= MAX_ATTEMPTS:
            _set(session, row_id, "failed", moment, sources=("sending",), reason=(reason or "")[:200], sent_at=None)
            return "failed"
        retry_at = moment + timedelta(minutes=4 ** (attempts - 1))
        _set(session, row_id, "queued", moment, sources=("sending",), reason=(reason or "")[:200], sent_at=None,
             next_attempt_at=retry_at)
        return "queued"


def cancel_pending(session: Session, campaign_id: int, actor: str, now: datetime) -> int:
    """A cancelled campaign's rows still pending (queued, held, throttled) become ``cancelled``, final, with who
    cancelled it; rows already final or ``sending`` (its outcome is recorded by ``finish``) keep theirs. In the
    caller's transaction (the state change). Returns how many."""
    result = session.execute(update(CampaignDelivery)
                             .where(CampaignDelivery.campaign_id == campaign_id, CampaignDelivery.status.in_(PENDING))
                             .values(status="cancelled", updated_at=now, reason=f"campaign cancelled by {actor}"[:200]))
    return int(getattr(result, "rowcount", 0) or 0)


def expire_sending(now: datetime | None = None) -> int:
    """Rows left ``sending`` longer than ``settings.campaign_stale_minutes`` (a worker died mid-send) become
    ``unknown``, never retried; returns how many."""
    moment = now or utcnow()
    cutoff = moment - timedelta(minutes=get_settings().campaign_stale_minutes)
    with session_scope(write=True) as session:
        result = session.execute(update(CampaignDelivery)
                                 .where(CampaignDelivery.status == "sending", CampaignDelivery.updated_at < cutoff)
                                 .values(status="unknown", updated_at=moment,
                                         reason="worker stopped during the send: not retried (at most once)"))
        return int(getattr(result, "rowcount", 0) or 0)


def pending_batches(now: datetime | None = None, *, min_age_minutes: float = 0) -> list[tuple[int, int, int]]:
    """(campaign, step, batch) of running campaigns with rows due at ``now`` and untouched for
    ``min_age_minutes``: what the sweeper queues again (harmless when the task is still queued: the claim
    makes a second run a no-op)."""
    moment = now or utcnow()
    cutoff = moment - timedelta(minutes=min_age_minutes)
    with session_scope() as session:
        rows = session.execute(
            select(CampaignDelivery.campaign_id, CampaignDelivery.step, CampaignDelivery.batch).distinct()
            .join(Campaign, Campaign.id == CampaignDelivery.campaign_id)
            .where(Campaign.state == "running", CampaignDelivery.status.in_(PENDING),
                   CampaignDelivery.updated_at <= cutoff,
                   (CampaignDelivery.next_attempt_at.is_(None)) | (CampaignDelivery.next_attempt_at <= moment))
            .order_by(CampaignDelivery.campaign_id, CampaignDelivery.step, CampaignDelivery.batch)).all()
    return [(int(c), int(s), int(b)) for c, s, b in rows]


def unfinished(campaign_id: int) -> int:
    """How many of the campaign's rows are not final yet (pending, sending)."""
    with session_scope() as session:
        return int(session.scalar(select(func.count()).select_from(CampaignDelivery).where(
            CampaignDelivery.campaign_id == campaign_id,
            CampaignDelivery.status.in_((*PENDING, "sending")))) or 0)


@dataclass(frozen=True, slots=True)
class LogRow:
    """One row of the per-recipient log as marketing may see it: the customer's number, never a name."""

    customer_id: int
    step: int
    variant: str
    status: str
    reason: str | None
    channel: str | None
    attempts: int
    sent_at: datetime | None
    updated_at: datetime


def log_rows(campaign_id: int, *, status: str | None = None, offset: int = 0, limit: int = 100) -> list[LogRow]:
    """The campaign's delivery log in customer order (then step), optionally of one ``status``, paged."""
    stmt = (select(CampaignDelivery).where(CampaignDelivery.campaign_id == campaign_id)
            .order_by(CampaignDelivery.customer_id, CampaignDelivery.step).offset(offset).limit(limit))
    if status is not None:
        stmt = stmt.where(CampaignDelivery.status == status)
    with session_scope() as session:
        return [LogRow(r.customer_id, r.step, r.variant, r.status, r.reason, r.channel, r.attempts, r.sent_at,
                       r.updated_at) for r in session.scalars(stmt)]


def counts(campaign_id: int) -> dict[str, dict[str, int]]:
    """Variant -> status -> number of rows, for the funnel."""
    with session_scope() as session:
        rows = session.execute(select(CampaignDelivery.variant, CampaignDelivery.status, func.count())
                               .where(CampaignDelivery.campaign_id == campaign_id)
                               .group_by(CampaignDelivery.variant, CampaignDelivery.status)).all()
    out: dict[str, dict[str, int]] = {}
    for variant, status, n in rows:
        out.setdefault(str(variant), {})[str(status)] = int(n)
    return out
