"""Dry run of a campaign before it is scheduled: audience size, the control group, how many of a sample would
be held or skipped at send time (consent, channel, quiet hours, eligibility, frequency cap) and a few messages
as the bot would word them (from ``domain.yml``'s push responses: the template the bot will use, read here only
to show the marketing manager; the delivery never depends on this text). Read-only.
"""

from __future__ import annotations

from collections import Counter
from datetime import datetime, timedelta
from functools import lru_cache
from typing import Any, Final

import yaml
from sqlalchemy import func, select

from api.campaign_gates import propensity_filter, send_time_check
from profiles.campaigns.delivery import CAP_DAYS
from profiles.campaigns.models import CampaignDelivery
from profiles.campaigns.plan import CONTROL, assign_groups
from profiles.campaigns.spec import CampaignSpec, Message
from profiles.campaigns.store import audience_select
from profiles.db import session_scope
from profiles.models import Customer
from profiles.settings import ROOT, get_settings

SAMPLE: Final = 100
SHOWN: Final = 3


@lru_cache(maxsize=1)
def _responses() -> dict[str, list[dict[str, Any]]]:
    domain = yaml.safe_load((ROOT / "domain.yml").read_text(encoding="utf-8"))
    responses = domain.get("responses") or {}
    return {k: list(responses.get(k) or []) for k in ("utter_push_reminder", "utter_push_offer")}


def render(message: Message, name: str) -> str:
    """The bot's text of ``message`` for a customer called ``name`` (the response whose slot condition matches,
    else its unconditioned fallback)."""
    key, slot, value = (("utter_push_reminder", "push_template", message.template) if message.kind == "reminder"
                        else ("utter_push_offer", "push_product", message.product))
    fallback = ""
    for variation in _responses()[key]:
        conditions = variation.get("condition") or []
        if not conditions:
            fallback = fallback or str(variation.get("text", ""))
        elif all(c.get("name") == slot and c.get("value") == value for c in conditions):
            return str(variation.get("text", "")).replace("{push_name}", name)
    return fallback.replace("{push_name}", name)


def dry_run(spec: CampaignSpec, *, now: datetime) -> dict[str, Any]:
    """``{"audience", "control", "treated": {variant: n}, "sample_size", "sample": {status: n}, "messages":
    [{"variant", "status", "channel", "template", "product", "text"}]}`` for ``spec`` at ``now``. A sample message
    greets a real customer by name, so it never carries the customer's number: marketing sees customers by
    segment and score only, never a name next to an id (``GET /customers`` for marketing, the delivery log)."""
    with session_scope() as session:
        audience = [(int(c), s) for c, s in session.execute(audience_select(spec)).all()]
    keep = propensity_filter(spec, [c for c, _ in audience], now=now)  # the recommender's score range, if any
    audience = [row for row in audience if row[0] in keep]
    groups = assign_groups(audience, spec, seed="dry-run")
    sizes = Counter(groups.values())
    treated = [cid for cid, g in sorted(groups.items()) if g != CONTROL]
    step = max(1, len(treated) // SAMPLE)
    sample = treated[::step][:SAMPLE]
    cap = get_settings().campaign_frequency_cap
    with session_scope() as session:
        recent = dict(session.execute(
            select(CampaignDelivery.customer_id, func.count()).where(
                CampaignDelivery.customer_id.in_(sample), CampaignDelivery.status == "delivered",
                CampaignDelivery.sent_at >= now - timedelta(days=CAP_DAYS))
            .group_by(CampaignDelivery.customer_id)).all()) if sample else {}
        names = {int(c): {"first_name": f, "last_name": ln} for c, f, ln in session.execute(
            select(Customer.id, Customer.first_name, Customer.last_name).where(Customer.id.in_(sample))).all()}
    statuses: Counter[str] = Counter()
    messages: list[dict[str, Any]] = []
    variants = {v.name: v for v in spec.variants}
    for cid in sample:
        variant = variants[groups[cid]]
        gate = send_time_check(cid, variant.message, marketing_consent=spec.audience.consent == "marketing",
                               exempt_quiet_hours=spec.schedule.exempt_quiet_hours, now=now)
        status = "capped" if gate.status == "allowed" and recent.get(cid, 0) >= cap else gate.status
        status = "would_send" if status == "allowed" else status
        statuses[status] += 1
        if len([m for m in messages if m["variant"] == variant.name]) < SHOWN:
            message = variant.message_for(gate.channel)
            # the profile field the send greets by (api.campaign_queue._name_for): first or last name
            name = names.get(cid, {}).get(message.fields.get("push_name", "first_name"))
            messages.append({"variant": variant.name, "status": status, "channel": gate.channel,
                             "template": message.template, "product": message.product,
                             "text": render(message, name or "there")})
    return {"audience": len(audience), "control": sizes.get(CONTROL, 0),
            "treated": {v.name: sizes.get(v.name, 0) for v in spec.variants}, "sample_size": len(sample),
            "sample": dict(statuses), "messages": messages}
