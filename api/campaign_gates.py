"""The one adapter between campaigns and the bank's rules (consent, channel, quiet hours, offer eligibility).

Campaign code calls only ``send_time_check`` (read-only: the dry run uses it too). It applies each rule through
its one function: ``profiles.push.decide_push`` (channel, and for offers the marketing consent on that channel,
quiet hours), ``profiles.consent.has_consent`` (the audience's consent requirement on the channel used: the one
consent rule, ``decide_consent``, whose SQL form ``consent_granted_sql`` also selects the audience at targeting
time) and ``api.push.offer_ineligibility``, i.e. the recommender's one offer gate ``recommender.offer_gate``
(consent, eligibility, cool-off, one offer a day).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Final

from api.push import offer_ineligibility
from profiles.campaigns.spec import Message
from profiles.consent import MARKETING, consent_channel, has_consent
from profiles.errors import NotFound
from profiles.push import decide_push, in_quiet_hours

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


def quiet_hours_end(now: datetime) -> datetime:
    """The first whole hour after ``now`` that is outside quiet hours (at most ``MAX_HOLD_HOURS`` ahead)."""
    moment = now.replace(minute=0, second=0, microsecond=0)
    for _ in range(MAX_HOLD_HOURS):
        moment += timedelta(hours=1)
        if not in_quiet_hours(moment):
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
        return Gate("held", decision.reason, *base, hold_until=quiet_hours_end(now))
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
