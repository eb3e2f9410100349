"""The staff console's conversation inbox and transcript view, over the transcript store the feed fills.

A conversation is every ``ConversationEvent`` of one Rasa ``sender_id``. Staff never see a sender id: they see
``conversation_ref(sender_id)``, an opaque HMAC. The inbox row (:class:`ConversationSummary`) is aggregated from
the events in SQL; its outcome flags (:data:`FLAG_RULES`) come from the tracker events:

- ``handoff``: intent ``human_handoff`` or action ``action_human_handoff``;
- ``fallback``: intent ``nlu_fallback`` or action ``utter_fallback`` / ``action_default_fallback``;
- ``form_abandoned``: action ``action_cancel_form`` (the customer stopped a form);
- ``transfer_done``: action ``action_submit_transfer``;
- ``complaint``: intent ``complain``.

Its ``csat`` is the last score 1..5 the customer gave (the slot ``csat`` that ``action_store_csat`` sets, stored by
the feed as a ``slot`` event); filter ``csat``: a score, ``rated``, ``unrated`` or ``low`` (1 or 2).

Reads are access-logged (``profiles.access``): ``conversations`` per linked customer an inbox page shows,
``transcript`` per transcript opened (also for anonymous conversations, with ``customer_id`` None).
"""

from __future__ import annotations

import hmac
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, time, timedelta
from typing import Any, Final

from sqlalchemy import ColumnElement, Select, case, func, or_, select, tuple_
from sqlalchemy.orm import Session, aliased

from profiles.access import add_access, record_accesses
from profiles.conversation_ref import HEX_DIGITS, PREFIX, conversation_ref
from profiles.conversation_search import QUERY_MAX, matching_condition, matching_senders
from profiles.db import session_scope
from profiles.errors import InvalidInput, NotFound
from profiles.masking import redact_all, sensitive_values
from profiles.models import (
    ConversationEvent,
    ConversationNote,
    ConversationReview,
    ConversationTag,
    Customer,
    CustomerScore,
    utcnow,
)

REF_PREFIX: Final = PREFIX  # one opaque-id rule: profiles/conversation_ref.py
REF_LENGTH: Final = len(PREFIX) + HEX_DIGITS
CHANNELS: Final = ("rest", "socketio", "telegram", "facebook")
FLAGS: Final = ("handoff", "fallback", "form_abandoned", "transfer_done", "complaint")
PER_PAGE_MAX: Final = 200
TEXT_FIELD_MAX: Final = 80
SEARCH_SENDERS_MAX: Final = 2000
COMMON_WORD_ESTIMATE: Final = 20_000  # matching messages (planner estimate) above which a search walks newest-first
WALK_BATCH: Final = 2000
WALK_MAX: Final = 60_000
CSAT_FILTERS: Final = ("1", "2", "3", "4", "5", "rated", "unrated", "low")

E = ConversationEvent
FLAG_RULES: Final[dict[str, ColumnElement[bool]]] = {
    "handoff": or_(E.intent == "human_handoff", E.action_name == "action_human_handoff"),
    "fallback": or_(E.intent == "nlu_fallback", E.action_name.in_(("utter_fallback", "action_default_fallback"))),
    "form_abandoned": E.action_name == "action_cancel_form",
    "transfer_done": E.action_name == "action_submit_transfer",
    "complaint": E.intent == "complain",
}


# --------------------------------------------------------------------------------------------------- filters


