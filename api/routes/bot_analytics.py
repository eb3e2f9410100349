"""Bot analytics: the staff page ``GET /staff/analytics`` and its JSON ``GET /analytics/bot``.

Figures from ``profiles.bot_analytics`` (aggregates only: no transcript, sender id or customer), so staff, admin
and marketing may all see them. ``date_from``/``date_to`` (YYYY-MM-DD, UTC, inclusive; default the last 30 days,
at most 366). Charts are matplotlib PNGs (the dashboard's ``_png``), each with alt text and its numbers in a
table on the page.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any, Final

from fastapi import APIRouter, Request
from fastapi.responses import Response
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator, PercentFormatter

from api.deps import SalesDep
from api.routes.staff_pages import DASHBOARD_ROLES, PALETTE, _authenticate, _error, _page, _png
from api.schemas import ErrorOut, ValidationErrorOut
from profiles.bot_analytics import BotAnalytics, as_json, bot_analytics, parse_range
from profiles.errors import InvalidInput

ANALYTICS_ROLES: Final = DASHBOARD_ROLES  # staff, marketing, admin: aggregates only

pages = APIRouter(prefix="/staff/analytics", tags=["staff pages"], include_in_schema=False)
api = APIRouter(prefix="/analytics", tags=["bot analytics"])


# ---------------------------------------------------------------------------------------------------- charts


def _style(ax: Any, title: str, ylabel: str) -> None:
    ax.set_title(title)
    ax.set_ylabel(ylabel)
    ax.spines[["top", "right"]].set_visible(False)
    ax.tick_params(axis="x", labelsize=8, rotation=30)


def _stacked_days(a: BotAnalytics, series: dict[str, dict[str, int]], title: str, ylabel: str) -> str:
    days = [d.isoformat() for d in a.range.days()]

    def draw(fig: Figure) -> None:
        ax = fig.subplots()
        bottom = [0] * len(days)
        for i, (name, values) in enumerate(series.items()):
            heights = [values.get(d, 0) for d in days]
            ax.bar(days, heights, bottom=bottom, label=name, color=PALETTE[i % len(PALETTE)])
            bottom = [b + h for b, h in zip(bottom, heights, strict=True)]
        if len(days) > 14:
            ax.set_xticks(days[:: max(1, len(days) // 10)])
        ax.legend(frameon=False, fontsize=8)
        ax.yaxis.set_major_locator(MaxNLocator(integer=True))
        _style(ax, title, ylabel)

    return _png(draw)


def charts(a: BotAnalytics) -> dict[str, str]:
    """PNG data URIs of the page's charts (none for an empty range)."""
    out: dict[str, str] = {}
    if a.messages or a.conversations:
        by_channel: dict[str, dict[str, int]] = defaultdict(dict)
        for row in a.by_day_channel:
            by_channel[row.channel][row.day.isoformat()] = row.conversations
        out["channels"] = _stacked_days(a, dict(by_channel), "Conversations per day by channel", "conversations")
        by_intent: dict[str, dict[str, int]] = defaultdict(dict)
        for x in a.by_day_intent:
            by_intent[x.intent][x.day.isoformat()] = x.messages
        out["intents"] = _stacked_days(a, {i: by_intent[i] for i, _ in a.by_intent},
                                       "Messages per day by intent", "user messages")

        def rates(fig: Figure) -> None:
            ax = fig.subplots()
            names = ["containment", "hand-off", "fallback (conv.)", "fallback (msg.)", "transfer completion"]
            values = [r.value or 0.0 for r in (a.containment, a.handoff_rate, a.fallback_conversations,
                                                a.fallback_messages, a.transfers.completion)]
            bars = ax.bar(names, values, color=PALETTE[: len(names)])
            ax.bar_label(bars, labels=[f"{v:.0%}" for v in values], padding=2, fontsize=8)
            ax.set_ylim(0, 1.1)
            ax.yaxis.set_major_formatter(PercentFormatter(1.0, decimals=0))
            _style(ax, "Outcome rates", "share")

        out["rates"] = _png(rates)
    if a.csat_ratings:
        def csat(fig: Figure) -> None:
            left, right = fig.subplots(1, 2, width_ratios=[2, 1])
            days = [x.day.isoformat() for x in a.csat_by_day]
            left.plot(days, [x.mean for x in a.csat_by_day], marker="o", color=PALETTE[0])
            left.set_ylim(1, 5.2)
            _style(left, "Mean CSAT per day", "score (1–5)")
            right.bar([str(s) for s, _ in a.csat_distribution], [n for _, n in a.csat_distribution], color=PALETTE[2])
            right.yaxis.set_major_locator(MaxNLocator(integer=True))
            _style(right, "Ratings by score", "ratings")

        out["csat"] = _png(csat, width=8.0)
    return out


# ------------------------------------------------------------------------------------------------------ page


def wait_text(seconds: float | None) -> str:
    """A waiting time for people: "–", "45 s", "12 min", "2 h 05 min"."""
    if seconds is None:
        return "–"
    if seconds < 60:
        return f"{seconds:.0f} s"
    minutes = round(seconds / 60)
    return f"{minutes} min" if minutes < 60 else f"{minutes // 60} h {minutes % 60:02d} min"


@pages.get("")
def analytics_page(request: Request) -> Response:
    """The bot analytics page (staff, admin, marketing)."""
    who = _authenticate(request, ANALYTICS_ROLES)
    if isinstance(who, Response):
        return who
    params = {k: v for k, v in request.query_params.items() if k in ("date_from", "date_to")}
    try:
        r = parse_range(params)
    except InvalidInput as exc:
        return _error(request, 422, "Bad date range", str(exc), who)
    a = bot_analytics(r)
    intent_days: dict[str, dict[str, int]] = defaultdict(dict)
    for x in a.by_day_intent:
        intent_days[x.day.isoformat()][x.intent] = x.messages
    return _page(request, "staff/analytics.html", who=who, a=a, charts=charts(a), wait=wait_text,
                 intent_names=[i for i, _ in a.by_intent], intent_days=sorted(intent_days.items()))


# ------------------------------------------------------------------------------------------------------ JSON

_RESPONSES: dict[int | str, dict[str, Any]] = {
    401: {"model": ErrorOut, "description": "no, malformed, expired or forged staff token"},
    422: {"model": ValidationErrorOut, "description": "bad date range; `detail[0].loc` names the field"},
}


@api.get("/bot", responses=_RESPONSES)
def api_bot_analytics(staff: SalesDep, request: Request) -> dict[str, Any]:
    """Every figure of the bot analytics page as JSON (staff, admin, marketing: aggregates only)."""
    params = {k: v for k, v in request.query_params.items() if k in ("date_from", "date_to")}
    return as_json(bot_analytics(parse_range(params)))
