"""One identity rule, two callers (issue 10, item 3): the action server (``actions.context.verified_customer``
on a real rasa-sdk tracker) and the feed (``profiles.feed`` linking the conversation from the same message as
Rasa's event broker publishes it) name the same customer, or no one, for the same user message. Both go through
``profiles.identity.resolve_message_customer``; identity only ever comes from what the server verified (the
connector's channel with a linked messenger account, or a valid signed token), never from the body, the sender
id, a channel the client set or a slot (docs/SECURITY.md). Real database, both backends.
"""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import jwt
import pytest
from rasa_sdk import Tracker
from sqlalchemy import select

from actions.context import verified_customer
from profiles.db import session_scope
from profiles.feed import process_batch
from profiles.feed.consumer import Delivery
from profiles.identity import ALGORITHM, ISSUER, identity_claim, issue_token, messenger_proof, resolve_message_customer
from profiles.models import ConversationEvent, MessengerLink
from profiles.settings import get_settings
from tests.profiles.conftest import Built


def _expired(customer_id: int) -> str:
    now = datetime.now(UTC)
    return jwt.encode({"sub": str(customer_id), "iat": now - timedelta(hours=2), "exp": now - timedelta(hours=1),
                       "iss": ISSUER}, get_settings().jwt_secret, algorithm=ALGORITHM)


def _tracker(sender: str, channel: str, metadata: dict[str, Any]) -> Tracker:
    latest = {"text": "what is my balance?", "intent": {"name": "check_balance", "confidence": 0.97},
              "entities": [], "metadata": metadata}
    return Tracker(sender_id=sender, slots={}, latest_message=latest,
                   events=[{"event": "user", "text": latest["text"], "parse_data": latest, "input_channel": channel,
                            "metadata": metadata}],
                   paused=False, followup_action=None, active_loop={}, latest_action_name="action_listen")


def _feed_customer(sender: str, channel: str, metadata: dict[str, Any]) -> int | None:
    """The customer the feed stores the message under (a fresh conversation: only this message decides)."""
    event = {"event": "user", "sender_id": sender, "timestamp": datetime.now(UTC).timestamp(),
             "text": "what is my balance?", "input_channel": channel, "metadata": metadata,
             "parse_data": {"text": "what is my balance?", "intent": {"name": "check_balance", "confidence": 0.97},
                            "entities": []}}

    process_batch([Delivery(1, json.dumps(event))])
    with session_scope() as s:
        return s.scalars(select(ConversationEvent.customer_id).where(ConversationEvent.sender_id == sender)).one()


def _link(customer_id: int, channel: str, external_id: str) -> None:
    with session_scope(write=True) as s:
        s.add(MessengerLink(customer_id=customer_id, channel=channel, external_id=external_id))


CASES = ["verified_token", "linked_messenger_user", "unlinked_messenger_user", "unlinked_messenger_user_with_token",
         "rest_with_forged_channel", "rest_with_a_linked_users_id", "expired_token", "forged_token", "no_token",
         "a_raw_token_past_the_channel", "another_conversations_claim", "messenger_event_without_the_connectors_proof"]


def _as_channel_passes_it(metadata: dict[str, object], sender: str) -> dict[str, object]:
    """The metadata as the web channels pass it on (bot/identity_claim.py): the token exchanged for its claim."""
    passed = dict(metadata)
    token = passed.pop("token", None)
    claim = identity_claim(token, sender)
    return {**passed, "identity": claim} if claim else passed


def _as_messenger_passes_it(metadata: dict[str, object], channel: str, sender: str) -> dict[str, object]:
    """The metadata a messenger connector passes on after checking the webhook: with its proof."""
    return {**metadata, "channel_proof": messenger_proof(channel, sender)}


@pytest.mark.parametrize("case", CASES)
def test_actions_and_feed_agree_on_who_sent_a_message(case: str, alice: Built, bob: Built) -> None:
    tag = uuid.uuid4().hex[:8]
    linked_id = f"55{int(tag, 16) % 10**8:08d}"
    _link(alice.customer_id, "telegram", linked_id)
    unlinked_id = f"66{int(tag, 16) % 10**8:08d}"
    token = issue_token(alice.customer_id)
    forged = jwt.encode({"sub": str(alice.customer_id), "iat": datetime.now(UTC),
                         "exp": datetime.now(UTC) + timedelta(minutes=5), "iss": ISSUER}, "not-the-secret",
                        algorithm=ALGORITHM)
    cases: dict[str, tuple[str, str, dict[str, object], int | None]] = {
        "verified_token": (f"web-{tag}", "rest", {"token": token}, alice.customer_id),
        "linked_messenger_user": (linked_id, "telegram", {}, alice.customer_id),
        "unlinked_messenger_user": (unlinked_id, "telegram", {}, None),
        # on a messenger the link is the identity: a token in the metadata names no one there
        "unlinked_messenger_user_with_token": (unlinked_id, "telegram", {"token": token}, None),
        # the REST channel's own name is what counts, not a channel the client put in the body/metadata
        "rest_with_forged_channel": (linked_id, "rest", {"input_channel": "telegram", "channel": "telegram"}, None),
        "rest_with_a_linked_users_id": (linked_id, "rest", {"token": issue_token(bob.customer_id)}, bob.customer_id),
        "expired_token": (f"web-{tag}", "rest", {"token": _expired(alice.customer_id)}, None),
        "forged_token": (f"web-{tag}", "rest", {"token": forged}, None),
        "no_token": (f"web-{tag}", "socketio", {}, None),
        "a_raw_token_past_the_channel": (f"web-{tag}", "rest", {"raw": token}, None),
        "another_conversations_claim": (f"web-{tag}", "rest", {"claim_of": f"other-{tag}"}, None),
        # an event claiming telegram appended by other means (Rasa's HTTP API, a hand-made tracker)
        "messenger_event_without_the_connectors_proof": (linked_id, "telegram", {"no_proof": True}, None),
    }
    sender, channel, metadata, expected = cases[case]
    if "raw" in metadata:  # a token that reached the tracker without the channel: never an identity
        metadata = {"token": metadata["raw"]}
    elif "claim_of" in metadata:  # a genuine claim copied from another conversation
        metadata = {"identity": identity_claim(token, str(metadata["claim_of"]))}
    elif "no_proof" in metadata:
        metadata = {}
    elif channel == "telegram":
        metadata = _as_messenger_passes_it(metadata, channel, sender)
    else:
        metadata = _as_channel_passes_it(metadata, sender)

    by_rule = resolve_message_customer(channel, sender, metadata).customer_id
    by_actions = verified_customer(_tracker(sender, channel, metadata))
    by_feed = _feed_customer(sender, channel, metadata)

    assert (by_rule, by_actions, by_feed) == (expected, expected, expected)
