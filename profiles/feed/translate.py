"""Translate Rasa tracker events, as Rasa's event broker publishes them, into the CRM tables.

One event is a JSON object as Rasa 3.6 serialises it (``rasa.shared.core.events``) plus the ``sender_id`` the
broker adds, e.g. ``{"event": "user", "sender_id": "web-42", "timestamp": 1764444000.12, "text": "hi",
"input_channel": "rest", "metadata": {"token": "..."}, "parse_data": {"intent": {...}, "entities": [...]}}``.

What each event becomes (all in the caller's transaction, so a batch is written whole or not at all):

- every event -> one :class:`~profiles.models.ConversationEvent` (the transcript store), keyed by
  ``event_key`` = SHA-256 of the event's canonical JSON with credentials removed, so the same event delivered
  twice is stored once; credentials (``metadata.token`` and any other key in :data:`CREDENTIAL_KEYS`) are
  removed from the stored JSON and card/IBAN numbers in message texts are masked (``profiles.masking.redact``);
- a user message whose sender ``profiles.identity.resolve_message_customer`` names (the one identity rule,
  the action server's too: on Telegram/Messenger the customer linked to the messenger account, whose user id
  is the sender id there; elsewhere a valid customer token in the metadata), or the
  slot ``owner`` being set (``action_verify_customer`` sets it to the verified customer's id, sealed to the
  conversation: ``profiles.sealing``; an unsealed value links nothing) ->
  :class:`~profiles.models.ConversationLink` ``sender_id -> customer``; the sender's earlier events without a
  customer are back-filled (customer id, and their timeline items below). A later valid token of another
  customer re-links the conversation from that event on; a message without a token does not unlink it, but a
  message from a messenger account that is no longer linked does (its later events stay anonymous);
- user and bot messages of a linked conversation -> :class:`~profiles.models.Interaction`
  ``kind="chat_message"`` (``inbound``/``outbound``; summary = the masked text; details = intent,
  confidence, entities), a :class:`~profiles.models.ContactPoint` per channel (inbound ``message_count``,
  ``last_seen_at``) and ``Customer.preferred_channel`` = the channel of most inbound chat messages over the
  last :data:`PREFERRED_CHANNEL_DAYS` days (ties: the most recent), audited when it changes;
- intents that tell us something -> one more Interaction: ``inform_life_event`` (entity ``life_event``) ->
  ``kind="life_event"``, and where the change is unambiguous a profile change with an audit row
  (:data:`LIFE_EVENT_CHANGES`); ``express_product_interest`` (entity ``product``, one of
  ``profiles.schemas.PRODUCT_IDS``) -> ``kind="product_interest"``; ``complain`` -> ``kind="complaint"``.
  Profile changes need an intent confidence of at least :data:`MIN_PROFILE_CONFIDENCE`.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from profiles.audit import record_audit
from profiles.identity import CLAIM_KEY, PROOF_KEY, TOKEN_KEY, claim_subject, resolve_message_customer, token_subject
from profiles.masking import MASK, mask_number, redact, redacted_spans
from profiles.models import ContactPoint, ConversationEvent, ConversationLink, Customer, Interaction, utcnow
from profiles.schemas import PRODUCT_IDS
from profiles.sealing import sealed_owner

log = logging.getLogger(__name__)

# Key of a stored user event's data naming the customer its token named (expired or not): profiles.privacy.
TOKEN_SUBJECT_KEY = "token_subject"

# Keys whose values are credentials: removed, at any depth, from the stored event JSON.
CREDENTIAL_KEYS = frozenset(
    {"token", "access_token", "id_token", "refresh_token", "auth_token", "authorization", "password", "secret", "jwt",
     CLAIM_KEY, PROOF_KEY}  # the channels' claim and proof: the claim's subject is kept as TOKEN_SUBJECT_KEY
)
# Channels where the sender id is the customer's own id on that channel (stored as ContactPoint.address);
# on the web channels (rest, socketio) it is only a conversation id.
MESSENGER_CHANNELS = frozenset({"telegram", "facebook", "whatsapp", "twilio", "slack", "mattermost", "rocketchat"})
PREFERRED_CHANNEL_DAYS = 90
# Intent confidence (0..1) from which a stated life event changes the profile. The NLU fallback already
# answers below 0.30; a profile write asks for more. Measured in docs/FEED.md.
MIN_PROFILE_CONFIDENCE = 0.5
OWNER_SLOT = "owner"
LIFE_EVENT_INTENT = "inform_life_event"
PRODUCT_INTEREST_INTENT = "express_product_interest"
COMPLAINT_INTENT = "complain"
# Life events the NLU knows (data/nlu/core.yml, entity life_event) and the profile change each one makes.
# Only unambiguous changes: a new job or a move says nothing certain about job title or address.
LIFE_EVENT_CHANGES: dict[str, str] = {
    "married": "marital := married",
    "divorced": "marital := divorced",
    "new_baby": "children += 1; household_size += 1 (when known)",
    "retired": "job := retired",
    "moving_home": "(none)",
    "new_job": "(none)",
}
MAX_SENDER = 128
MAX_CHANNEL = 30
# Deepest nesting of objects/arrays accepted in an event (Rasa's own go ~6 deep; the channels cap message
# metadata at 20): deeper ones are dropped as invalid, before any recursive code (json, strip_credentials)
# could overflow the stack and log a traceback thousands of lines long.
MAX_EVENT_DEPTH = 64


class InvalidEvent(ValueError):
    """The payload is not a Rasa event (not a JSON object, or no ``event``/``sender_id`` string)."""


@dataclass
class FeedStats:
    """Counts of one batch (or a whole run): events read, stored, duplicates, invalid ones skipped, timeline
    items, links and profile changes made."""

    events: int = 0
    stored: int = 0
    duplicates: int = 0
    invalid: int = 0
    interactions: int = 0
    links: int = 0
    profile_changes: int = 0
    touched_customers: set[int] = field(default_factory=set)

    def add(self, other: FeedStats) -> None:
        """Add ``other``'s counts to these."""
        self.events += other.events
        self.stored += other.stored
        self.duplicates += other.duplicates
        self.invalid += other.invalid
        self.interactions += other.interactions
        self.links += other.links
        self.profile_changes += other.profile_changes
        self.touched_customers |= other.touched_customers