@dataclass(frozen=True, slots=True)
class ConversationFilters:
    """What the inbox shows. ``None`` = not filtered. Flags: True = has it, False = has not.

    ``q`` full-text words (all must occur in one message); ``customer`` ``'known'``/``'anonymous'``;
    ``min_confidence``/``max_confidence`` in [0, 1]: some user message (of ``intent`` when given) has a
    confidence in that range; ``date_from``/``date_to`` (UTC days, inclusive): the conversation was active
    then; ``segment`` the linked customer's segment. ``page`` from 1, ``per_page`` 1..200, newest first.
    """

    q: str | None = None
    channel: str | None = None
    customer: str | None = None
    handoff: bool | None = None
    fallback: bool | None = None
    form_abandoned: bool | None = None
    transfer_done: bool | None = None
    complaint: bool | None = None
    reviewed: bool | None = None
    tag: str | None = None
    assignee: str | None = None
    intent: str | None = None
    min_confidence: float | None = None
    max_confidence: float | None = None
    date_from: date | None = None
    date_to: date | None = None
    segment: str | None = None
    csat: str | None = None
    page: int = 1
    per_page: int = 25

    def query_items(self) -> list[tuple[str, str]]:
        """The filters (without paging) as query-string pairs, the inverse of :func:`parse_filters`."""
        items: list[tuple[str, str]] = []
        for name in FILTER_FIELDS:
            value = getattr(self, name)
            if value is None:
                continue
            items.append((name, ("1" if value else "0") if isinstance(value, bool) else str(value)))
        return items


FILTER_FIELDS: Final = ("q", "channel", "customer", *FLAGS, "reviewed", "tag", "assignee", "intent",
                        "min_confidence", "max_confidence", "date_from", "date_to", "segment", "csat")
_TRUE, _FALSE = ("1", "true", "yes", "on"), ("0", "false", "no", "off")


def _flag(name: str, raw: str) -> bool | None:
    value = raw.strip().lower()
    if value in ("", "any"):
        return None
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise InvalidInput(f"{name} must be yes or no.", field=name)


def _text(name: str, raw: str, limit: int = TEXT_FIELD_MAX) -> str | None:
    value = raw.strip()
    if len(value) > limit:
        raise InvalidInput(f"{name} is longer than {limit} characters.", field=name)
    return value or None


def _confidence(name: str, raw: str) -> float | None:
    value = raw.strip()
    if not value:
        return None
    try:
        number = float(value)
    except ValueError:
        raise InvalidInput(f"{name} must be a number between 0 and 1.", field=name) from None
    if not 0.0 <= number <= 1.0:  # also refuses nan
        raise InvalidInput(f"{name} must be a number between 0 and 1.", field=name)
    return number


def _day(name: str, raw: str) -> date | None:
    value = raw.strip()
    if not value:
        return None
    try:
        day = date.fromisoformat(value)
    except ValueError:
        raise InvalidInput(f"{name} must be a date (YYYY-MM-DD).", field=name) from None
    if day == date.max:  # the filter runs to the next midnight, which date cannot hold (was a 500)
        raise InvalidInput(f"{name} must be a date before {date.max.isoformat()}.", field=name)
    return day


def _int(name: str, raw: str, low: int, high: int, default: int) -> int:
    value = raw.strip()
    if not value:
        return default
    if not value.isascii() or not value.isdigit() or not low <= int(value) <= high:
        raise InvalidInput(f"{name} must be a whole number from {low} to {high}.", field=name)
    return int(value)


def parse_filters(params: Mapping[str, str]) -> ConversationFilters:
    """Filters from a query string's (last) values; unknown names are ignored, empty values mean "any".

    Raises:
        InvalidInput: a value that is not what its filter takes (``field`` names it).
    """
    get = lambda name: params.get(name) or ""  # noqa: E731
    channel = _text("channel", get("channel"))
    if channel is not None and channel not in CHANNELS:
        raise InvalidInput(f"channel must be one of {', '.join(CHANNELS)}.", field="channel")
    customer = _text("customer", get("customer"))
    csat = _text("csat", get("csat"))
    if csat is not None and csat not in CSAT_FILTERS:
        raise InvalidInput("csat must be a score 1 to 5, rated, unrated or low.", field="csat")
    if customer is not None and customer not in ("known", "anonymous"):
        raise InvalidInput("customer must be known or anonymous.", field="customer")
    filters = ConversationFilters(
        q=_text("q", get("q"), QUERY_MAX), channel=channel, customer=customer,
        **{name: _flag(name, get(name)) for name in (*FLAGS, "reviewed")},
        tag=_text("tag", get("tag"), 40), assignee=_text("assignee", get("assignee")),
        intent=_text("intent", get("intent")),
        min_confidence=_confidence("min_confidence", get("min_confidence")),
        max_confidence=_confidence("max_confidence", get("max_confidence")),
        date_from=_day("date_from", get("date_from")), date_to=_day("date_to", get("date_to")),
        segment=_text("segment", get("segment"), 40), csat=csat,
        page=_int("page", get("page"), 1, 100_000, 1), per_page=_int("per_page", get("per_page"), 1, PER_PAGE_MAX, 25),
    )
    if (filters.min_confidence is not None and filters.max_confidence is not None
            and filters.min_confidence > filters.max_confidence):
        raise InvalidInput("min_confidence is above max_confidence.", field="min_confidence")
    if filters.date_from and filters.date_to and filters.date_from > filters.date_to:
        raise InvalidInput("date_from is after date_to.", field="date_from")
    return filters


