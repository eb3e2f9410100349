"""Did the campaign work? Conversions of treatment and control in the attribution window, the uplift with a
95% confidence interval, and a significance test.

Comparison is intention-to-treat: every treated recipient (whatever its delivery status: a message capped or
refused for consent is part of what the campaign does) against the control group, both counted from the
campaign's planning time ``planned_at`` to ``planned_at + goal.window_days``. Conversions come from the CRM:

- ``offer_accepted``: an ``offer_events`` row with outcome ``accepted`` (of ``goal.product`` if given);
- ``product_opened``: an account, loan or credit card created (of ``goal.product`` if given);
- ``profile_updated``: an ``audit_log`` change to the customer's profile (``entity`` customer or contact).

Uplift = p_treatment - p_control. Interval: Newcombe's hybrid score interval (method 10 of Newcombe 1998, from
the two Wilson intervals), which keeps its coverage with small counts and proportions near 0 where Wald's
does not. Test: the pooled two-proportion z-test (two-sided p-value, ``scipy.stats.norm``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Final

from scipy.stats import norm
from sqlalchemy import and_, case, exists, func, or_, select
from sqlalchemy.sql.elements import ColumnElement

from profiles.campaigns.models import Campaign, CampaignDelivery
from profiles.campaigns.spec import CampaignSpec
from profiles.customers import holds_product_sql
from profiles.db import session_scope
from profiles.errors import NotFound
from profiles.models import AuditLog, ConversationEvent, OfferEvent
from profiles.schemas import PRODUCT_IDS

Z95: Final = float(norm.ppf(0.975))
SENT: Final = ("delivered", "sending", "unknown", "failed")  # a send was attempted on a channel


@dataclass(frozen=True, slots=True)
class Uplift:
    """Treatment vs control: conversions ``x_*`` of ``n_*`` customers, rates, ``uplift`` (difference of rates,
    percentage points / 100), its 95% interval ``ci_low``..``ci_high``, the z statistic and two-sided
    ``p_value`` (None when a group is empty), ``significant`` at 5%."""

    x_treatment: int
    n_treatment: int
    x_control: int
    n_control: int
    rate_treatment: float
    rate_control: float
    uplift: float
    ci_low: float
    ci_high: float
    z: float | None
    p_value: float | None
    significant: bool


def wilson(x: int, n: int, z: float = Z95) -> tuple[float, float]:
    """Wilson score interval of a proportion ``x / n`` (``n`` > 0)."""
    p = x / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return centre - half, centre + half


def newcombe(x1: int, n1: int, x2: int, n2: int, z: float = Z95) -> tuple[float, float]:
    """Newcombe's hybrid score interval of ``x1/n1 - x2/n2`` (both ``n`` > 0)."""
    p1, p2 = x1 / n1, x2 / n2
    l1, u1 = wilson(x1, n1, z)
    l2, u2 = wilson(x2, n2, z)
    d = p1 - p2
    return (d - math.sqrt((p1 - l1) ** 2 + (u2 - p2) ** 2), d + math.sqrt((u1 - p1) ** 2 + (p2 - l2) ** 2))


def compare(x_t: int, n_t: int, x_c: int, n_c: int) -> Uplift:
    """The uplift of treatment (``x_t`` of ``n_t``) over control (``x_c`` of ``n_c``); see ``Uplift``.

    Raises:
        ValueError: a count out of range (negative, or more conversions than customers).
    """
    if min(x_t, n_t, x_c, n_c) < 0 or x_t > n_t or x_c > n_c:
        raise ValueError("conversions must be between 0 and the group size")
    if n_t == 0 or n_c == 0:
        r_t = x_t / n_t if n_t else 0.0
        r_c = x_c / n_c if n_c else 0.0
        return Uplift(x_t, n_t, x_c, n_c, r_t, r_c, r_t - r_c, -1.0, 1.0, None, None, False)
    r_t, r_c = x_t / n_t, x_c / n_c
    low, high = newcombe(x_t, n_t, x_c, n_c)
    pooled = (x_t + x_c) / (n_t + n_c)
    se = math.sqrt(pooled * (1 - pooled) * (1 / n_t + 1 / n_c))
    z = (r_t - r_c) / se if se > 0 else 0.0
    p = float(2 * norm.sf(abs(z))) if se > 0 else 1.0
    return Uplift(x_t, n_t, x_c, n_c, r_t, r_c, r_t - r_c, low, high, z, p, p < 0.05)


