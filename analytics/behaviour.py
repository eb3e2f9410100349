"""Behaviour analysis: how often, how recently and through which channels the customer deals with us.

A documented rule on the feature frame (:mod:`analytics.features`), no trained model:

- ``frequency_per_month`` = (transactions + inbound interactions in the last 90 days) / 3, events per month;
- ``recency_days`` = days since the last interaction (None = never), as stored in ``customer_scores``;
- ``last_activity_days`` = days since the last transaction *or* interaction (None = never);
- ``activity_status`` = ``active`` (last activity <= 30 days ago), ``lapsing`` (<= 90 days) or ``dormant``
  (longer ago, or never);
- ``channel_mix`` = share of the inbound interactions of the last 90 days per channel (values sum to 1,
  rounded to 3 places; ``{}`` when the customer has not talked to us in that window);
- ``digital_share`` = share of those through digital channels (:data:`DIGITAL_CHANNELS`); NaN when none.

Source: the CRM's own tables (transactions, interactions). Validation: none beyond the unit tests (a rule, not
a prediction); its inputs feed the loyalty score and the segments.
"""

from __future__ import annotations

import math
from typing import Any, Final

import pandas as pd  # type: ignore[import-untyped]

VERSION: Final = "behaviour-rule-1"
ACTIVE_DAYS: Final = 30
LAPSING_DAYS: Final = 90
DIGITAL_CHANNELS: Final = frozenset({"web", "rest", "socketio", "telegram", "facebook", "messenger", "app", "email"})


def channel_mix(counts: dict[str, int] | None) -> dict[str, float]:
    """Shares per channel from ``{channel: count}``: ``{"web": 0.75, "telegram": 0.25}``; ``{}`` when empty."""
    if not counts:
        return {}
    total = sum(counts.values())
    if total <= 0:
        return {}
    return {channel: round(n / total, 3) for channel, n in sorted(counts.items()) if n > 0}


def activity_status(last_activity_days: float | None) -> str:
    """``active`` / ``lapsing`` / ``dormant`` from days since the last activity (None or NaN = never)."""
    if last_activity_days is None or math.isnan(last_activity_days):
        return "dormant"
    if last_activity_days <= ACTIVE_DAYS:
        return "active"
    if last_activity_days <= LAPSING_DAYS:
        return "lapsing"
    return "dormant"


def _digital(mix: dict[str, float]) -> float:
    if not mix:
        return float("nan")
    return round(sum(share for channel, share in mix.items() if channel in DIGITAL_CHANNELS), 3)


def behaviour(frame: pd.DataFrame) -> pd.DataFrame:
    """Behaviour columns for each row of a feature frame (same index).

    Returns:
        Columns ``frequency_per_month`` (float, events/month), ``recency_days`` and ``last_activity_days``
        (float days, NaN = never), ``activity_status`` (str), ``channel_mix`` (dict channel -> share),
        ``digital_share`` (float in [0, 1], NaN = no inbound interaction in 90 days).
    """
    mixes: list[dict[str, Any]] = [channel_mix(c) for c in frame["channel_counts_90d"]]
    return pd.DataFrame(
        {
            "frequency_per_month": (frame["txn_count_90d"] + frame["inbound_90d"]).astype(float) / 3.0,
            "recency_days": frame["recency_days"].astype(float),
            "last_activity_days": frame["last_activity_days"].astype(float),
            "activity_status": [activity_status(d) for d in frame["last_activity_days"]],
            "channel_mix": mixes,
            "digital_share": [_digital(m) for m in mixes],
        },
        index=frame.index,
    )
