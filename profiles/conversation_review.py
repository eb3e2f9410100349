"""The staff console's review workflow: tags, notes, assignment, "reviewed", bulk actions, saved filters,
masked exports and an admin's audited unmask of one transcript value.

Every function takes the acting staff member (``staff``, ``role``) as the server verified them. Writes about
a conversation are keyed by its ``ref`` (``profiles.conversations.conversation_ref``); an unknown ref raises
``NotFound``. An unmask writes a :class:`~profiles.models.ConversationUnmask` row (with the reason) and an
access-log row ``unmask`` (without it: access-log details never hold what staff typed).
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final
from urllib.parse import parse_qsl, urlencode

from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from profiles.access import add_access, record_accesses
from profiles.audit import require_text
from profiles.conversations import (
    FLAGS,
    ConversationFilters,
    load_transcript,
    matching_sender_ids,
    parse_filters,
    remember_ref,
    resolve_ref,
    summaries_for,
)
from profiles.db import session_scope
from profiles.errors import InvalidInput, NotAllowed, NotFound
from profiles.masking import redact, redact_all, sensitive_values
from profiles.models import (
    ConversationEvent,
    ConversationNote,
    ConversationTag,
    ConversationUnmask,
    SavedFilter,
    utcnow,
)

STANDARD_TAGS: Final = ("bad-answer", "wrong-intent", "needs-training", "complaint", "follow-up", "good-example")
TAG_MAX: Final = 40
NOTE_MAX: Final = 2000
BULK_MAX: Final = 1000
EXPORT_MAX: Final = 5000
SAVED_FILTERS_MAX: Final = 50
BULK_ACTIONS: Final = ("tag", "untag", "reviewed", "unreviewed", "assign")


def clean_tag(tag: str) -> str:
    """A tag as stored: trimmed, lower case, inner spaces as dashes, 1..40 characters of letters, digits, -_.

    Raises:
        InvalidInput: (field ``tag``) empty, too long or other characters.
    """
    value = "-".join((tag or "").strip().lower().split())
    if not value or len(value) > TAG_MAX or not all(c.isalnum() or c in "-_" for c in value):
        raise InvalidInput(f"A tag is 1 to {TAG_MAX} letters, digits, - or _.", field="tag")
    return value


def _tag(session: Session, sender_id: str, tag: str, staff: str) -> bool:
    if session.scalar(select(ConversationTag.id).where(ConversationTag.sender_id == sender_id,
                                                       ConversationTag.tag == tag)) is not None:
        return False
    try:
        with session.begin_nested():
            session.add(ConversationTag(sender_id=sender_id, tag=tag, added_by=staff, added_at=utcnow()))
    except IntegrityError:  # a concurrent request added it
        return False
    return True


def _set_reviewed(session: Session, sender_id: str, reviewed: bool, staff: str) -> None:
    row = remember_ref(session, sender_id)
    row.reviewed = reviewed
    row.reviewed_by = staff if reviewed else None
    row.reviewed_at = utcnow() if reviewed else None
    row.updated_at = utcnow()


def _assign(session: Session, sender_id: str, assignee: str | None) -> None:
    row = remember_ref(session, sender_id)
    row.assignee = assignee
    row.updated_at = utcnow()


def _assignee(value: str | None) -> str | None:
    value = (value or "").strip()
    return require_text(value, "assignee", 80) if value else None


def add_tag(ref: str, tag: str, *, staff: str) -> str:
    """Tag the conversation (idempotent); returns the stored tag. Raises NotFound, InvalidInput."""
    value = clean_tag(tag)
    with session_scope(write=True) as session:
        _tag(session, resolve_ref(session, ref), value, staff)
    return value


def remove_tag(ref: str, tag: str, *, staff: str) -> None:
    """Remove a tag (nothing when absent). Raises NotFound, InvalidInput."""
    value = clean_tag(tag)
    with session_scope(write=True) as session:
        sender_id = resolve_ref(session, ref)
        session.execute(delete(ConversationTag).where(ConversationTag.sender_id == sender_id,
                                                      ConversationTag.tag == value))


def add_note(ref: str, text: str, *, staff: str) -> None:
    """Add a staff note (1..2,000 characters; card/IBAN numbers typed into it are masked before storing).

    Raises:
        NotFound: unknown ref. InvalidInput: (field ``text``) empty or too long.
    """
    value = require_text(text, "text", NOTE_MAX)
    with session_scope(write=True) as session:
        sender_id = resolve_ref(session, ref)
        session.add(ConversationNote(sender_id=sender_id, staff=staff, text=redact(value), created_at=utcnow()))


def set_reviewed(ref: str, reviewed: bool, *, staff: str) -> None:
    """Mark the conversation reviewed (by ``staff``, now) or not reviewed. Raises NotFound."""
    with session_scope(write=True) as session:
        _set_reviewed(session, resolve_ref(session, ref), reviewed, staff)


def assign(ref: str, assignee: str | None, *, staff: str) -> None:
    """Assign the conversation to staff member ``assignee`` (None/empty: unassign). Raises NotFound, InvalidInput."""
    who = _assignee(assignee)
    with session_scope(write=True) as session:
        _assign(session, resolve_ref(session, ref), who)


def bulk_action(filters: ConversationFilters, action: str, value: str | None, *, staff: str) -> int:
    """Apply ``action`` (one of :data:`BULK_ACTIONS`; ``value`` the tag or assignee) to every conversation the
    filters match (at most 1,000, newest first); returns how many.

    Raises:
        InvalidInput: unknown action, bad tag/assignee, or more than 1,000 conversations match (narrow the filter).
    """
    if action not in BULK_ACTIONS:
        raise InvalidInput(f"action must be one of {', '.join(BULK_ACTIONS)}.", field="action")
    tag = clean_tag(value or "") if action in ("tag", "untag") else None
    who = _assignee(value) if action == "assign" else None
    with session_scope(write=True) as session:
        senders = matching_sender_ids(session, filters, limit=BULK_MAX + 1)
        if len(senders) > BULK_MAX:
            raise InvalidInput(f"More than {BULK_MAX} conversations match: narrow the filter.", field="action")
        for sender_id in senders:
            if action == "tag" and tag:
                _tag(session, sender_id, tag, staff)
            elif action == "untag":
                session.execute(delete(ConversationTag).where(ConversationTag.sender_id == sender_id,
                                                              ConversationTag.tag == tag))
            elif action in ("reviewed", "unreviewed"):
                _set_reviewed(session, sender_id, action == "reviewed", staff)
            else:
                _assign(session, sender_id, who)
    return len(senders)


# ------------------------------------------------------------------------------------------- saved filters


@dataclass(frozen=True, slots=True)
class SavedFilterView:
    """A staff member's saved inbox filter: ``query`` is a query string for /staff/conversations."""

    id: int
    name: str
    query: str
    created_at: datetime