def _converted(spec: CampaignSpec, start: datetime, end: datetime) -> ColumnElement[bool]:
    who = CampaignDelivery.customer_id
    goal = spec.goal
    if goal.conversion == "offer_accepted":
        cond = [OfferEvent.customer_id == who, OfferEvent.outcome == "accepted", OfferEvent.created_at >= start,
                OfferEvent.created_at < end]
        if goal.product:
            cond.append(OfferEvent.product == goal.product)
        return exists().where(*cond)
    if goal.conversion == "profile_updated":
        return exists().where(AuditLog.customer_id == who, AuditLog.entity.in_(("customer", "contact")),
                              AuditLog.created_at >= start, AuditLog.created_at < end)
    # product_opened: holds the product (the one rule, profiles.customers) through a row opened in the window
    products = (goal.product,) if goal.product else PRODUCT_IDS
    return or_(*(holds_product_sql(p, who, opened_from=start, opened_before=end) for p in products))


def report(campaign_id: int, *, now: datetime | None = None) -> dict[str, Any]:
    """The campaign's funnel per group and its uplift: ``{"window": {start, end}, "funnel": {group: {targeted,
    sent, delivered, conversation, converted}}, "uplift": Uplift as dict or None before planning, "variants":
    {variant: Uplift as dict of that arm alone against the control group}}`` (each with its Newcombe 95% interval
    and two-sided z-test).
    ``sent`` = a send was attempted (delivered, sending, unknown, failed); ``conversation`` = the customer wrote
    to the bot in the window. ``now`` cuts the window (default: the end).

    Raises:
        NotFound: no such campaign.
    """
    with session_scope() as session:
        row = session.get(Campaign, campaign_id)
        if row is None:
            raise NotFound("No such campaign.", detail=f"campaign {campaign_id}")
        spec = CampaignSpec.model_validate(row.spec, context={"stored": True})
        if row.planned_at is None:
            return {"window": None, "funnel": {}, "uplift": None, "variants": {}}
        start = row.planned_at
        end = start + timedelta(days=spec.goal.window_days)
        if now is not None and now < end:
            end = now
        talked = exists().where(ConversationEvent.customer_id == CampaignDelivery.customer_id,
                                ConversationEvent.event_type == "user", ConversationEvent.timestamp >= start,
                                ConversationEvent.timestamp < end)
        converted = _converted(spec, start, end)
        rows = session.execute(
            select(CampaignDelivery.variant, func.count(),
                   func.sum(_as_int(CampaignDelivery.status.in_(SENT))),
                   func.sum(_as_int(CampaignDelivery.status == "delivered")),
                   func.sum(_as_int(talked)), func.sum(_as_int(converted)))
            .where(CampaignDelivery.campaign_id == campaign_id).group_by(CampaignDelivery.variant)).all()
    funnel = {str(v): {"targeted": int(n), "sent": int(s or 0), "delivered": int(d or 0),
                       "conversation": int(t or 0), "converted": int(c or 0)} for v, n, s, d, t, c in rows}
    control = funnel.get("control", {"targeted": 0, "converted": 0})
    treated = [f for g, f in funnel.items() if g != "control"]
    result = compare(sum(f["converted"] for f in treated), sum(f["targeted"] for f in treated),
                     control["converted"], control["targeted"])
    # each arm against the same control group: which message worked (the pooled uplift answers "did the campaign")
    variants = {g: _as_dict(compare(f["converted"], f["targeted"], control["converted"], control["targeted"]))
                for g, f in sorted(funnel.items()) if g != "control"}
    return {"window": {"start": start.isoformat(), "end": end.isoformat()}, "funnel": funnel,
            "uplift": _as_dict(result), "variants": variants}


def _as_dict(result: Uplift) -> dict[str, Any]:
    return {f: getattr(result, f) for f in result.__dataclass_fields__}


def _as_int(condition: ColumnElement[bool]) -> Any:
    return case((and_(condition), 1), else_=0)