def strip_credentials(value: Any) -> Any:
    """A copy of ``value`` (JSON-like) without any dict key in :data:`CREDENTIAL_KEYS` (case-insensitive)."""
    if isinstance(value, Mapping):
        return {
            str(k): strip_credentials(v) for k, v in value.items() if str(k).lower() not in CREDENTIAL_KEYS
        }
    if isinstance(value, list):
        return [strip_credentials(v) for v in value]
    return value


def canonical_json(value: Any) -> str:
    """Sorted keys, no spaces, UTF-8 characters kept: the same event always gives the same string."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)


def event_key(event: Mapping[str, Any]) -> str:
    """SHA-256 (64 hex characters) of the event's canonical JSON with credentials removed."""
    return hashlib.sha256(canonical_json(strip_credentials(event)).encode()).hexdigest()


def parse_event(payload: bytes | str | Mapping[str, Any]) -> dict[str, Any]:
    """The event as a dict from a broker payload (JSON text/bytes, or an already decoded object).

    Raises:
        InvalidEvent: not JSON, not an object, or without a string ``event`` and a non-empty ``sender_id``.
    """
    if isinstance(payload, bytes | str):
        try:
            payload = json.loads(payload)
        except (ValueError, UnicodeDecodeError) as exc:
            raise InvalidEvent(f"not JSON: {exc}") from None
        except RecursionError:
            raise InvalidEvent("nested too deeply for the JSON parser") from None
    if not isinstance(payload, Mapping):
        raise InvalidEvent("not a JSON object")
    if _depth_exceeds(payload, MAX_EVENT_DEPTH):
        raise InvalidEvent(f"nested more than {MAX_EVENT_DEPTH} levels deep")
    event: dict[str, Any] = _storable(dict(payload))
    if not isinstance(event.get("event"), str) or not event["event"]:
        raise InvalidEvent("no 'event' type")
    if not isinstance(event.get("sender_id"), str) or not event["sender_id"]:
        raise InvalidEvent("no 'sender_id'")
    return event


