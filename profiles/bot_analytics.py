"""Bot analytics: aggregate figures over the transcript store (``conversation_events``) and the hand-off requests.

Only aggregates leave this module (no sender id, text or customer): the page is open to marketing too.

Definitions (all UTC; ``date_from``..``date_to`` inclusive):

- a **conversation** is one ``sender_id``; it belongs to the day of its first user message, and is counted when
  that day is in the range (its later events count with it); its channel is the one its events name;
- **messages** are user messages sent in the range (by their own day);
- **containment** = conversations without a hand-off (the inbox's ``handoff`` flag,
  ``profiles.conversations.FLAG_RULES``) / conversations;
- **hand-off rate** = conversations with that flag / conversations; **fallback rate** = conversations with the
  ``fallback`` flag / conversations, and user messages classified ``nlu_fallback`` / user messages;
- **hand-off waiting time**: requests (``handoff_requests``) created in the range; for each taken one
  ``taken_at - created_at``; those never taken are "still waiting" (open) or "closed untaken";
- **transfers**: a ``transfer_form`` start (``active_loop`` event) in a counted conversation is a task started;
  it ends ``completed`` when ``action_submit_transfer`` is followed by the slot ``resolved`` = true (the money
  moved), ``failed`` when it ran without that, ``abandoned`` when ``action_cancel_form`` ran or the customer
  answered the read-back with no (``transfer_confirmed`` = false before the submit), else ``unfinished``;
- **CSAT**: the last ``csat`` slot event of each conversation (``actions/csat.py``, an integer 1..5) set in the
  range, by its day;
- **failing intents**: per intent, the user messages that fell back (``nlu_fallback``, counted under the intent
  the classifier ranked next) and the mean confidence of the messages classified as that intent.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from statistics import mean, median
from typing import Any, Final

from sqlalchemy import ColumnElement, and_, case, func, select
from sqlalchemy.orm import Session

from profiles.conversations import FLAG_RULES
from profiles.db import session_scope
from profiles.errors import InvalidInput
from profiles.models import ConversationEvent, HandoffRequest

E = ConversationEvent
DEFAULT_DAYS: Final = 30
MAX_DAYS: Final = 366
TOP_INTENTS: Final = 8
TOP_FAILING: Final = 10
LOW_CONFIDENCE: Final = 0.5
CSAT_SCORES: Final = (1, 2, 3, 4, 5)
FALLBACK_INTENT: Final = "nlu_fallback"


@dataclass(frozen=True, slots=True)
class AnalyticsRange:
    """UTC days, inclusive."""

    date_from: date
    date_to: date

    @property
    def start(self) -> datetime:
        return datetime.combine(self.date_from, time.min, UTC)

    @property
    def end(self) -> datetime:
        return datetime.combine(self.date_to + timedelta(days=1), time.min, UTC)

    def days(self) -> list[date]:
        return [self.date_from + timedelta(days=n) for n in range((self.date_to - self.date_from).days + 1)]


MIN_YEAR, MAX_YEAR = 2000, 2100  # a bank chat's conversations; outside it day arithmetic could overflow


def parse_range(params: Mapping[str, str], today: date | None = None) -> AnalyticsRange:
    """``date_from``/``date_to`` (YYYY-MM-DD) from a query string; default the last 30 days to today.

    Raises:
        InvalidInput: not a date, a year outside 2000-2100, from after to, or more than 366 days.
    """
    today = today or datetime.now(UTC).date()
    values: dict[str, date | None] = {}
    for name in ("date_from", "date_to"):
        raw = (params.get(name) or "").strip()
        try:
            values[name] = date.fromisoformat(raw) if raw else None
        except ValueError:
            raise InvalidInput(f"{name} must be a date (YYYY-MM-DD).", field=name) from None
        found = values[name]
        if found is not None and not MIN_YEAR <= found.year <= MAX_YEAR:  # day arithmetic overflows at 1 and 9999
            raise InvalidInput(f"{name} must be between {MIN_YEAR} and {MAX_YEAR}.", field=name)
    date_to = values["date_to"] or today
    date_from = values["date_from"] or date_to - timedelta(days=DEFAULT_DAYS - 1)
    if date_from > date_to:
        raise InvalidInput("date_from is after date_to.", field="date_from")
    if (date_to - date_from).days + 1 > MAX_DAYS:
        raise InvalidInput(f"The range is at most {MAX_DAYS} days.", field="date_from")
    return AnalyticsRange(date_from, date_to)


@dataclass(frozen=True, slots=True)
class Rate:
    """``part`` of ``whole``; ``value`` None when ``whole`` is 0."""

    part: int
    whole: int

    @property
    def value(self) -> float | None:
        return self.part / self.whole if self.whole else None


@dataclass(frozen=True, slots=True)
class DayChannel:
    day: date
    channel: str
    conversations: int
    messages: int


@dataclass(frozen=True, slots=True)
class DayIntent:
    day: date
    intent: str
    messages: int


@dataclass(frozen=True, slots=True)
class HandoffWait:
    """Requests created in the range; waits in seconds over the taken ones."""

    requests: int
    taken: int
    still_waiting: int
    closed_untaken: int
    median_wait_s: float | None
    mean_wait_s: float | None
    max_wait_s: float | None


@dataclass(frozen=True, slots=True)
class TransferTasks:
    started: int
    completed: int
    failed: int
    abandoned: int
    unfinished: int

    @property
    def completion(self) -> Rate:
        return Rate(self.completed, self.started)


@dataclass(frozen=True, slots=True)
class CsatDay:
    day: date
    ratings: int
    mean: float | None


@dataclass(frozen=True, slots=True)
class FailingIntent:
    """``fallbacks``: messages that fell back with this intent ranked next; ``messages``/``mean_confidence``/
    ``low``: messages classified as it, their mean confidence, how many under 0.5."""

    intent: str
    fallbacks: int
    messages: int
    mean_confidence: float | None
    low: int


@dataclass(frozen=True, slots=True)
class BotAnalytics:
    range: AnalyticsRange
    conversations: int
    messages: int
    by_channel: tuple[tuple[str, int, int], ...]  # (channel, conversations, messages)
    by_day_channel: tuple[DayChannel, ...]
    by_intent: tuple[tuple[str, int], ...]  # top intents (messages), then "other"
    by_day_intent: tuple[DayIntent, ...]
    containment: Rate
    handoff_rate: Rate
    fallback_conversations: Rate
    fallback_messages: Rate
    handoff_wait: HandoffWait
    transfers: TransferTasks
    csat_by_day: tuple[CsatDay, ...]
    csat_distribution: tuple[tuple[int, int], ...]  # (score, ratings)
    csat_ratings: int
    csat_mean: float | None
    failing_intents: tuple[FailingIntent, ...]


def _day_expr(dialect: str, column: Any) -> ColumnElement[str]:
    if dialect == "postgresql":
        return func.to_char(func.timezone("UTC", column), "YYYY-MM-DD")
    return func.substr(column, 1, 10)  # SQLite keeps naive UTC text "YYYY-MM-DD HH:MM:SS..."


def _as_date(value: Any) -> date:
    return value if isinstance(value, date) else date.fromisoformat(str(value)[:10])


def _csat_value(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, str) and value.strip().isdigit():
        value = int(value.strip())
    return value if isinstance(value, int) and value in CSAT_SCORES else None


def _conversations(session: Session, r: AnalyticsRange) -> list[Any]:
    """One row per counted conversation: sender_id, started (first user message), channel, handoff, fallback."""
    first_user = func.min(case((E.event_type == "user", E.timestamp)))
    stmt = (
        select(E.sender_id, first_user.label("started"), func.max(E.channel).label("channel"),
               *(func.max(case((FLAG_RULES[n], 1), else_=0)).label(n) for n in ("handoff", "fallback")))
        .group_by(E.sender_id)
        .having(and_(first_user >= r.start, first_user < r.end))
    )
    return list(session.execute(stmt))


def _in_range(stmt: Any, r: AnalyticsRange) -> Any:
    return stmt.where(E.timestamp >= r.start, E.timestamp < r.end)


def transfer_tasks(session: Session, senders: set[str]) -> TransferTasks:
    """The transfer tasks of the conversations ``senders`` and how each ended (the rule in this module's
    docstring), read from the transcript store in ``session``."""
    counts: Counter[str] = Counter()
    if not senders:
        return TransferTasks(0, 0, 0, 0, 0)
    rows = session.execute(
        select(E.sender_id, E.event_type, E.action_name, E.data)
        .where(E.event_type.in_(("active_loop", "action", "slot")))
        .where(E.sender_id.in_(select(E.sender_id).where(E.event_type == "active_loop").distinct()))
        .order_by(E.sender_id, E.timestamp, E.id))
    state: dict[str, str | None] = {}  # sender -> "open" | "submitted" while a transfer task is followed
    declined: set[str] = set()  # senders whose open transfer's read-back was answered "no"

    def finish(sender: str, outcome: str) -> None:
        counts[outcome] += 1
        state[sender] = None
        declined.discard(sender)

    for sender, kind, action, data in rows:
        if sender not in senders:
            continue
        current = state.get(sender)
        if kind == "active_loop" and (data or {}).get("name") == "transfer_form":
            if current == "open":
                finish(sender, "unfinished")
            elif current == "submitted":
                finish(sender, "failed")
            counts["started"] += 1
            state[sender] = "open"
        elif kind == "action" and current is not None:
            if action == "action_submit_transfer" and current == "open":
                if sender in declined:  # the submit only says nothing was sent
                    finish(sender, "abandoned")
                else:
                    state[sender] = "submitted"
            elif action == "action_cancel_form" and current == "open":
                finish(sender, "abandoned")
            elif current == "submitted" and action != "action_listen":
                finish(sender, "failed")
        elif kind == "slot" and current == "open" and (data or {}).get("name") == "transfer_confirmed":
            if (data or {}).get("value") is False:
                declined.add(sender)
            else:
                declined.discard(sender)
        elif (kind == "slot" and current == "submitted" and (data or {}).get("name") == "resolved"
              and (data or {}).get("value") is True):
            finish(sender, "completed")
    for current in state.values():
        if current == "open":
            counts["unfinished"] += 1
        elif current == "submitted":
            counts["failed"] += 1
    return TransferTasks(counts["started"], counts["completed"], counts["failed"], counts["abandoned"],
                         counts["unfinished"])


def _handoff_wait(session: Session, r: AnalyticsRange) -> HandoffWait:
    rows = session.execute(select(HandoffRequest.status, HandoffRequest.created_at, HandoffRequest.taken_at)
                           .where(HandoffRequest.created_at >= r.start, HandoffRequest.created_at < r.end)).all()
    waits: list[float] = []
    still = untaken = 0
    for status, created, taken in rows:
        if taken is not None:
            created = created if created.tzinfo else created.replace(tzinfo=UTC)
            taken = taken if taken.tzinfo else taken.replace(tzinfo=UTC)
            waits.append(max(0.0, (taken - created).total_seconds()))
        elif status == "open":
            still += 1
        else:
            untaken += 1
    return HandoffWait(len(rows), len(waits), still, untaken, median(waits) if waits else None,
                       mean(waits) if waits else None, max(waits) if waits else None)


def _failing(session: Session, r: AnalyticsRange) -> tuple[FailingIntent, ...]:
    confidence = E.data["parse_data"]["intent"]["confidence"].as_float()
    users = _in_range(select(E.intent, func.count(), func.avg(confidence),
                             func.sum(case((confidence < LOW_CONFIDENCE, 1), else_=0)))
                      .where(E.event_type == "user", E.intent.is_not(None), E.intent != FALLBACK_INTENT)
                      .group_by(E.intent), r)
    stats = {intent: (int(n), float(avg) if avg is not None else None, int(low or 0))
             for intent, n, avg, low in session.execute(users)}
    fallbacks: Counter[str] = Counter()
    for (data,) in session.execute(_in_range(select(E.data).where(E.event_type == "user",
                                                                  E.intent == FALLBACK_INTENT), r)):
        ranking = ((data or {}).get("parse_data") or {}).get("intent_ranking") or []
        names = [i.get("name") for i in ranking if isinstance(i, Mapping)]
        nxt = next((n for n in names if isinstance(n, str) and n != FALLBACK_INTENT), None)
        fallbacks[nxt or "(none)"] += 1
    out = [FailingIntent(intent, fallbacks.get(intent, 0), *stats.get(intent, (0, None, 0)))
           for intent in set(stats) | set(fallbacks)]
    out.sort(key=lambda f: (-f.fallbacks, f.mean_confidence if f.mean_confidence is not None else 2.0, f.intent))
    return tuple(out[:TOP_FAILING])


def bot_analytics(r: AnalyticsRange) -> BotAnalytics:
    """Every figure of the analytics page for ``r`` (see the module doc for the definitions)."""
    with session_scope() as session:
        dialect = session.get_bind().dialect.name
        convs = _conversations(session, r)
        senders = {c.sender_id for c in convs}
        day = _day_expr(dialect, E.timestamp)

        conv_days: Counter[tuple[date, str]] = Counter()
        for c in convs:
            started = c.started if isinstance(c.started, datetime) else datetime.fromisoformat(str(c.started))
            conv_days[(started.date(), c.channel or "unknown")] += 1
        msg_days: Counter[tuple[date, str]] = Counter()
        for d, channel, n in session.execute(_in_range(
                select(day, E.channel, func.count()).where(E.event_type == "user").group_by(day, E.channel), r)):
            msg_days[(_as_date(d), channel or "unknown")] += int(n)
        keys = sorted(set(conv_days) | set(msg_days))
        by_day_channel = tuple(DayChannel(d, ch, conv_days.get((d, ch), 0), msg_days.get((d, ch), 0))
                               for d, ch in keys)
        channels: dict[str, list[int]] = defaultdict(lambda: [0, 0])
        for row in by_day_channel:
            channels[row.channel][0] += row.conversations
            channels[row.channel][1] += row.messages
        by_channel = tuple(sorted(((ch, v[0], v[1]) for ch, v in channels.items()), key=lambda t: (-t[2], t[0])))

        intent_days = [(_as_date(d), intent or "(none)", int(n)) for d, intent, n in session.execute(_in_range(
            select(day, E.intent, func.count()).where(E.event_type == "user").group_by(day, E.intent), r))]
        totals: Counter[str] = Counter()
        for _, intent, n in intent_days:
            totals[intent] += n
        top = [i for i, _ in sorted(totals.items(), key=lambda t: (-t[1], t[0]))[:TOP_INTENTS]]
        grouped: Counter[tuple[date, str]] = Counter()
        for d, intent, n in intent_days:
            grouped[(d, intent if intent in top else "other")] += n
        by_intent = [(i, totals[i]) for i in top]
        other = sum(n for i, n in totals.items() if i not in top)
        if other:
            by_intent.append(("other", other))
        by_day_intent = tuple(DayIntent(d, i, n) for (d, i), n in sorted(grouped.items()))

        messages = sum(totals.values())
        handoffs = sum(1 for c in convs if c.handoff)
        fallback_convs = sum(1 for c in convs if c.fallback)

        last: dict[str, tuple[date, int]] = {}  # a conversation's CSAT is its last rating in the range
        for sender, ts, data in session.execute(_in_range(
                select(E.sender_id, E.timestamp, E.data).where(E.event_type == "slot",
                                                               E.data["name"].as_string() == "csat"), r)
                .order_by(E.timestamp, E.id)):
            score = _csat_value((data or {}).get("value"))
            if score is not None:
                last[sender] = (ts.date(), score)
        ratings = list(last.values())
        per_day: dict[date, list[int]] = defaultdict(list)
        for d, score in ratings:
            per_day[d].append(score)
        scores = [s for _, s in ratings]
        return BotAnalytics(
            range=r, conversations=len(convs), messages=messages, by_channel=by_channel,
            by_day_channel=by_day_channel, by_intent=tuple(by_intent), by_day_intent=by_day_intent,
            containment=Rate(len(convs) - handoffs, len(convs)), handoff_rate=Rate(handoffs, len(convs)),
            fallback_conversations=Rate(fallback_convs, len(convs)),
            fallback_messages=Rate(totals.get(FALLBACK_INTENT, 0), messages),
            handoff_wait=_handoff_wait(session, r), transfers=transfer_tasks(session, senders),
            csat_by_day=tuple(CsatDay(d, len(v), mean(v)) for d, v in sorted(per_day.items())),
            csat_distribution=tuple((s, scores.count(s)) for s in CSAT_SCORES), csat_ratings=len(scores),
            csat_mean=mean(scores) if scores else None, failing_intents=_failing(session, r),
        )


def as_json(a: BotAnalytics) -> dict[str, Any]:
    """The figures as JSON-ready plain data (the ``/analytics/bot`` answer)."""

    def rate(x: Rate) -> dict[str, Any]:
        return {"part": x.part, "whole": x.whole, "rate": x.value}

    w, t = a.handoff_wait, a.transfers
    return {
        "date_from": a.range.date_from.isoformat(), "date_to": a.range.date_to.isoformat(),
        "conversations": a.conversations, "messages": a.messages,
        "by_channel": [{"channel": c, "conversations": n, "messages": m} for c, n, m in a.by_channel],
        "by_day_channel": [{"day": x.day.isoformat(), "channel": x.channel, "conversations": x.conversations,
                            "messages": x.messages} for x in a.by_day_channel],
        "by_intent": [{"intent": i, "messages": n} for i, n in a.by_intent],
        "by_day_intent": [{"day": x.day.isoformat(), "intent": x.intent, "messages": x.messages}
                          for x in a.by_day_intent],
        "containment": rate(a.containment), "handoff_rate": rate(a.handoff_rate),
        "fallback_conversations": rate(a.fallback_conversations), "fallback_messages": rate(a.fallback_messages),
        "handoff_wait": {"requests": w.requests, "taken": w.taken, "still_waiting": w.still_waiting,
                         "closed_untaken": w.closed_untaken, "median_wait_s": w.median_wait_s,
                         "mean_wait_s": w.mean_wait_s, "max_wait_s": w.max_wait_s},
        "transfers": {"started": t.started, "completed": t.completed, "failed": t.failed, "abandoned": t.abandoned,
                      "unfinished": t.unfinished, "completion_rate": t.completion.value},
        "csat": {"ratings": a.csat_ratings, "mean": a.csat_mean,
                 "distribution": {str(s): n for s, n in a.csat_distribution},
                 "by_day": [{"day": x.day.isoformat(), "ratings": x.ratings, "mean": x.mean} for x in a.csat_by_day]},
        "failing_intents": [{"intent": f.intent, "fallbacks": f.fallbacks, "messages": f.messages,
                             "mean_confidence": f.mean_confidence, "low_confidence": f.low}
                            for f in a.failing_intents],
    }
