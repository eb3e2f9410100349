"""The one adapter between campaigns and the bank's rules (consent, channel, quiet hours, offer eligibility).

Campaign code calls only ``send_time_check`` (read-only: the dry run uses it too). It applies each rule through
its one function: ``profiles.push.decide_push`` (channel, and for offers the marketing consent on that channel,
quiet hours), ``profiles.consent.has_consent`` (the audience's consent requirement on the channel used: the one
consent rule, ``decide_consent``, whose SQL form ``consent_granted_sql`` also selects the audience at targeting
time) and ``api.push.offer_ineligibility``, i.e. the recommender's one offer gate ``recommender.offer_gate``
(consent, eligibility, cool-off, one offer a day).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Final
from zoneinfo import ZoneInfo

from api.push import offer_ineligibility
from profiles.campaigns.spec import CampaignSpec, Message
from profiles.consent import ALL_CHANNELS, MARKETING, consent_channel, has_consent
from profiles.errors import NotFound
from profiles.push import customer_timezone, decide_push, in_quiet_hours
from recommender.offers import customer_context, offer_gate
from recommender.scoring import batch_scores

MAX_HOLD_HOURS: Final = 24


@dataclass(frozen=True, slots=True)
class Gate:
    """The send-time answer for one recipient: ``status`` ``allowed``, ``held`` (quiet hours: ``hold_until``)
    or a skip (``no_channel``, ``no_consent``, ``not_eligible``, ``invalid``) with ``reason``; the channel and
    conversation to use and the first name for the greeting."""

    status: str
    reason: str | None
    channel: str | None
    sender_id: str | None
    first_name: str | None
    hold_until: datetime | None = None


def quiet_hours_end(now: datetime, tz: ZoneInfo | None = None) -> datetime:
    """The first whole hour after ``now`` that is outside quiet hours in ``tz`` (default: the bank's zone), at
    most ``MAX_HOLD_HOURS`` ahead. Walks UTC hours and reads each in ``tz``, so a daylight-saving change inside
    the night moves the opening with the customer's clock (and zones off the hour, e.g. UTC+5:30, open on
    the first whole UTC hour outside their window)."""
    moment = now.replace(minute=0, second=0, microsecond=0)
    for _ in range(MAX_HOLD_HOURS):
        moment += timedelta(hours=1)
        if not in_quiet_hours(moment, tz=tz):
            return moment
    return moment


def send_time_check(customer_id: int, message: Message, *, marketing_consent: bool, exempt_quiet_hours: bool,
                    now: datetime) -> Gate:
    """Re-check one recipient at send time (module docstring); never raises for a customer that vanished
    (``invalid``)."""
    try:
        decision = decide_push(customer_id, message.kind, now=now)
    except NotFound:
        return Gate("invalid", "no such customer (erased?)", None, None, None)
    base = (decision.channel, decision.sender_id, decision.first_name)
    exempt = decision.status == "quiet_hours" and exempt_quiet_hours  # a transactional reminder
    decision_status = "allowed" if exempt else decision.status
    if decision_status == "quiet_hours":
        zone = customer_timezone(decision.time_zone)  # the customer's clock opens the window
        return Gate("held", decision.reason, *base, hold_until=quiet_hours_end(now, zone))
    if decision_status != "allowed":
        return Gate(decision_status, decision.reason, *base)
    assert decision.channel is not None
    if marketing_consent and not has_consent(customer_id, MARKETING, consent_channel(decision.channel)):
        return Gate("no_consent", f"no marketing consent on {consent_channel(decision.channel)}", *base)
    if message.kind == "offer" and message.product is not None:
        why = offer_ineligibility(customer_id, message.product, channel=decision.channel, now=now)
        if why is not None:
            return Gate("not_eligible", why, *base)
    return Gate("allowed", None, *base)


def propensity_filter(spec: CampaignSpec, customer_ids: Sequence[int], *, now: datetime | None = None) -> set[int]:
    """The customers of ``customer_ids`` the audience's ``propensity`` filter keeps (all of them without one):
    those the recommender's one offer gate (``recommender.offer_gate`` on any channel: marketing consent,
    eligibility, cool-off; without the one-offer-a-day cap, a send-time rule) finds eligible for the product,
    whose score (``recommender.batch_scores``: the same models and rules as the bot's suggestion) lies in
    [min, max]. Customers erased meanwhile are dropped. Cost: the gate reads each customer (a few queries
    each), so a propensity audience should be narrowed by a segment or score range first.
    """
    wanted = spec.audience.propensity
    if wanted is None:
        return set(customer_ids)
    eligible: list[int] = []
    for customer_id in customer_ids:
        try:
            gate = offer_gate(customer_id, wanted.product, ALL_CHANNELS, now=now, frequency_cap=False)
        except NotFound:
            continue
        if gate.eligible:
            eligible.append(customer_id)
    if not eligible:
        return set()
    contexts = [customer_context(c, now=now) for c in eligible]
    scores = batch_scores(contexts)[wanted.product].tolist()
    return {c for c, score in zip(eligible, scores, strict=True)
            if score == score and wanted.min <= score <= wanted.max}  # NaN (not scored) is never in range