def _depth_exceeds(value: Any, limit: int) -> bool:
    """True when ``value`` nests dicts/lists more than ``limit`` levels deep (iterative: any depth is safe)."""
    stack: list[tuple[Any, int]] = [(value, 0)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, Mapping | list):
            if depth + 1 > limit:
                return True
            stack.extend((child, depth + 1) for child in (item.values() if isinstance(item, Mapping) else item))
    return False


def _storable(value: Any) -> Any:
    """``value`` with every string made storable in PostgreSQL and SQLite: a lone surrogate (``"\\ud800"`` in
    JSON, which Python decodes but neither database can encode, so the whole event was lost) becomes the text
    ``\\ud800``, and a NUL character (``"\\u0000"``: PostgreSQL's ``text`` refuses it, and in a ``json``
    column it made every later read of that column fail, so one message sent with a NUL in its metadata broke
    the staff inbox, analytics, export and erasure) becomes the text ``\\x00``. Call only on values within
    :data:`MAX_EVENT_DEPTH` (it recurses)."""
    if isinstance(value, str):
        if "\x00" in value:
            value = value.replace("\x00", "\\x00")
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            return value.encode("utf-8", "backslashreplace").decode("utf-8")
        return value
    if isinstance(value, Mapping):
        return {_storable(k): _storable(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_storable(v) for v in value]
    return value


def _stored_form(event: Mapping[str, Any]) -> dict[str, Any]:
    """The JSON kept in the transcript store: credentials removed, card/IBAN numbers masked in texts and in the
    entities read out of them (a card typed in groups is four ``amount`` entities of four digits each)."""
    data: dict[str, Any] = strip_credentials(event)
    parse_data = data.get("parse_data")
    if isinstance(parse_data, dict):
        original = parse_data.get("text") if isinstance(parse_data.get("text"), str) else data.get("text")
        spans = redacted_spans(original) if isinstance(original, str) else []
        for e in parse_data.get("entities") or ():
            if isinstance(e, dict):
                _mask_entity(e, spans)
        if isinstance(parse_data.get("text"), str):
            parse_data["text"] = redact(parse_data["text"])
    if isinstance(data.get("text"), str):
        data["text"] = redact(data["text"])
    return data


def _mask_entity(entity: dict[str, Any], spans: Sequence[tuple[int, int]]) -> None:
    """Mask an entity's value (in place) when it was read from a masked part of the text, or holds a number
    :func:`redact` masks itself."""
    start, end, value = entity.get("start"), entity.get("end"), entity.get("value")
    inside = (isinstance(start, int) and isinstance(end, int)
              and any(start < span_end and span_start < end for span_start, span_end in spans))
    if inside:
        entity["value"] = mask_number(str(value)) if value is not None else MASK
    elif isinstance(value, str):
        entity["value"] = redact(value)


def _timestamp(event: Mapping[str, Any]) -> datetime:
    value = event.get("timestamp")
    try:
        return datetime.fromtimestamp(float(value), UTC)  # type: ignore[arg-type]
    except (TypeError, ValueError, OverflowError, OSError):
        return utcnow()


def _parse_data(data: Mapping[str, Any]) -> tuple[str | None, float, list[dict[str, Any]]]:
    """(intent name, confidence, entities as [{"entity", "value"}]) of a stored user event."""
    parse = data.get("parse_data")
    if not isinstance(parse, Mapping):
        return None, 0.0, []
    raw_intent = parse.get("intent")
    intent: Mapping[str, Any] = raw_intent if isinstance(raw_intent, Mapping) else {}
    name = intent.get("name") if isinstance(intent.get("name"), str) else None
    try:
        confidence = float(intent.get("confidence") or 0.0)
    except (TypeError, ValueError):
        confidence = 0.0
    entities = [
        {"entity": str(e.get("entity")), "value": e.get("value")}
        for e in parse.get("entities") or []
        if isinstance(e, Mapping) and e.get("entity")
    ]
    return name, confidence, entities


def _entity(entities: Iterable[Mapping[str, Any]], name: str) -> str | None:
    for e in entities:
        if e.get("entity") == name and isinstance(e.get("value"), str) and e["value"].strip():
            return str(e["value"]).strip().lower()[:40]
    return None


def _owner_customer(session: Session, event: Mapping[str, Any]) -> int | None:
    """The customer id the slot ``owner`` was set to, when the action server sealed it for this conversation
    (profiles.sealing: a plain or copied value names no one) and it names an existing customer."""
    if event.get("name") != OWNER_SLOT:
        return None
    customer_id = sealed_owner(str(event.get("sender_id")), event.get("value"))
    if customer_id is None:
        return None
    return customer_id if session.get(Customer, customer_id) is not None else None


def _conversation_channel(session: Session, sender_id: str) -> str | None:
    """The input channel of the sender's latest user message already in the transcript store."""
    return session.scalar(
        select(ConversationEvent.channel)
        .where(ConversationEvent.sender_id == sender_id, ConversationEvent.channel.is_not(None))
        .order_by(ConversationEvent.id.desc())
        .limit(1)
    )


def apply_event(session: Session, event: Mapping[str, Any], stats: FeedStats | None = None) -> FeedStats:
    """Translate one parsed event (see :func:`parse_event`) into the CRM tables, in ``session``'s transaction.

    Idempotent: an event whose ``event_key`` is already stored changes nothing. The caller commits (after a
    whole batch) and calls :func:`refresh_preferred_channels` for ``stats.touched_customers`` first.

    Returns:
        ``stats`` (or a new :class:`FeedStats`) with this event counted.
    """
    stats = stats if stats is not None else FeedStats()
    stats.events += 1
    key = event_key(event)
    if session.scalar(select(ConversationEvent.id).where(ConversationEvent.event_key == key)) is not None:
        stats.duplicates += 1
        return stats
    sender_id = str(event["sender_id"])[:MAX_SENDER]
    event_type = str(event["event"])[:40]
    data = _stored_form(event)
    if event_type == "user":
        # The customer the channel's identity claim names, even expired (never used for linking): erasure
        # finds the conversation by it (profiles.privacy). Neither the claim nor a token is stored. (A raw token
        # only comes from events published before the channels exchanged it: read for erasure, never trusted.)
        metadata = event.get("metadata")
        found = claim_subject(metadata, sender_id)
        subject = found[0] if found else (
            token_subject(metadata.get(TOKEN_KEY)) if isinstance(metadata, Mapping) else None)
        if subject is not None:
            data[TOKEN_SUBJECT_KEY] = str(subject)

    input_channel = event.get("input_channel") if event_type == "user" else None
    channel = (
        str(input_channel)[:MAX_CHANNEL]
        if isinstance(input_channel, str) and input_channel
        else _conversation_channel(session, sender_id)
    )
    # Who: a valid token on a user message, or the owner slot, links the conversation (before this event is
    # stored, so the message that carried the token is the customer's too).
    new_owner = None
    link = session.get(ConversationLink, sender_id)
    if event_type == "user":
        # the one identity rule (the action server's too): messenger link, else a valid token
        who = resolve_message_customer(channel, sender_id, event.get("metadata"))
        new_owner = who.customer_id
        if who.by_messenger and new_owner is None and link is not None:
            log.info("feed: messenger account %s on %s no longer linked; conversation unlinked", sender_id, channel)
            session.delete(link)
            session.flush()
            link = None
    elif event_type == "slot":
        new_owner = _owner_customer(session, event)
    if new_owner is not None and (link is None or link.customer_id != new_owner):
        link = _link(session, sender_id, new_owner, channel or "unknown", link, stats)
    customer_id = link.customer_id if link is not None else None

    intent, _, _ = _parse_data(data) if event_type == "user" else (None, 0.0, [])
    row = ConversationEvent(
        event_key=key,
        sender_id=sender_id,
        customer_id=customer_id,
        event_type=event_type,
        timestamp=_timestamp(event),
        channel=channel,
        text=data["text"] if isinstance(data.get("text"), str) else None,
        intent=intent[:80] if intent else None,
        action_name=str(event["name"])[:80] if event_type == "action" and event.get("name") else None,
        data=data,
    )
    session.add(row)
    stats.stored += 1
    if customer_id is not None:
        _timeline(session, row, customer_id, stats)
    return stats


def _link(
    session: Session, sender_id: str, customer_id: int, channel: str, link: ConversationLink | None, stats: FeedStats
) -> ConversationLink:
    """Link (or re-link) ``sender_id`` to ``customer_id``; back-fill the sender's events without a customer."""
    if link is None:
        link = ConversationLink(sender_id=sender_id, customer_id=customer_id, channel=channel[:MAX_CHANNEL])
        session.add(link)
    else:
        log.info("feed: conversation %s re-linked from customer %s to %s", sender_id, link.customer_id, customer_id)
        link.customer_id = customer_id
        link.channel = channel[:MAX_CHANNEL]
    link.linked_at = utcnow()
    stats.links += 1
    session.flush()
    earlier = session.scalars(
        select(ConversationEvent)
        .where(ConversationEvent.sender_id == sender_id, ConversationEvent.customer_id.is_(None))
        .order_by(ConversationEvent.id)
    ).all()
    for row in earlier:
        row.customer_id = customer_id
        _timeline(session, row, customer_id, stats)
    return link


def _derived_key(key: str, kind: str) -> str:
    return hashlib.sha256(f"{key}:{kind}".encode()).hexdigest()


def _add_interaction(session: Session, stats: FeedStats, key: str, **values: Any) -> Interaction | None:
    if session.scalar(select(Interaction.id).where(Interaction.event_key == key)) is not None:
        return None
    item = Interaction(event_key=key, **values)
    session.add(item)
    stats.interactions += 1
    return item


def _timeline(session: Session, row: ConversationEvent, customer_id: int, stats: FeedStats) -> None:
    """Timeline items, contact point and profile changes for one stored event of a linked conversation."""
    if row.event_type not in ("user", "bot") or not row.text:
        return
    raw_meta = row.data.get("metadata")
    meta: Mapping[str, Any] = raw_meta if isinstance(raw_meta, Mapping) else {}
    if row.event_type == "user" and meta.get("is_external"):
        return  # a Rasa external event (proactive push through trigger_intent), not the customer's message
    if row.event_type == "bot" and str(meta.get("utter_action", "")).startswith("utter_push_"):
        return  # already on the timeline as a campaign_message (profiles.push.record_delivery)
    channel = row.channel or "unknown"
    common = {
        "customer_id": customer_id,
        "channel": channel,
        "sender_id": row.sender_id,
        "occurred_at": row.timestamp,
    }
    if row.event_type == "bot":
        raw_metadata = row.data.get("metadata")
        metadata: Mapping[str, Any] = raw_metadata if isinstance(raw_metadata, Mapping) else {}
        _add_interaction(
            session, stats, row.event_key, kind="chat_message", direction="outbound", summary=row.text,
            actor="bot", details={"response": metadata.get("utter_action")}, **common,
        )
        return
    intent, confidence, entities = _parse_data(row.data)
    actor = f"customer:{customer_id}"
    added = _add_interaction(
        session, stats, row.event_key, kind="chat_message", direction="inbound", summary=row.text, actor=actor,
        details={"intent": intent, "confidence": round(confidence, 4), "entities": entities}, **common,
    )
    if added is None:
        return  # already on the timeline (and its effects applied)
    stats.touched_customers.add(customer_id)
    _touch_contact_point(session, customer_id, channel, row)
    if intent == LIFE_EVENT_INTENT:
        _life_event(session, row, customer_id, confidence, entities, common, stats)
    elif intent == PRODUCT_INTEREST_INTENT:
        product = _entity(entities, "product")
        product = product if product in PRODUCT_IDS else None
        label = product.replace("_", " ") if product else "a product (not named)"
        _add_interaction(
            session, stats, _derived_key(row.event_key, "product_interest"), kind="product_interest",
            direction="inbound", summary=f"Interested in {label}", actor=actor,
            details={"product": product, "confidence": round(confidence, 4), "text": row.text}, **common,
        )
    elif intent == COMPLAINT_INTENT:
        _add_interaction(
            session, stats, _derived_key(row.event_key, "complaint"), kind="complaint", direction="inbound",
            summary=row.text, actor=actor, details={"confidence": round(confidence, 4)}, **common,
        )


def _touch_contact_point(session: Session, customer_id: int, channel: str, row: ConversationEvent) -> None:
    address = row.sender_id[:254] if channel in MESSENGER_CHANNELS else None
    address_match = ContactPoint.address == address if address is not None else ContactPoint.address.is_(None)
    point = session.scalar(
        select(ContactPoint).where(
            ContactPoint.customer_id == customer_id, ContactPoint.channel == channel, address_match
        )
    )
    if point is None:
        session.add(ContactPoint(
            customer_id=customer_id, channel=channel, address=address, message_count=1,
            first_seen_at=row.timestamp, last_seen_at=row.timestamp,
        ))
        return
    point.message_count = (point.message_count or 0) + 1
    if point.last_seen_at is None or row.timestamp > point.last_seen_at:
        point.last_seen_at = row.timestamp


def _locked_customer(session: Session, customer_id: int) -> Customer | None:
    """The customer row, locked for update on PostgreSQL (SQLite: the write transaction already is)."""
    lock = session.get_bind().dialect.name != "sqlite"
    return session.get(Customer, customer_id, with_for_update=lock or None, populate_existing=True)


def _life_event(
    session: Session,
    row: ConversationEvent,
    customer_id: int,
    confidence: float,
    entities: list[dict[str, Any]],
    common: dict[str, Any],
    stats: FeedStats,
) -> None:
    value = _entity(entities, "life_event")
    changes: list[dict[str, Any]] = []
    customer = _locked_customer(session, customer_id)
    if value is not None and confidence >= MIN_PROFILE_CONFIDENCE and customer is not None:
        changes = _apply_life_event(customer, value)
        for change in changes:
            record_audit(
                session, customer_id=customer_id, entity="customer", entity_id=customer_id, field=change["field"],
                old_value=None if change["old"] is None else str(change["old"]),
                new_value=None if change["new"] is None else str(change["new"]),
                channel=str(common["channel"])[:MAX_CHANNEL], actor=f"customer:{customer_id} (chat, life event)",
            )
        if changes:
            customer.updated_at = utcnow()
            stats.profile_changes += len(changes)
    label = value.replace("_", " ") if value else "not named"
    _add_interaction(
        session, stats, _derived_key(row.event_key, "life_event"), kind="life_event", direction="inbound",
        summary=f"Life event: {label}", actor=f"customer:{customer_id}",
        details={"life_event": value, "confidence": round(confidence, 4), "text": row.text,
                 "profile_changes": changes},
        **common,
    )


def _apply_life_event(customer: Customer, value: str) -> list[dict[str, Any]]:
    """Change ``customer`` for life event ``value``; return [{"field", "old", "new"}] of what changed."""
    changes: list[dict[str, Any]] = []

    def set_field(name: str, new: Any) -> None:
        old = getattr(customer, name)
        if old != new:
            setattr(customer, name, new)
            changes.append({"field": name, "old": old, "new": new})

    if value in ("married", "divorced"):
        set_field("marital", value)
    elif value == "retired":
        set_field("job", "retired")
    elif value == "new_baby":
        set_field("children", (customer.children or 0) + 1)
        if customer.household_size is not None:
            set_field("household_size", customer.household_size + 1)
    return changes


def refresh_preferred_channels(session: Session, customer_ids: Iterable[int], *, now: datetime | None = None) -> int:
    """Set ``Customer.preferred_channel`` to the channel of most inbound chat messages over the last
    :data:`PREFERRED_CHANNEL_DAYS` days (ties: the channel used most recently), with an audit row when it
    changes. Returns how many customers changed."""
    since = (now or utcnow()) - timedelta(days=PREFERRED_CHANNEL_DAYS)
    changed = 0
    for customer_id in sorted(set(customer_ids)):
        rows = session.execute(
            select(Interaction.channel, func.count(), func.max(Interaction.occurred_at))
            .where(
                Interaction.customer_id == customer_id,
                Interaction.kind == "chat_message",
                Interaction.direction == "inbound",
                Interaction.occurred_at >= since,
            )
            .group_by(Interaction.channel)
        ).all()
        if not rows:
            continue
        best = max(rows, key=lambda r: (r[1], r[2]))[0]
        current = session.scalar(select(Customer.preferred_channel).where(Customer.id == customer_id))
        if current == best:
            continue
        customer = _locked_customer(session, customer_id)
        if customer is None:
            continue
        old = customer.preferred_channel
        customer.preferred_channel = best[:20]
        customer.updated_at = utcnow()
        record_audit(
            session, customer_id=customer_id, entity="customer", entity_id=customer_id, field="preferred_channel",
            old_value=old, new_value=best, channel=best[:MAX_CHANNEL], actor="system:feed",
        )
        changed += 1
    return changed