# ----------------------------------------------------------------------------------------------------- inbox


@dataclass(frozen=True, slots=True)
class ConversationSummary:
    """One inbox row. ``customer`` is "First Last" of the linked customer or None (anonymous); times UTC;
    ``turns`` = user messages; ``flags`` maps each of :data:`FLAGS` to bool; ``csat`` 1..5 or None (not asked)."""

    ref: str
    customer_id: int | None
    customer: str | None
    channel: str | None
    started_at: datetime
    last_at: datetime
    turns: int
    flags: dict[str, bool]
    tags: tuple[str, ...]
    reviewed: bool
    assignee: str | None
    segment: str | None
    csat: int | None = None


@dataclass(frozen=True, slots=True)
class ConversationPage:
    """One page of the inbox: ``items`` newest first, ``total`` matching conversations. ``total_exact`` False:
    a search for a very common word was paged newest-first without counting every match (see
    :func:`list_conversations`); ``total`` is then a lower bound (this page's end, + 1 when there are more)."""

    items: tuple[ConversationSummary, ...]
    total: int
    page: int
    per_page: int
    total_exact: bool = True

    @property
    def pages(self) -> int:
        """Number of pages (at least 1)."""
        return max(1, -(-self.total // self.per_page))


def _confidence_column() -> ColumnElement[float]:
    return E.data["parse_data"]["intent"]["confidence"].as_float()


def _csat_column(sender_id: Any) -> ColumnElement[float]:
    """The conversation's last ``csat`` slot value (a number; None when never rated)."""
    c = aliased(ConversationEvent)
    return (select(c.data["value"].as_float())
            .where(c.sender_id == sender_id, c.event_type == "slot", c.data["name"].as_string() == "csat")
            .order_by(c.timestamp.desc(), c.id.desc()).limit(1).scalar_subquery())


def _summary_select(session: Session, f: ConversationFilters, only: Sequence[str] | None = None) -> Select[Any]:
    """The inbox query (one row per conversation, not yet ordered or paged) for ``f``.

    A search first reads the matching sender ids (at most :data:`SEARCH_SENDERS_MAX`) and aggregates only
    their events through the (sender_id, timestamp) index: with the search as a subquery PostgreSQL hashes
    every event of the store. More matches than that fall back to the subquery (slower, see the benchmark).
    """
    dialect = session.get_bind().dialect.name
    flags = [func.max(case((rule, 1), else_=0)).label(name) for name, rule in FLAG_RULES.items()]
    inner = (
        select(E.sender_id, func.min(E.timestamp).label("started_at"), func.max(E.timestamp).label("last_at"),
               func.sum(case((E.event_type == "user", 1), else_=0)).label("turns"),
               func.max(E.customer_id).label("customer_id"), func.max(E.channel).label("channel"), *flags)
        .group_by(E.sender_id)
    )
    if only is not None:  # only these conversations (the newest-first search walk)
        inner = inner.where(E.sender_id.in_(only))
    if f.q:
        senders = matching_senders(dialect, f.q)
        if senders is not None:
            found = list(session.scalars(senders.distinct().limit(SEARCH_SENDERS_MAX + 1)))
            inner = inner.where(E.sender_id.in_(found if len(found) <= SEARCH_SENDERS_MAX else senders))
    if f.intent or f.min_confidence is not None or f.max_confidence is not None:
        users = select(E.sender_id).where(E.event_type == "user")
        if f.intent:
            users = users.where(E.intent == f.intent)
        if f.min_confidence is not None:
            users = users.where(_confidence_column() >= f.min_confidence)
        if f.max_confidence is not None:
            users = users.where(_confidence_column() <= f.max_confidence)
        inner = inner.where(E.sender_id.in_(users))
    s = inner.subquery("s")
    csat = _csat_column(s.c.sender_id)
    stmt = (
        select(s, csat.label("csat"), ConversationReview.reviewed, ConversationReview.assignee, ConversationReview.ref,
               Customer.first_name, Customer.last_name, CustomerScore.segment)
        .outerjoin(ConversationReview, ConversationReview.sender_id == s.c.sender_id)
        .outerjoin(Customer, Customer.id == s.c.customer_id)
        .outerjoin(CustomerScore, CustomerScore.customer_id == s.c.customer_id)
        .where(s.c.turns > 0)
    )
    for name in FLAGS:
        wanted = getattr(f, name)
        if wanted is not None:
            stmt = stmt.where(s.c[name] == (1 if wanted else 0))
    if f.channel:
        stmt = stmt.where(s.c.channel == f.channel)
    if f.customer == "known":
        stmt = stmt.where(s.c.customer_id.is_not(None))
    elif f.customer == "anonymous":
        stmt = stmt.where(s.c.customer_id.is_(None))
    if f.reviewed is True:
        stmt = stmt.where(ConversationReview.reviewed.is_(True))
    elif f.reviewed is False:
        stmt = stmt.where(or_(ConversationReview.reviewed.is_(None), ConversationReview.reviewed.is_(False)))
    if f.assignee:
        stmt = stmt.where(ConversationReview.assignee == f.assignee)
    if f.tag:
        stmt = stmt.where(s.c.sender_id.in_(select(ConversationTag.sender_id).where(ConversationTag.tag == f.tag)))
    if f.segment:
        stmt = stmt.where(CustomerScore.segment == f.segment)
    if f.csat == "rated":
        stmt = stmt.where(csat.between(1, 5))
    elif f.csat == "unrated":
        stmt = stmt.where(or_(csat.is_(None), csat < 1, csat > 5))
    elif f.csat == "low":
        stmt = stmt.where(csat.between(1, 2))
    elif f.csat is not None:
        stmt = stmt.where(csat == int(f.csat))
    if f.date_from:
        stmt = stmt.where(s.c.last_at >= datetime.combine(f.date_from, time.min, UTC))
    if f.date_to:
        stmt = stmt.where(s.c.started_at < datetime.combine(f.date_to + timedelta(days=1), time.min, UTC))
    return stmt


def _as_utc(value: Any) -> datetime:
    if isinstance(value, str):  # SQLite's min()/max() over the UTCDateTime column come back as text
        value = datetime.fromisoformat(value)
    assert isinstance(value, datetime)
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def _tags(session: Session, sender_ids: Sequence[str]) -> dict[str, tuple[str, ...]]:
    out: dict[str, list[str]] = {}
    if sender_ids:
        rows = session.execute(select(ConversationTag.sender_id, ConversationTag.tag)
                               .where(ConversationTag.sender_id.in_(sender_ids)).order_by(ConversationTag.tag))
        for sender, tag in rows:
            out.setdefault(sender, []).append(tag)
    return {k: tuple(v) for k, v in out.items()}


def _csat(value: Any) -> int | None:
    return int(value) if isinstance(value, int | float) and value in (1, 2, 3, 4, 5) else None


def _summaries(session: Session, rows: Sequence[Any]) -> list[tuple[str, ConversationSummary]]:
    tags = _tags(session, [r.sender_id for r in rows])
    out = []
    for r in rows:
        name = f"{r.first_name} {r.last_name}" if r.first_name is not None else None
        out.append((r.sender_id, ConversationSummary(
            ref=r.ref or conversation_ref(r.sender_id), customer_id=r.customer_id, customer=name,
            channel=r.channel, started_at=_as_utc(r.started_at), last_at=_as_utc(r.last_at), turns=int(r.turns),
            flags={n: bool(getattr(r, n)) for n in FLAGS}, tags=tags.get(r.sender_id, ()),
            reviewed=bool(r.reviewed), assignee=r.assignee, segment=r.segment, csat=_csat(r.csat))))
    return out


def matching_sender_ids(session: Session, filters: ConversationFilters, limit: int | None = None) -> list[str]:
    """Sender ids of every conversation ``filters`` match (paging ignored), newest first; for bulk actions and
    exports inside profiles/ (never shown)."""
    stmt = _summary_select(session, filters)
    s = stmt.subquery("m")
    query = select(s.c.sender_id).order_by(s.c.last_at.desc(), s.c.sender_id)
    if limit is not None:
        query = query.limit(limit)
    return list(session.scalars(query))


def summaries_for(session: Session, sender_ids: Sequence[str]) -> list[tuple[str, ConversationSummary]]:
    """The inbox rows of ``sender_ids`` (newest first), with their sender ids (inside profiles/ only)."""
    if not sender_ids:
        return []
    stmt = _summary_select(session, ConversationFilters())
    s = stmt.subquery("x")
    rows = session.execute(select(s).where(s.c.sender_id.in_(sender_ids)).order_by(s.c.last_at.desc())).all()
    return _summaries(session, rows)


def list_conversations(filters: ConversationFilters, *, staff: str, role: str) -> ConversationPage:
    """One inbox page (newest first by last activity); each linked customer shown is access-logged
    (``conversations``).

    Raises:
        InvalidInput: bad staff/role names (``profiles.access``).
    """
    with session_scope() as session:
        walked = _common_word_page(session, filters) or _search_only_page(session, filters)
        if walked is not None:
            items, total, exact = walked
        else:
            stmt = _summary_select(session, filters)
            total = int(session.scalar(select(func.count()).select_from(stmt.subquery("c"))) or 0)
            s = stmt.subquery("p")
            rows = session.execute(select(s).order_by(s.c.last_at.desc(), s.c.sender_id)
                                   .limit(filters.per_page).offset((filters.page - 1) * filters.per_page)).all()
            items, exact = tuple(summary for _, summary in _summaries(session, rows)), True
    record_accesses(staff, role, [i.customer_id for i in items if i.customer_id is not None], "conversations",
                    f"inbox page {filters.page}; filters: {','.join(k for k, _ in filters.query_items()) or 'none'}")
    return ConversationPage(items=items, total=total, page=filters.page, per_page=filters.per_page,
                            total_exact=exact)


def _common_word_page(session: Session, f: ConversationFilters
                      ) -> tuple[tuple[ConversationSummary, ...], int, bool] | None:
    """A search page for a word in very many messages, or an inbox page without a search over a large store
    (PostgreSQL; both above ``COMMON_WORD_ESTIMATE`` messages), or None for the ordinary path.

    Counting and ranking every conversation that holds a common word means aggregating most of the store
    (seconds at 1,000,000 messages). When the planner's estimate of matching messages is above
    ``COMMON_WORD_ESTIMATE``, conversations are instead walked newest-first (events by ``(timestamp, id)``,
    batches of ``WALK_BATCH``), each batch's new conversations tested for the words (their own events, through
    the ``(sender_id, timestamp)`` index, not the GIN index) and the other filters, until this page and one more
    conversation are found (batches start small and double up to ``WALK_BATCH``): the total is then a lower bound. After ``WALK_MAX`` events without a full page (a
    common word with a rare filter) the ordinary path answers."""
    if session.get_bind().dialect.name != "postgresql":
        return None
    condition = matching_condition("postgresql", f.q) if f.q else None
    if f.q and condition is None:
        return None
    # No search at all (the inbox itself, or only flag/date filters): the same walk once the store is large,
    # so the first page never aggregates every conversation (1.6 s at 1,000,000 messages).
    estimate = select(E.id) if condition is None else select(E.id).where(condition)
    if _estimated_rows(session, estimate) < COMMON_WORD_ESTIMATE:
        return None
    need = f.page * f.per_page + 1
    rest = replace(f, q=None)
    seen: set[str] = set()
    found: list[Any] = []
    cursor: tuple[Any, int] | None = None
    scanned, batch_size = 0, min(WALK_BATCH, max(200, need * 12))
    while len(found) < need:
        if scanned >= WALK_MAX:
            return None
        query = select(E.timestamp, E.id, E.sender_id).order_by(E.timestamp.desc(), E.id.desc()).limit(batch_size)
        if cursor is not None:
            query = query.where(tuple_(E.timestamp, E.id) < tuple_(*cursor))
        batch = session.execute(query).all()
        if not batch:
            break
        scanned += len(batch)
        batch_size = min(batch_size * 2, WALK_BATCH)  # a first small batch: a common word fills a page quickly
        cursor = (batch[-1].timestamp, batch[-1].id)
        new = [r.sender_id for r in batch if not (r.sender_id in seen or seen.add(r.sender_id))]  # type: ignore[func-returns-value]
        if not new:
            continue
        # bool_or in HAVING: evaluated on these conversations' own rows, never through the GIN index
        hits = set(new) if condition is None else set(session.scalars(
            select(E.sender_id).where(E.sender_id.in_(new)).group_by(E.sender_id).having(func.bool_or(condition))))
        if not hits:
            continue
        s = _summary_select(session, rest, only=[x for x in new if x in hits]).subquery("w")
        rows = {r.sender_id: r for r in session.execute(select(s))}
        found += [rows[x] for x in new if x in rows]
    start = (f.page - 1) * f.per_page
    page_rows = found[start:start + f.per_page]
    more = len(found) > start + f.per_page
    items = tuple(summary for _, summary in _summaries(session, page_rows))
    return items, start + len(page_rows) + (1 if more else 0), not more and len(found) < need


def _search_only_page(session: Session, f: ConversationFilters
                      ) -> tuple[tuple[ConversationSummary, ...], int, bool] | None:
    """A search page when ``q`` is the only filter and matches at most ``SEARCH_SENDERS_MAX`` conversations:
    they are ordered by their last event through the ``(sender_id, timestamp)`` index and only the page's
    conversations are aggregated into inbox rows (not all of them, as the general path does); None otherwise."""
    if not f.q or any(getattr(f, name) is not None for name in FILTER_FIELDS if name != "q"):
        return None
    senders = matching_senders(session.get_bind().dialect.name, f.q)
    if senders is None:
        return None
    # one query: the matching conversations (up to one more than the limit) and, per conversation, its newest
    # event (a backward step on the (sender_id, timestamp) index) and whether it has a user message (the first
    # rows of that index): a few rows each instead of all of their events
    m = senders.distinct().limit(SEARCH_SENDERS_MAX + 1).subquery("m")
    e2 = aliased(ConversationEvent)
    last_at = select(func.max(e2.timestamp)).where(e2.sender_id == m.c.sender_id).scalar_subquery()
    has_user = select(e2.id).where(e2.sender_id == m.c.sender_id, e2.event_type == "user").exists()
    rows_found = session.execute(select(m.c.sender_id, last_at.label("last_at"), has_user.label("has_user"))).all()
    if len(rows_found) > SEARCH_SENDERS_MAX:
        return None
    last = [r for r in rows_found if r.has_user]
    ordered = sorted(last, key=lambda r: (-_as_utc(r.last_at).timestamp(), r.sender_id))
    start = (f.page - 1) * f.per_page
    page = [r.sender_id for r in ordered[start:start + f.per_page]]
    if not page:
        return (), len(ordered), True
    s = _summary_select(session, ConversationFilters(), only=page).subquery("o")
    rows = session.execute(select(s).order_by(s.c.last_at.desc(), s.c.sender_id)).all()
    return tuple(summary for _, summary in _summaries(session, rows)), len(ordered), True


def _estimated_rows(session: Session, query: Select[Any]) -> float:
    """The PostgreSQL planner's estimate of the rows ``query`` returns (EXPLAIN, not run). Its values are
    inlined: EXPLAIN takes no bound parameters, and the search words are letters and digits only."""
    sql = query.compile(dialect=session.get_bind().dialect, compile_kwargs={"literal_binds": True})
    plan: Any = session.connection().exec_driver_sql(f"EXPLAIN (FORMAT JSON) {sql}").scalar()
    if isinstance(plan, str):
        plan = json.loads(plan)
    return float(plan[0]["Plan"]["Plan Rows"])


# ------------------------------------------------------------------------------------------------ references


def remember_ref(session: Session, sender_id: str) -> ConversationReview:
    """The review row of ``sender_id``, made (not reviewed, with its ref) when missing."""
    row = session.get(ConversationReview, sender_id)
    if row is None:
        row = ConversationReview(sender_id=sender_id, ref=conversation_ref(sender_id), reviewed=False,
                                 updated_at=utcnow())
        session.add(row)
        session.flush()
    return row


def resolve_ref(session: Session, ref: str) -> str:
    """The sender id behind ``ref``: the review table first, else every stored sender id is hashed once
    (the ref is then remembered).

    Raises:
        NotFound: not a ref of any stored conversation.
    """
    if not (isinstance(ref, str) and len(ref) == REF_LENGTH and ref.startswith(REF_PREFIX)
            and all(c in "0123456789abcdef" for c in ref[2:])):
        raise NotFound("There is no such conversation.")
    sender = session.scalar(select(ConversationReview.sender_id).where(ConversationReview.ref == ref))
    if sender is not None:
        return sender
    for candidate in session.scalars(select(E.sender_id).distinct()):
        if hmac.compare_digest(conversation_ref(candidate), ref):
            remember_ref(session, candidate)
            return candidate
    raise NotFound("There is no such conversation.")


# ------------------------------------------------------------------------------------------------ transcript


@dataclass(frozen=True, slots=True)
class Turn:
    """One line of a transcript, masked. ``kind``: ``user`` (``text``, ``intent``, ``confidence`` 0..1,
    ``entities`` [(entity, masked value)]), ``bot`` (``text``, ``buttons`` titles, ``extra`` e.g. an image
    link), ``action`` (``action`` name, ``slots`` [(slot, masked value)] set by it), ``form`` (``action`` = the
    form started, or ``None`` when a form ended). ``event_id`` and ``maskable`` (how many values an admin may
    unmask) identify what :func:`profiles.conversation_review.unmask` can show."""

    kind: str
    at: datetime
    event_id: int
    text: str | None = None
    intent: str | None = None
    confidence: float | None = None
    entities: tuple[tuple[str, str], ...] = ()
    buttons: tuple[str, ...] = ()
    extra: tuple[str, ...] = ()
    action: str | None = None
    slots: tuple[tuple[str, str], ...] = field(default_factory=tuple)
    maskable: int = 0
    agent: str | None = None  # a bot turn a staff member wrote (live hand-off): their username


@dataclass(frozen=True, slots=True)
class Note:
    """A staff note: who, when, masked text."""

    staff: str
    text: str
    created_at: datetime


@dataclass(frozen=True, slots=True)
class Transcript:
    """A whole conversation as staff see it: its inbox row, turns in order, notes newest first."""

    summary: ConversationSummary
    turns: tuple[Turn, ...]
    notes: tuple[Note, ...]


def _masked(value: Any) -> str:
    return redact_all(value if isinstance(value, str) else str(value))


def _agent(data: Mapping[str, Any]) -> str | None:
    """The staff username a bot event's live hand-off metadata names (profiles/live_handoff.py), or None."""
    metadata = data.get("metadata")
    handoff = metadata.get("handoff") if isinstance(metadata, Mapping) else None
    agent = handoff.get("agent") if isinstance(handoff, Mapping) else None
    return agent[:80] if isinstance(agent, str) and agent else None


def _turn(row: ConversationEvent, reveal: tuple[int, int] | None) -> Turn | None:
    data = row.data or {}
    show = reveal[1] if reveal is not None and reveal[0] == row.id else None
    if row.event_type == "user":
        parse = data.get("parse_data") or {}
        intent = parse.get("intent") or {}
        confidence = intent.get("confidence")
        entities = tuple((str(e.get("entity", "?")), _masked(e.get("value", "")))
                         for e in parse.get("entities") or () if isinstance(e, Mapping))
        text = row.text or ""
        return Turn(kind="user", at=row.timestamp, event_id=row.id, text=redact_all(text, reveal=show),
                    intent=row.intent, confidence=float(confidence) if isinstance(confidence, int | float) else None,
                    entities=entities, maskable=len(sensitive_values(text)))
    if row.event_type == "bot":
        rich = data.get("data") or {}
        buttons = tuple(_masked(b.get("title", "")) for b in rich.get("buttons") or () if isinstance(b, Mapping))
        extra = tuple(f"{k}: {_masked(rich[k])}" for k in ("image", "attachment", "custom") if rich.get(k))
        text = row.text or ""
        return Turn(kind="bot", at=row.timestamp, event_id=row.id, text=redact_all(text, reveal=show),
                    buttons=buttons, extra=extra, maskable=len(sensitive_values(text)), agent=_agent(data))
    if row.event_type == "action" and row.action_name and row.action_name not in ("action_listen",):
        return Turn(kind="action", at=row.timestamp, event_id=row.id, action=row.action_name)
    if row.event_type == "active_loop":
        return Turn(kind="form", at=row.timestamp, event_id=row.id, action=data.get("name"))
    return None


def _with_slots(turns: list[Turn], rows: Sequence[ConversationEvent]) -> list[Turn]:
    """Attach each slot event to the action turn before it (the action that set it)."""
    out: list[Turn] = []
    by_id = {t.event_id: t for t in turns}
    current: int | None = None
    slots: dict[int, list[tuple[str, str]]] = {}
    for row in rows:
        if row.id in by_id and by_id[row.id].kind == "action":
            current = row.id
        elif row.event_type == "slot" and current is not None:
            name = str((row.data or {}).get("name", "?"))
            if name != "requested_slot":
                slots.setdefault(current, []).append((name, _masked((row.data or {}).get("value"))))
    for t in turns:
        if t.kind == "action" and t.event_id in slots:
            t = Turn(kind="action", at=t.at, event_id=t.event_id, action=t.action, slots=tuple(slots[t.event_id]))
        out.append(t)
    return out


def load_transcript(session: Session, sender_id: str, reveal: tuple[int, int] | None = None) -> Transcript:
    """The transcript of ``sender_id`` in ``session`` (no access log: callers log). ``reveal`` = (event id,
    value index) leaves one value unmasked."""
    rows = list(session.scalars(select(E).where(E.sender_id == sender_id).order_by(E.timestamp, E.id)))
    if not rows:
        raise NotFound("There is no such conversation.")
    turns = [t for t in (_turn(r, reveal) for r in rows) if t is not None]
    summary = summaries_for(session, [sender_id])
    if not summary:
        raise NotFound("There is no such conversation.")
    notes = tuple(Note(staff=n.staff, text=_masked(n.text), created_at=n.created_at) for n in session.scalars(
        select(ConversationNote).where(ConversationNote.sender_id == sender_id)
        .order_by(ConversationNote.created_at.desc(), ConversationNote.id.desc())))
    return Transcript(summary=summary[0][1], turns=tuple(_with_slots(turns, rows)), notes=notes)


def get_transcript(ref: str, *, staff: str, role: str) -> Transcript:
    """The transcript behind ``ref``, masked; the read is written to the access log (``transcript``) in the same
    transaction.

    Raises:
        NotFound: unknown ref.
    """
    with session_scope(write=True) as session:
        sender_id = resolve_ref(session, ref)
        remember_ref(session, sender_id)
        transcript = load_transcript(session, sender_id)
        add_access(session, staff=staff, role=role, customer_id=transcript.summary.customer_id,
                   action="transcript", detail=f"conversation {transcript.summary.ref}")
        return transcript

