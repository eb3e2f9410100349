"""Live hand-off: the queue of waiting hand-offs, and a staff member taking a conversation over from the bot.

The unit is a *conversation* (a Rasa ``sender_id``): a customer who asked for a human twice has two
``HandoffRequest`` rows, and the queue shows the conversation once, waiting since the oldest request. States of a
request: ``open`` (waiting) -> ``taken`` (a staff member has the conversation; the bot is paused) -> ``closed``
(handed back to the bot). One staff member at a time: :func:`take_handoff` takes every open request of the
conversation in one conditional ``UPDATE`` (``WHERE status = 'open'``), so of two staff members taking at once
exactly one wins and the other gets :class:`~profiles.errors.Conflict` (409 in the API).

This module only keeps the CRM side (states, audit, access log, the masked turns staff read); talking to Rasa
(``pause``/``resume`` events, the messages to the customer) is ``api/live_handoff.py``'s.

Records:

- audit (``profiles.audit``): entity ``handoff``, entity id the request, field ``status`` (open -> taken, taken ->
  closed, taken -> open when Rasa could not be told) or ``message`` (the staff message sent, masked), actor
  ``staff:<username>``, channel the conversation's;
- access log (``profiles.access``): ``handoff_queue`` per linked customer whose last turns a queue page shows,
  ``transcript`` per live page read and per poll that returned new turns (detail: hand-off and conversation ref).

Staff never see a sender id: a conversation is named by ``conversation_ref``; the dataclasses that carry a
sender id (:class:`HandoffTarget`) are for the API's calls to Rasa only.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from profiles.access import add_access, record_accesses
from profiles.audit import record_audit
from profiles.conversation_ref import conversation_ref
from profiles.db import session_scope
from profiles.errors import Conflict, InvalidInput, NotAllowed, NotFound
from profiles.masking import redact, redact_all
from profiles.models import ConversationEvent, Customer, HandoffRequest, utcnow

LAST_TURNS: Final = 4  # turns of each waiting conversation the queue shows
MESSAGE_MAX: Final = 1000  # characters of one staff message
QUEUE_MAX: Final = 200  # conversations the queue lists
LIVE_TURNS_MAX: Final = 300  # turns the live page shows (the newest)
METADATA_KEY: Final = "handoff"  # bot events written by staff carry {"handoff": {"agent": ..., ...}} metadata
GENERIC_AGENT: Final = "a colleague"
_NAME = re.compile(r"[^\W\d_]+")


def agent_display_name(username: str) -> str:
    """The name the customer sees for staff member ``username``: its first word, capitalised ("ana.silva" ->
    "Ana", "bruno_c" -> "Bruno"), at most 30 letters; :data:`GENERIC_AGENT` when it has no letters."""
    match = _NAME.search(username or "")
    if match is None:
        return GENERIC_AGENT
    word = match.group(0)[:30]
    return word[:1].upper() + word[1:]


def agent_of(data: Any) -> str | None:
    """The staff username a stored bot event's data names in its hand-off metadata, or None (the bot's own)."""
    metadata = data.get("metadata") if isinstance(data, dict) else None
    handoff = metadata.get(METADATA_KEY) if isinstance(metadata, dict) else None
    agent = handoff.get("agent") if isinstance(handoff, dict) else None
    return agent if isinstance(agent, str) and agent else None


# ------------------------------------------------------------------------------------------------------- views


@dataclass(frozen=True, slots=True)
class LiveTurn:
    """One message of a conversation as staff see it, masked (``profiles.masking.redact_all``): ``who`` is
    ``customer``, ``bot`` or ``agent`` (``agent`` = the staff username who sent it)."""

    event_id: int
    who: str
    text: str
    at: datetime
    agent: str | None = None


@dataclass(frozen=True, slots=True)
class HandoffItem:
    """One conversation of the queue (or the one a live page shows). ``id`` is the request to act on (the
    oldest open one, or the taken one); ``ref`` the opaque conversation reference; ``customer`` "First Last" or
    None (anonymous); ``waiting_seconds`` since the first open request (until it was taken);
    ``requests`` how many requests the conversation made; ``reason`` the first request's (masked) reason."""

    id: int
    ref: str
    status: str
    customer_id: int | None
    customer: str | None
    channel: str
    created_at: datetime
    waiting_seconds: int
    requests: int
    reason: str
    last_turns: tuple[LiveTurn, ...]
    taken_by: str | None
    taken_at: datetime | None
    closed_by: str | None = None
    closed_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class HandoffQueue:
    """``waiting`` conversations oldest first (the order to answer them in); ``in_progress`` those taken."""

    waiting: tuple[HandoffItem, ...]
    in_progress: tuple[HandoffItem, ...]


