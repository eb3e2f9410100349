"""A conversation staff have taken over stays paused through Rasa's session expiry and a typed ``/restart``
(bot/handoff_pause.py), and the bot answers again once staff hand it back. Real Rasa, action server and CRM."""

from __future__ import annotations

import time
from typing import Any

import httpx
from sqlalchemy import select

from profiles.db import session_scope
from profiles.live_handoff import close_handoff, take_handoff
from profiles.models import HandoffRequest
from tests.e2e.conftest import LiveStack

CUSTOMER = 12


def _append(stack: LiveStack, sender: str, events: list[dict[str, Any]]) -> None:
    """Append events to the tracker through Rasa's HTTP API, as api/live_handoff.py does."""
    response = httpx.post(f"{stack.rasa_url}/conversations/{sender}/tracker/events", params={"token": stack.rasa_token},
                          json=events, timeout=60)
    response.raise_for_status()


def _taken_conversation(stack: LiveStack) -> tuple[str, str, int]:
    sender, token = stack.new_sender("taken"), stack.token_for(CUSTOMER)
    assert any("colleague" in t for t in stack.texts(sender, "I'd like to speak to a real person please", token))
    with session_scope() as s:
        handoff_id = s.scalars(select(HandoffRequest.id).where(HandoffRequest.sender_id == sender)).one()
    take_handoff(handoff_id, staff="ana")
    _append(stack, sender, [{"event": "pause"}])
    return sender, token, handoff_id


def test_a_session_expiry_keeps_a_taken_conversation_paused(live_stack: LiveStack) -> None:
    sender, token, handoff_id = _taken_conversation(live_stack)
    assert live_stack.chat(sender, "hello?", token) == []
    # The customer's last message two hours ago: Rasa starts a new session (60 minutes) on the next message.
    _append(live_stack, sender, [{"event": "user", "text": "earlier", "timestamp": time.time() - 7200,
                                  "parse_data": {"intent": {"name": "greet", "confidence": 1.0}, "entities": []}}])

    started = time.time()
    assert live_stack.chat(sender, "what is my balance", token) == []

    tracker = live_stack.tracker(sender)
    assert tracker["paused"] is True
    names = [e["event"] for e in tracker["events"]]
    new_session = max(i for i, name in enumerate(names) if name == "session_started")
    assert tracker["events"][new_session]["timestamp"] >= started - 1  # a new session did start on this message
    assert "pause" in names[new_session:]  # ... and the bot was paused again in it

    with session_scope() as s:
        target = s.get(HandoffRequest, handoff_id)
        assert target is not None and target.status == "taken"
    _hand_back(live_stack, sender, handoff_id)
    assert live_stack.texts(sender, "what is my balance", token)  # the bot answers again


def test_a_restart_keeps_a_taken_conversation_paused(live_stack: LiveStack) -> None:
    sender, token, handoff_id = _taken_conversation(live_stack)

    assert live_stack.chat(sender, "/restart", token) == []
    assert live_stack.chat(sender, "hi, anyone there?", token) == []
    assert live_stack.tracker(sender)["paused"] is True

    _hand_back(live_stack, sender, handoff_id)
    # Nova itself answers, not the channel's apology for a turn without an answer (action_default_fallback:
    # the restart had left the conversation without a session and without action_listen)
    answer = live_stack.texts(sender, "what is my balance", token)
    assert any("balance" in t.lower() for t in answer) and not any("went wrong" in t for t in answer), answer


def test_a_restart_without_a_hand_off_restarts_as_before(live_stack: LiveStack) -> None:
    sender, token = live_stack.new_sender("restart"), live_stack.token_for(CUSTOMER)
    live_stack.texts(sender, "hello", token)
    live_stack.chat(sender, "/restart", token)
    tracker = live_stack.tracker(sender)  # the events since the last restart
    assert tracker["paused"] is False
    assert not [e for e in tracker["events"] if e["event"] == "user"]  # "hello" is before the restart
    assert live_stack.texts(sender, "hello", token)


def _hand_back(stack: LiveStack, sender: str, handoff_id: int) -> None:
    from profiles.live_handoff import held_by

    close_handoff(held_by(handoff_id, staff="ana", role="staff", closing=True), staff="ana")
    _append(stack, sender, [{"event": "resume"}])
