"""What an action needs to know about the conversation: who is talking, on which channel."""

from __future__ import annotations

import hmac
import logging
from typing import Any

from rasa_sdk import Tracker
from rasa_sdk.events import SlotSet

from profiles import conversation_ref
from profiles.identity import PROOF_KEY, messenger_proof, resolve_message_customer
from profiles.linking import MESSENGER_CHANNELS
from profiles.sealing import seal, seal_owner, sealed_owner, unseal

logger = logging.getLogger(__name__)

OWNER_SLOT = "owner"
PUSH_INTENT_PREFIX = "EXTERNAL_"  # the intents api/push.py triggers for a proactive (campaign) message


EXTERNAL_TEXT_PREFIX = "EXTERNAL: "  # Rasa's text of a trigger_intent event (rasa.shared.core.constants)


def _is_push(message: dict[str, Any]) -> bool:
    """A user event (or ``latest_message``) that Rasa's ``trigger_intent`` created: an ``EXTERNAL_*`` intent
    *and* Rasa's text for it. A customer can type ``/EXTERNAL_offer`` (Rasa's regex handler then gives that
    intent) but its text stays what they typed, so it is never taken for a push (and never borrows an
    earlier message's identity)."""
    name = str(((message or {}).get("intent") or (message.get("parse_data") or {}).get("intent") or {}).get("name")
               or "")
    return name.startswith(PUSH_INTENT_PREFIX) and message.get("text") == EXTERNAL_TEXT_PREFIX + name


def is_push_turn(tracker: Tracker) -> bool:
    """True when the latest user event is a proactive push (an ``EXTERNAL_*`` intent that api/push.py sent
    through Rasa's ``trigger_intent``), not something the customer said (:func:`_is_push`)."""
    return _is_push(tracker.latest_message or {})


def customer_message(tracker: Tracker) -> dict[str, Any] | None:
    """The latest user event the customer sent in this session (``{"metadata", "input_channel", ...}``),
    skipping proactive pushes; None when there is none. A push is not a message from the customer: it
    carries no identity of its own, so the turn it starts keeps the identity of the customer's last message."""
    for event in reversed(tracker.events):
        kind = event.get("event")
        if kind == "session_started":
            return None
        if kind == "user" and not _is_push(event):
            return event
    return None


def verified_customer(tracker: Tracker) -> int | None:
    """The verified customer id behind the latest message, or ``None`` for an anonymous visitor.

    The one identity rule, ``profiles.identity.resolve_message_customer`` (the feed uses it too), on the
    tracker's latest input channel (set by Rasa's input channel, never by the client), the sender id and the
    latest message's metadata: on Telegram and Messenger the customer linked to that messenger account,
    anywhere else only the identity claim our channel sealed for this conversation in place of the token.

    In the turn of a proactive push (``is_push_turn``: a form open when a campaign message arrives asks its
    question again) the rule reads the customer's own latest message of this session instead
    (``customer_message``: its channel-sealed claim or messenger proof, the claim's expiry checked now), so a
    push neither signs the customer out nor names anyone the channel did not verify.
    """
    if is_push_turn(tracker):
        event = customer_message(tracker)
        if event is None:
            return None
        return resolve_message_customer(event.get("input_channel"), tracker.sender_id,
                                        event.get("metadata")).customer_id
    metadata = tracker.latest_message.get("metadata")
    return resolve_message_customer(tracker.get_latest_input_channel(), tracker.sender_id, metadata).customer_id


def owner_slot(tracker: Tracker, customer_id: int | None) -> SlotSet:
    """The event that makes ``customer_id`` the owner of what this conversation begins next (slot ``owner``,
    sealed to this conversation: :mod:`profiles.sealing`), or clears it (``None``)."""
    return SlotSet(OWNER_SLOT, None if customer_id is None else seal_owner(tracker.sender_id, customer_id))


def slot_owner(tracker: Tracker) -> int | None:
    """The customer the slot ``owner`` names, only if this action server sealed it in this conversation
    (a plain or copied value, e.g. in a hand-made tracker, is no one)."""
    return sealed_owner(tracker.sender_id, tracker.get_slot(OWNER_SLOT))


def owning_customer(tracker: Tracker) -> int | None:
    """The verified customer of the latest message, only if it is the customer who started the current
    form or received the current offer (slot ``owner``, sealed: :func:`slot_owner`); otherwise ``None``.

    A conversation id can be reused with another customer's token: a form or offer begun by one customer
    must never be completed as another.
    """
    customer_id = verified_customer(tracker)
    if customer_id is None or slot_owner(tracker) != customer_id:
        return None
    return customer_id


def seal_for_conversation(tracker: Tracker, purpose: str, value: str) -> str:
    """``value`` sealed to ``purpose`` and this conversation, for a slot that must prove the action server set
    it here (e.g. a confirmation bound to what was confirmed: ``seal_for_conversation(t, "transfer",
    f"{amount}|{source}|{target}")``)."""
    return seal(purpose, tracker.sender_id, value)


def unseal_in_conversation(tracker: Tracker, purpose: str, sealed: object) -> str | None:
    """The value of :func:`seal_for_conversation` if it was sealed for ``purpose`` in this conversation,
    else ``None``."""
    return unseal(purpose, tracker.sender_id, sealed)


def proven_messenger(tracker: Tracker) -> str | None:
    """The messenger (``telegram``/``facebook``) whose connector proved it received the latest message from this
    account (``profiles.identity.messenger_proof`` in its metadata), else ``None``: linking and unlinking act on
    a messenger account only then, never on a channel name a tracker merely claims."""
    channel = channel_of(tracker)
    metadata = tracker.latest_message.get("metadata")
    proof = metadata.get(PROOF_KEY) if isinstance(metadata, dict) else None
    if channel not in MESSENGER_CHANNELS or not isinstance(proof, str):
        return None
    return channel if hmac.compare_digest(proof.encode(), messenger_proof(channel, tracker.sender_id).encode()) else None


def channel_of(tracker: Tracker) -> str:
    """The input channel name of the latest message (``rest``, ``socketio``, …)."""
    return tracker.get_latest_input_channel() or "unknown"


def actor_of(tracker: Tracker) -> str:
    """Who made a change, for the audit log: which customer, through the bot, on which channel and conversation."""
    return f"customer {slot_owner(tracker) or '?'} via bot ({channel_of(tracker)}, conversation {conversation_ref(tracker.sender_id)})"[:100]


def latest_text(tracker: Tracker) -> str:
    """The latest user message text ('' when there is none)."""
    return str(tracker.latest_message.get("text") or "")


def latest_intent(tracker: Tracker) -> tuple[str | None, float]:
    """(intent name, confidence) of the latest user message."""
    intent = tracker.latest_message.get("intent") or {}
    return intent.get("name"), float(intent.get("confidence") or 0.0)