@dataclass(frozen=True, slots=True)
class HandoffTarget:
    """What the API needs to reach the conversation through Rasa (``sender_id`` never leaves the API)."""

    id: int
    sender_id: str
    ref: str
    channel: str
    customer_id: int | None
    status: str
    taken_by: str | None


@dataclass(frozen=True, slots=True)
class LiveConversation:
    """A hand-off's live page: the conversation's ``item`` and its ``turns`` (after ``after`` when given),
    ``last_event_id`` the newest stored event of the conversation (the poller's next ``after``)."""

    item: HandoffItem
    turns: tuple[LiveTurn, ...]
    last_event_id: int


def _turn(row: ConversationEvent) -> LiveTurn:
    agent = agent_of(row.data) if row.event_type == "bot" else None
    who = "customer" if row.event_type == "user" else ("agent" if agent else "bot")
    return LiveTurn(event_id=row.id, who=who, text=redact_all(row.text or ""), at=row.timestamp, agent=agent)


def _external(row: ConversationEvent) -> bool:
    """A Rasa external event (a proactive push's trigger), not a message the customer typed."""
    metadata = (row.data or {}).get("metadata")
    return row.event_type == "user" and isinstance(metadata, dict) and bool(metadata.get("is_external"))


def _text_events(sender_id: str) -> Any:
    E = ConversationEvent
    return select(E).where(E.sender_id == sender_id, E.event_type.in_(("user", "bot")), E.text.is_not(None))


def _last_turns(session: Session, sender_id: str, n: int) -> tuple[LiveTurn, ...]:
    E = ConversationEvent
    rows = session.scalars(_text_events(sender_id).order_by(E.timestamp.desc(), E.id.desc()).limit(n))
    return tuple(_turn(r) for r in reversed(list(rows)) if not _external(r))


def _names(session: Session, ids: Sequence[int]) -> dict[int, str]:
    if not ids:
        return {}
    rows = session.execute(select(Customer.id, Customer.first_name, Customer.last_name).where(Customer.id.in_(ids)))
    return {cid: f"{first} {last}" for cid, first, last in rows}


def _item(rows: Sequence[HandoffRequest], names: dict[int, str], turns: tuple[LiveTurn, ...], now: datetime) -> HandoffItem:
    """The conversation's item from its requests ``rows`` (oldest first; all of one sender)."""
    taken = next((r for r in rows if r.status == "taken"), None)
    current = taken or next((r for r in rows if r.status == "open"), None) or rows[-1]
    first = rows[0]
    until = (taken.taken_at if taken is not None and taken.taken_at else now)
    customer_id = next((r.customer_id for r in rows if r.customer_id is not None), None)
    return HandoffItem(
        id=current.id, ref=conversation_ref(current.sender_id), status=current.status, customer_id=customer_id,
        customer=names.get(customer_id) if customer_id is not None else None, channel=current.channel,
        created_at=first.created_at, waiting_seconds=max(0, int((until - first.created_at).total_seconds())),
        requests=len(rows), reason=first.reason, last_turns=turns, taken_by=current.taken_by,
        taken_at=current.taken_at, closed_by=current.closed_by, closed_at=current.closed_at,
    )


def handoff_queue(*, staff: str, role: str, now: datetime | None = None, turns: int = LAST_TURNS) -> HandoffQueue:
    """The hand-off queue: conversations with an open request and none taken (``waiting``, oldest first) and
    those taken (``in_progress``), each with its last ``turns`` messages, masked. Every linked customer shown
    is access-logged (``handoff_queue``).

    Raises:
        InvalidInput: bad staff/role names (``profiles.access``).
    """
    now = now or utcnow()
    with session_scope() as session:
        rows = list(session.scalars(
            select(HandoffRequest).where(HandoffRequest.status.in_(("open", "taken")))
            .order_by(HandoffRequest.created_at, HandoffRequest.id)))
        by_sender: dict[str, list[HandoffRequest]] = {}
        for r in rows:
            by_sender.setdefault(r.sender_id, []).append(r)
        senders = list(by_sender)[:QUEUE_MAX]
        names = _names(session, [r.customer_id for r in rows if r.customer_id is not None])
        items = [_item(by_sender[s], names, _last_turns(session, s, turns), now) for s in senders]
    record_accesses(staff, role, [i.customer_id for i in items if i.customer_id is not None], "handoff_queue",
                    f"hand-off queue: {len(items)} conversations")
    return HandoffQueue(waiting=tuple(i for i in items if i.status == "open"),
                        in_progress=tuple(i for i in items if i.status == "taken"))