def save_filter(staff: str, name: str, filters: ConversationFilters) -> SavedFilterView:
    """Save (or overwrite by name) ``staff``'s filter; at most 50 per staff member.

    Raises:
        InvalidInput: empty/too long name (60), or 50 saved already.
    """
    label = require_text(name, "name", 60)
    query = urlencode(filters.query_items())[:1000]
    with session_scope(write=True) as session:
        row = session.scalar(select(SavedFilter).where(SavedFilter.staff == staff, SavedFilter.name == label))
        if row is None:
            count = len(session.scalars(select(SavedFilter.id).where(SavedFilter.staff == staff)).all())
            if count >= SAVED_FILTERS_MAX:
                raise InvalidInput(f"You have {SAVED_FILTERS_MAX} saved filters: delete one first.", field="name")
            row = SavedFilter(staff=staff, name=label, query=query, created_at=utcnow())
            session.add(row)
        else:
            row.query = query
        session.flush()
        return SavedFilterView(id=row.id, name=row.name, query=row.query, created_at=row.created_at)


def list_saved_filters(staff: str) -> list[SavedFilterView]:
    """``staff``'s saved filters by name (only their own)."""
    with session_scope() as session:
        return [SavedFilterView(id=r.id, name=r.name, query=r.query, created_at=r.created_at) for r in
                session.scalars(select(SavedFilter).where(SavedFilter.staff == staff).order_by(SavedFilter.name))]


def delete_saved_filter(staff: str, filter_id: int) -> None:
    """Delete one of ``staff``'s own saved filters. Raises NotFound (also for another staff member's)."""
    with session_scope(write=True) as session:
        row = session.get(SavedFilter, filter_id)
        if row is None or row.staff != staff:
            raise NotFound("There is no such saved filter.")
        session.delete(row)


def saved_filter_params(view: SavedFilterView) -> ConversationFilters:
    """The filters a saved filter holds (parsed again: an old saved filter with a value now refused raises
    InvalidInput)."""
    return parse_filters(dict(parse_qsl(view.query)))


# ------------------------------------------------------------------------------------------------- exports

EXPORT_COLUMNS: Final = ("ref", "customer_id", "channel", "started_at", "last_at", "turns", *FLAGS, "csat", "tags",
                         "reviewed", "assignee", "messages")


