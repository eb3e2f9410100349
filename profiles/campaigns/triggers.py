"""Event-triggered campaigns: a daily sweep enrols each customer once per event occurrence.

A ``trigger`` schedule (``{"kind": "trigger", "event": "card_expiry", "days_before": 30}``) names a CRM date:

- ``card_expiry``: ``cards.expires_on`` of an active card;
- ``deposit_maturity``: ``accounts.matures_on`` of an open term deposit;
- ``payment_due``: ``loans.next_payment_on`` of an open loan (the next instalment; a new due date is a new
  occurrence);
- ``churn_crossing`` (with a ``threshold``): the customer's churn probability rose to or above ``threshold`` from
  below in the latest batch scoring run (``customer_scores.previous_churn_probability < threshold <=
  churn_probability``, kept by ``analytics.batch.run``). The occurrence is that scoring run
  (``customer_scores.batch_run_at``, step = its minute counted from 2020-01-01, as a recurring occurrence), so a
  customer is enrolled once per crossing however many sweeps see it, and again only after a later run sees a new
  crossing (having fallen below first). A customer without a previous score (first scored) has no crossing;
  ``days_before`` does not apply.

Its ``rule`` (default ``0 9 * * *``: every day at 09:00, the bank's time zone, read like a recurring campaign's)
says when the trigger sweep runs; ``campaigns.scheduled_at`` holds the next run, moved on in the same
transaction as the run's enrolments, so a second sweep, a restarted worker or another worker finds nothing due.

Each run enrols the audience's customers whose event falls between the bank's today and ``days_before`` days
later. **Once per event occurrence, by the database**: the occurrence is the ``step`` of the delivery key
``(campaign, customer, step)`` = the event's day counted from 2020-01-01, so the card expiring on 5 January is
one row however many daily runs see it inside its window; a card renewed to a new date is a new occurrence.
The control group is drawn per occurrence (seeded by campaign and step, stratified by segment, as
``plan.assign_groups``); the rows are ``queued`` (or ``control``) in batches like any other step, and the usual
send-time checks, quiet hours, cap and rates apply.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any, Final

from sqlalchemy import func, insert, select

from profiles.campaigns.models import Campaign, CampaignDelivery
from profiles.campaigns.plan import CONTROL, AudienceFilter, assign_groups, narrow
from profiles.campaigns.recurrence import occurrence_step
from profiles.campaigns.spec import CampaignSpec
from profiles.campaigns.store import _event, audience_select
from profiles.db import session_scope
from profiles.errors import NotFound
from profiles.models import Account, Card, CustomerScore, Loan, utcnow
from profiles.push import push_timezone
from profiles.settings import get_settings

EVENTS: Final = ("card_expiry", "deposit_maturity", "payment_due")  # CRM dates; and CHURN_CROSSING
CHURN_CROSSING: Final = "churn_crossing"
EPOCH_DAY: Final = date(2020, 1, 1)


@dataclass(frozen=True, slots=True)
class TriggerRun:
    """One run of a trigger campaign: ``enrolled`` new recipients (``control`` of them held out) over
    ``occurrences`` distinct event days, and ``sends``: the (step, batch) pairs to queue. ``ran`` False: no run
    was due (nothing written)."""

    campaign_id: int
    ran: bool
    enrolled: int = 0
    control: int = 0
    occurrences: int = 0
    sends: tuple[tuple[int, int], ...] = ()


def event_step(day: date) -> int:
    """The delivery-log step of an event on ``day``: days since 2020-01-01 (>= 1)."""
    return max(1, (day - EPOCH_DAY).days)


def event_dates(event: str) -> Any:
    """SELECT (customer_id, day) of every occurrence of ``event`` in the CRM.

    Raises:
        ValueError: an event outside ``EVENTS``.
    """
    if event == "card_expiry":
        return select(Card.customer_id.label("customer_id"), Card.expires_on.label("day")).where(
            Card.status == "active", Card.closed_at.is_(None), Card.expires_on.is_not(None))
    if event == "deposit_maturity":
        return select(Account.customer_id.label("customer_id"), Account.matures_on.label("day")).where(
            Account.kind == "term_deposit", Account.closed_at.is_(None), Account.matures_on.is_not(None))
    if event == "payment_due":
        return select(Loan.customer_id.label("customer_id"), Loan.next_payment_on.label("day")).where(
            Loan.closed_at.is_(None), Loan.next_payment_on.is_not(None))
    raise ValueError(f"unknown trigger event {event!r}")


def churn_crossings(threshold: float) -> Any:
    """SELECT (customer_id, run_at) of every customer whose churn probability crossed ``threshold`` (a
    probability in (0, 1]) upwards in their latest batch scoring run: ``previous < threshold <= current``;
    ``run_at`` is that run's time (timezone-aware UTC), the occurrence.

    Raises:
        ValueError: ``threshold`` outside (0, 1].
    """
    if not 0 < threshold <= 1:
        raise ValueError(f"threshold must be in (0, 1], got {threshold!r}")
    return select(CustomerScore.customer_id.label("customer_id"), CustomerScore.batch_run_at.label("run_at")).where(
        CustomerScore.batch_run_at.is_not(None), CustomerScore.previous_churn_probability < threshold,
        CustomerScore.churn_probability >= threshold)


def plan_trigger_run(campaign_id: int, *, actor: str = "system", now: datetime | None = None,
                     audience_filter: AudienceFilter | None = None) -> TriggerRun:
    """Run the trigger sweep of a ``scheduled``/``running`` trigger campaign if its run is due at ``now``
    (default: the current time); marks it ``running``. Idempotent per occurrence (module docstring).

    ``audience_filter``: the propensity filter (``plan.narrow``), needed when the audience has a ``propensity``.

    Raises:
        NotFound: no such campaign.
        Conflict: a propensity audience without ``audience_filter``.
        ValueError: the campaign's schedule is not a trigger.
    """
    moment = now or utcnow()
    batch_size = max(1, get_settings().campaign_batch_size)
    with session_scope(write=True) as session:
        row = session.get(Campaign, campaign_id, with_for_update=True)
        if row is None:
            raise NotFound("No such campaign.", detail=f"campaign {campaign_id}")
        spec = CampaignSpec.model_validate(row.spec, context={"stored": True})
        schedule = spec.schedule
        if schedule.kind != "trigger" or schedule.event is None:
            raise ValueError(f"campaign {campaign_id} is not event-triggered")
        if row.state not in ("scheduled", "running") or row.scheduled_at is None or row.scheduled_at > moment:
            return TriggerRun(campaign_id, ran=False)
        occurrence = row.scheduled_at
        row.scheduled_at = schedule.next_run(max(occurrence, moment))
        today = moment.astimezone(push_timezone()).date()  # the bank's day, as the rule is read
        audience = audience_select(spec).subquery()
        churn = schedule.event == CHURN_CROSSING
        if churn:
            assert schedule.threshold is not None  # the spec requires it
            crossed = churn_crossings(schedule.threshold).subquery()
            found = session.execute(
                select(audience.c.id, audience.c.segment, crossed.c.run_at)
                .join(crossed, crossed.c.customer_id == audience.c.id)).all()
        else:
            events = event_dates(schedule.event).subquery()
            found = session.execute(
                select(audience.c.id, audience.c.segment, events.c.day).distinct()
                .join(events, events.c.customer_id == audience.c.id)
                .where(events.c.day >= today, events.c.day <= today + timedelta(days=schedule.days_before))).all()
        kept = {c for c, _ in narrow(list({(int(c), s) for c, s, _ in found}), spec, audience_filter)}
        by_step: dict[int, list[tuple[int, str | None]]] = defaultdict(list)
        for customer_id, segment, day in found:
            if int(customer_id) not in kept:
                continue
            by_step[occurrence_step(day) if churn else event_step(day)].append((int(customer_id), segment))
        seen: set[tuple[int, int]] = set()
        last_batch: dict[int, int] = {}
        if by_step:
            steps = list(by_step)
            seen = {(int(c), int(s)) for c, s in session.execute(
                select(CampaignDelivery.customer_id, CampaignDelivery.step)
                .where(CampaignDelivery.campaign_id == campaign_id, CampaignDelivery.step.in_(steps))).all()}
            last_batch = {int(s): int(b) for s, b in session.execute(
                select(CampaignDelivery.step, func.max(CampaignDelivery.batch))
                .where(CampaignDelivery.campaign_id == campaign_id, CampaignDelivery.step.in_(steps))
                .group_by(CampaignDelivery.step)).all()}
        values: list[dict[str, Any]] = []
        sends: list[tuple[int, int]] = []
        n_control = 0
        for step in sorted(by_step):
            fresh = sorted({(c, s) for c, s in by_step[step] if (c, step) not in seen})
            if not fresh:
                continue
            groups = assign_groups(fresh, spec, seed=f"{campaign_id}:{step}")
            segments = dict(fresh)
            first = last_batch.get(step, -1) + 1
            treated = 0
            for customer_id in sorted(groups):
                is_control = groups[customer_id] == CONTROL
                values.append({
                    "campaign_id": campaign_id, "customer_id": customer_id, "step": step,
                    "variant": groups[customer_id], "stratum": segments.get(customer_id),
                    "batch": -1 if is_control else first + treated // batch_size,
                    "status": CONTROL if is_control else "queued",
                    "reason": "control group: held out, nothing sent" if is_control else None,
                    "attempts": 0, "queued_at": moment, "updated_at": moment,
                })
                n_control += is_control
                treated += not is_control
            sends += [(step, first + i) for i in range((treated + batch_size - 1) // batch_size)]
        if values:
            table: Any = CampaignDelivery.__table__
            session.connection().execute(insert(table), values)
        before, row.state = row.state, "running"
        row.planned_at = row.planned_at or moment
        row.audience_size = (row.audience_size or 0) + len(values) if before == "running" else len(values)
        upcoming = row.scheduled_at.isoformat() if row.scheduled_at else "none (end date)"
        occurrences = len({v["step"] for v in values})
        _event(session, campaign_id, actor, "start" if before == "scheduled" else "occurrence", before, "running",
               (f"trigger {schedule.event} run {occurrence.isoformat()}: enrolled {len(values)} "
                f"({n_control} control) over {occurrences} {'scoring runs' if churn else 'event days'}; "
                f"next {upcoming}")[:200])
    return TriggerRun(campaign_id, True, len(values), n_control, occurrences, tuple(sends))
