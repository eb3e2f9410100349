"""Smoke tests of the real stack: Rasa 3.6 answers over REST and calls our rasa-sdk action server."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.e2e.conftest import LiveStack

ROOT = Path(__file__).resolve().parents[2]


def _domain_texts(response: str) -> set[str]:
    domain = yaml.safe_load((ROOT / "domain.yml").read_text())
    return {variant["text"] for variant in domain["responses"][response] if "text" in variant}


def _events_after_last_user_message(tracker: dict[str, Any]) -> list[dict[str, Any]]:
    events: list[dict[str, Any]] = tracker["events"]
    last_user = max(i for i, e in enumerate(events) if e["event"] == "user")
    return events[last_user + 1 :]


def test_hello_gets_a_greeting(live_stack: LiveStack) -> None:
    sender = live_stack.new_sender("smoke")
    replies = live_stack.texts(sender, "hello")

    assert replies, "the bot said nothing"
    assert replies[0] in _domain_texts("utter_greet")
    tracker = live_stack.tracker(sender)
    assert tracker["latest_message"]["intent"]["name"] == "greet"
    actions = [e["name"] for e in _events_after_last_user_message(tracker) if e["event"] == "action"]
    assert actions[:1] == ["utter_greet"]


def test_rasa_calls_our_action_server(live_stack: LiveStack) -> None:
    """A custom action runs on the real rasa-sdk server and its messages come back through Rasa."""
    sender = live_stack.new_sender("smoke")
    # The "/intent" form skips NLU, so this depends only on the rules, not on the classifier.
    replies = live_stack.texts(sender, "/check_balance")

    after = _events_after_last_user_message(live_stack.tracker(sender))
    names = [e["name"] for e in after if e["event"] == "action"]
    assert "action_show_balance" in names
    position = next(i for i, e in enumerate(after) if e.get("name") == "action_show_balance")
    assert any(e["event"] == "bot" for e in after[position + 1 :]), "action_show_balance sent no message"
    assert replies


def test_production_mode_keeps_the_conversation_in_redis(live_stack: LiveStack) -> None:
    if not live_stack.redis_url:
        pytest.skip("embedded mode: REDIS_URL is not set (production mode runs this)")
    import redis

    sender = live_stack.new_sender("smoke")
    live_stack.chat(sender, "hello")

    client = redis.Redis.from_url(live_stack.redis_url, decode_responses=True)
    stored = client.get(f"nova:tracker:{sender}")
    client.close()
    assert stored is not None, "Rasa did not write the tracker to Redis"
    events = json.loads(stored)["events"]
    assert any(e["event"] == "user" and e.get("text") == "hello" for e in events)