def _request(session: Session, handoff_id: int) -> HandoffRequest:
    row = session.get(HandoffRequest, handoff_id) if 0 < handoff_id < 2**63 else None
    if row is None:
        raise NotFound("There is no such hand-off.")
    return row


def _target(row: HandoffRequest) -> HandoffTarget:
    return HandoffTarget(id=row.id, sender_id=row.sender_id, ref=conversation_ref(row.sender_id), channel=row.channel,
                         customer_id=row.customer_id, status=row.status, taken_by=row.taken_by)


def _holder(session: Session, sender_id: str) -> HandoffRequest | None:
    return session.scalars(select(HandoffRequest).where(HandoffRequest.sender_id == sender_id,
                                                        HandoffRequest.status == "taken").limit(1)).first()


def _audit(session: Session, row: HandoffRequest, field: str, old: str | None, new: str | None, staff: str) -> None:
    record_audit(session, customer_id=row.customer_id, entity="handoff", entity_id=row.id, field=field,
                 old_value=old, new_value=new, channel=(row.channel or "unknown")[:30], actor=f"staff:{staff}"[:80])


# ------------------------------------------------------------------------------------------------ transitions


def take_handoff(handoff_id: int, *, staff: str) -> HandoffTarget:
    """``staff`` takes the conversation of hand-off ``handoff_id``: every open request of that conversation
    becomes ``taken`` by them (audited). The caller then pauses the bot (``api/live_handoff.py``) and, if that
    fails, gives it back with :func:`release_take`.

    Raises:
        NotFound: no such hand-off.
        Conflict: the conversation is already taken (by anyone, the caller included) or the hand-off is closed.
    """
    with session_scope(write=True) as session:
        row = _request(session, handoff_id)
        holder = _holder(session, row.sender_id)
        if holder is not None:
            who = "You have" if holder.taken_by == staff else f"{holder.taken_by} has"
            raise Conflict(f"{who} already taken this conversation (hand-off H{holder.id}).")
        if row.status != "open":
            raise Conflict(f"Hand-off H{row.id} is {row.status}: the conversation is back with the bot.")
        now = utcnow()
        result = session.execute(
            update(HandoffRequest)
            .where(HandoffRequest.sender_id == row.sender_id, HandoffRequest.status == "open")
            .values(status="taken", taken_by=staff, taken_at=now)
            .execution_options(synchronize_session=False))
        if not getattr(result, "rowcount", 0):  # another staff member's take won in the meantime
            raise Conflict("Someone else has just taken this conversation.")
        session.refresh(row)
        _audit(session, row, "status", "open", "taken", staff)
        return _target(row)


def release_take(handoff_id: int, *, staff: str, reason: str) -> None:
    """Undo :func:`take_handoff` (the bot could not be paused): the conversation's requests taken by ``staff``
    are open again; audited with ``reason``."""
    with session_scope(write=True) as session:
        row = _request(session, handoff_id)
        session.execute(
            update(HandoffRequest)
            .where(HandoffRequest.sender_id == row.sender_id, HandoffRequest.status == "taken",
                   HandoffRequest.taken_by == staff)
            .values(status="open", taken_by=None, taken_at=None)
            .execution_options(synchronize_session=False))
        _audit(session, row, "status", "taken", f"open ({reason})"[:200], staff)


