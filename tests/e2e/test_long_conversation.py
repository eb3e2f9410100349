"""Bounded conversations against the real Rasa server, action server, feed and database (issue 12 item 3).

Rasa keeps only a window of the current session (bot/tracker_store.py, ``max_events`` 100 in
bot/endpoints*.yml). A conversation far longer than that window must keep working: a transfer form begun
before the window still confirms with its sealed values and moves the money once, CSAT is still asked once per
session, a hand-off pause outlasts the window, and the transcript store (the feed) still has every message.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from profiles import issue_token
from profiles.db import session_scope
from profiles.models import ConversationEvent
from tests.e2e.test_transfer_exactly_once import _balances, _customer_with_room, _to_confirmation, _transfers_of, said

pytestmark = pytest.mark.e2e

WINDOW = 100  # bot/endpoints*.yml max_events
HEAD = 40  # at most the head re-stating the state (session start, ~25 slots, loop, pause, last action)
FAQ = "when will my card arrive"
CSAT_QUESTION = "how satisfied are you"


def _user_texts_in_transcript(sender: str) -> list[str]:
    """The conversation's user messages as the transcript store (the feed) has them, in order."""
    with session_scope() as s:
        rows = s.scalars(select(ConversationEvent).where(ConversationEvent.sender_id == sender,
                                                         ConversationEvent.event_type == "user")
                         .order_by(ConversationEvent.id))
        return [str(row.text) for row in rows]


def test_a_form_begun_before_the_window_confirms_once_and_csat_stays_once(live_stack: Any) -> None:
    cid = _customer_with_room(60)
    token, sender = issue_token(cid), live_stack.new_sender("long")
    faqs = 0

    def chat(text: str) -> str:
        return said(live_stack.chat(sender, text, token=token))

    assert CSAT_QUESTION in chat("thanks").lower()
    _to_confirmation(live_stack, sender, token, cid, "12.40")
    while any(e.get("event") == "user" and e.get("text") == "I want to transfer money"
              for e in live_stack.tracker(sender)["events"]):
        reply = chat(FAQ)  # an FAQ inside the form: answered, then the confirmation is asked again
        faqs += 1
        assert "confirm" in reply, reply
        assert faqs < 80, "the start of the form never left the window"
    tracker = live_stack.tracker(sender)
    assert len(tracker["events"]) <= WINDOW + HEAD
    assert tracker["active_loop"].get("name") == "transfer_form"
    assert tracker["slots"]["requested_slot"] == "transfer_confirmed"
    before, count = _balances(cid), _transfers_of(cid)

    assert "Done" in chat("yes")
    after = _balances(cid)
    assert after["current"] == before["current"] - Decimal("12.40")
    assert after["savings"] == before["savings"] + Decimal("12.40")
    assert _transfers_of(cid) == count + 1
    # the question asked at the start of the session (long out of the window) is not asked again
    assert CSAT_QUESTION not in chat("thanks").lower()
    assert live_stack.tracker(sender)["slots"]["csat_asked"] is True

    live_stack.wait_feed_drained()
    texts = _user_texts_in_transcript(sender)  # every message, also those the window dropped long ago
    assert texts[:2] == ["thanks", "I want to transfer money"] and texts[-2:] == ["yes", "thanks"]
    assert texts.count(FAQ) == faqs


def test_a_hand_off_pause_outlasts_the_window(live_stack: Any) -> None:
    sender = live_stack.new_sender("longpause")
    assert "Nova" in said(live_stack.chat(sender, "hello"))
    api = f"{live_stack.rasa_url}/conversations/{sender}/tracker/events"

    def append(events: list[dict[str, Any]]) -> None:
        httpx.post(api, params={"token": live_stack.rasa_token}, json=events, timeout=60).raise_for_status()

    append([{"event": "pause"}])
    # the customer's messages while a colleague has the conversation, as Rasa stores them (no prediction);
    # appended at once: the channel's limit (30 messages a minute) would make this test minutes long
    append([{"event": "user", "text": f"are you there? {n}", "parse_data": {"intent": {"name": "greet",
             "confidence": 1.0}, "entities": []}} for n in range(WINDOW + 10)])
    tracker = live_stack.tracker(sender)
    assert len(tracker["events"]) <= WINDOW + HEAD and tracker["paused"] is True
    assert not any(e.get("text") == "hello" for e in tracker["events"])  # cut: the greeting left the window
    assert live_stack.chat(sender, "hello again") == []  # still paused: stored, no bot answer
    append([{"event": "resume"}])
    assert said(live_stack.chat(sender, "hello"))