def export_conversations(filters: ConversationFilters, *, staff: str, role: str) -> list[dict[str, Any]]:
    """The filtered conversations (at most 5,000, newest first) with their masked messages (``[{"from":
    "user"|"bot", "at": ISO time, "text": masked}]``); every linked customer exported is access-logged
    (``export``). No sender id, no unmasked value."""
    with session_scope() as session:
        senders = matching_sender_ids(session, filters, limit=EXPORT_MAX)
        rows = summaries_for(session, senders)
        messages: dict[str, list[dict[str, str]]] = {s: [] for s in senders}
        for start in range(0, len(senders), 500):
            chunk = senders[start:start + 500]
            for e in session.scalars(select(ConversationEvent).where(
                    ConversationEvent.sender_id.in_(chunk), ConversationEvent.event_type.in_(("user", "bot")))
                    .order_by(ConversationEvent.timestamp, ConversationEvent.id)):
                messages[e.sender_id].append({"from": e.event_type, "at": e.timestamp.isoformat(),
                                              "text": redact_all(e.text or "")})
    out: list[dict[str, Any]] = []
    for sender_id, s in rows:
        out.append({"ref": s.ref, "customer_id": s.customer_id, "channel": s.channel,
                    "started_at": s.started_at.isoformat(), "last_at": s.last_at.isoformat(), "turns": s.turns,
                    **s.flags, "csat": s.csat, "tags": list(s.tags), "reviewed": s.reviewed, "assignee": s.assignee,
                    "messages": messages.get(sender_id, [])})
    record_accesses(staff, role, [s.customer_id for _, s in rows if s.customer_id is not None], "export",
                    f"conversation export of {len(out)}")
    return out


def export_csv(rows: Iterable[dict[str, Any]]) -> str:
    """CSV of :func:`export_conversations` rows (messages as ``from: text`` lines, tags ``;``-joined). Cells
    that a spreadsheet would run as a formula (``= + - @``) get a leading apostrophe."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(EXPORT_COLUMNS)
    for r in rows:
        cells = {**r, "tags": ";".join(r["tags"]),
                 "messages": "\n".join(f"{m['from']}: {m['text']}" for m in r["messages"])}
        writer.writerow([_cell(cells[c]) for c in EXPORT_COLUMNS])
    return buffer.getvalue()


def _cell(value: Any) -> str:
    text = "" if value is None else str(value)
    return "'" + text if text[:1] in ("=", "+", "-", "@") else text


def export_json(rows: list[dict[str, Any]]) -> str:
    """JSON array of :func:`export_conversations` rows."""
    return json.dumps(rows, ensure_ascii=False, indent=1)


# -------------------------------------------------------------------------------------------------- unmask


def unmask(ref: str, event_id: int, item: int, reason: str, *, staff: str, role: str) -> str:
    """Show value ``item`` (0-based, of ``profiles.masking.sensitive_values``) of message ``event_id`` in full;
    admin only, with a reason (5..200 characters). Recorded (ConversationUnmask with the reason) and
    access-logged (``unmask``) in one transaction. Card/IBAN numbers were masked before they were stored:
    they cannot be shown.

    Raises:
        NotAllowed: not an admin. NotFound: unknown ref, event or item. InvalidInput: reason missing/short.
    """
    if role != "admin":
        raise NotAllowed("Only an administrator may unmask a value.")
    why = require_text(reason, "reason", 200)
    if len(why) < 5:
        raise InvalidInput("Give a reason (at least 5 characters).", field="reason")
    with session_scope(write=True) as session:
        sender_id = resolve_ref(session, ref)
        event = session.get(ConversationEvent, event_id)
        if event is None or event.sender_id != sender_id or event.event_type not in ("user", "bot"):
            raise NotFound("There is no such message in this conversation.")
        values = sensitive_values(redact(event.text or ""))
        if not 0 <= item < len(values):
            raise NotFound("There is no such masked value in this message.")
        session.add(ConversationUnmask(sender_id=sender_id, event_id=event_id, item=item, staff=staff, reason=why,
                                       at=utcnow()))
        add_access(session, staff=staff, role=role, customer_id=event.customer_id, action="unmask",
                   detail=f"conversation {ref} event {event_id} item {item}")
        return values[item]


def transcript_with_reveal(ref: str, event_id: int, item: int, *, staff: str, role: str) -> Any:
    """The transcript with one value shown (after :func:`unmask` recorded it); access-logged as a read."""
    with session_scope(write=True) as session:
        sender_id = resolve_ref(session, ref)
        transcript = load_transcript(session, sender_id, reveal=(event_id, item))
        add_access(session, staff=staff, role=role, customer_id=transcript.summary.customer_id,
                   action="transcript", detail=f"conversation {ref} (one value unmasked)")
        return transcript