def held_by(handoff_id: int, *, staff: str, role: str, closing: bool = False) -> HandoffTarget:
    """The hand-off ``handoff_id`` if ``staff`` may act on its conversation now: it is taken, by ``staff``
    (an admin may also hand back another staff member's conversation, ``closing``).

    Raises:
        NotFound: no such hand-off.
        Conflict: not taken (waiting, or closed).
        NotAllowed: taken by someone else.
    """
    with session_scope() as session:
        row = _request(session, handoff_id)
        holder = _holder(session, row.sender_id)
        if holder is None:
            state = "waiting: take it first" if row.status == "open" else "closed: the bot has the conversation"
            raise Conflict(f"Hand-off H{row.id} is {state}.")
        if holder.taken_by != staff and not (closing and role == "admin"):
            raise NotAllowed(f"{holder.taken_by} has this conversation: only they can do that.")
        return _target(holder)


def check_message(text: str) -> str:
    """A staff message as it will be sent: stripped, 1..:data:`MESSAGE_MAX` characters, printable apart from
    line breaks, with no card, account or IBAN number in it (the bank never writes one in chat).

    Raises:
        InvalidInput: empty, too long, control characters, or a card/account/IBAN number (``field`` "text").
    """
    value = (text or "").replace("\r\n", "\n").strip()
    if not value:
        raise InvalidInput("Write a message first.", field="text")
    if len(value) > MESSAGE_MAX:
        raise InvalidInput(f"The message is too long (at most {MESSAGE_MAX} characters).", field="text")
    if any(not (c.isprintable() or c in "\n\t") for c in value):
        raise InvalidInput("The message contains control characters.", field="text")
    if redact(value) != value:
        raise InvalidInput("The message contains a card, account or IBAN number: never send one in chat. "
                           "Remove it (refer to the last 4 digits, e.g. the card ending 1234).", field="text")
    return value


def record_message(target: HandoffTarget, *, staff: str, text: str, delivered: bool) -> None:
    """Audit one staff message sent into the conversation (masked text; ``delivered`` or stored only)."""
    with session_scope(write=True) as session:
        row = _request(session, target.id)
        _audit(session, row, "message", None, redact_all(text), staff)
        if not delivered:
            _audit(session, row, "message_delivery", None, "stored only (the channel cannot push)", staff)


def close_handoff(target: HandoffTarget, *, staff: str) -> None:
    """The conversation is back with the bot: every open or taken request of it is ``closed`` by ``staff``
    (audited)."""
    with session_scope(write=True) as session:
        row = _request(session, target.id)
        now = utcnow()
        session.execute(
            update(HandoffRequest)
            .where(HandoffRequest.sender_id == row.sender_id, HandoffRequest.status.in_(("open", "taken")))
            .values(status="closed", closed_by=staff, closed_at=now)
            .execution_options(synchronize_session=False))
        _audit(session, row, "status", "taken", "closed", staff)


# ------------------------------------------------------------------------------------------------- live view


def live_conversation(handoff_id: int, *, staff: str, role: str, after: int | None = None,
                      now: datetime | None = None) -> LiveConversation:
    """The hand-off's conversation for its live page: every message (``after`` = only those stored after that
    event id, for the page's poll), masked. The read is access-logged (``transcript``) unless it is a poll that
    found nothing new.

    Raises:
        NotFound: no such hand-off.
        InvalidInput: ``after`` negative.
    """
    if after is not None and after < 0:
        raise InvalidInput("after must be an event id (0 or more).", field="after")
    E = ConversationEvent
    with session_scope(write=True) as session:
        row = _request(session, handoff_id)
        rows = list(session.scalars(select(HandoffRequest).where(HandoffRequest.sender_id == row.sender_id)
                                    .order_by(HandoffRequest.created_at, HandoffRequest.id)))
        live = [r for r in rows if r.status in ("open", "taken")]
        names = _names(session, [r.customer_id for r in rows if r.customer_id is not None])
        item = _item(live or [row], names, (), now or utcnow())
        query = _text_events(row.sender_id)
        if after is not None:
            query = query.where(E.id > after)
        found = list(session.scalars(query.order_by(E.timestamp.desc(), E.id.desc()).limit(LIVE_TURNS_MAX)))
        turns = tuple(_turn(r) for r in reversed(found) if not _external(r))
        last = session.scalar(select(E.id).where(E.sender_id == row.sender_id).order_by(E.id.desc()).limit(1)) or 0
        if after is None or turns:
            add_access(session, staff=staff, role=role, customer_id=item.customer_id, action="transcript",
                       detail=f"live hand-off H{item.id}, conversation {item.ref}")
        return LiveConversation(item=item, turns=turns, last_event_id=max(last, after or 0))
