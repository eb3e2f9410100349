"""Hand-off content and rate limits in the action server (issue 9, item 6), on the real CRM database."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import jwt
import pytest
from rasa_sdk.executor import ActionExecutor
from sqlalchemy import select

from actions.engagement import HANDOFF_SLOW_DOWN, ActionHumanHandoff
from actions.ratelimit import SLOW_DOWN
from profiles import issue_token, ratelimit
from profiles.db import session_scope
from profiles.identity import ALGORITHM, ISSUER, identity_claim
from profiles.models import HandoffRequest
from profiles.settings import get_settings
from tests.actions.conftest import SENDER, make_tracker, run_action, texts

pytestmark = pytest.mark.usefixtures("crm")


@pytest.fixture(autouse=True)
def _fresh_counts(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Counts of this test only (memory, or Redis in a production-mode run: a fresh namespace there)."""
    monkeypatch.setattr(ratelimit, "namespace_salt", uuid.uuid4().hex)
    ratelimit.reset()
    yield
    ratelimit.reset()


def _channel_metadata(token: str | None, sender: str = SENDER) -> dict[str, Any]:
    """What the web channels pass on for a token (bot/identity_claim.py): its identity claim, or nothing."""
    claim = identity_claim(token, sender)
    return {"identity": claim} if claim else {}


def user(text: str, token: str | None) -> dict[str, Any]:
    return {"event": "user", "text": text, "metadata": _channel_metadata(token), "input_channel": "rest"}


def _expired_token(customer_id: int) -> str:
    """A genuine token (our secret and issuer) that expired an hour ago."""
    now = datetime.now(UTC)
    return jwt.encode({"sub": str(customer_id), "iat": now - timedelta(hours=2), "exp": now - timedelta(hours=1),
                       "iss": ISSUER}, get_settings().jwt_secret, algorithm=ALGORITHM)


def latest_handoff() -> HandoffRequest:
    with session_scope() as s:
        row = s.scalars(select(HandoffRequest).order_by(HandoffRequest.id.desc())).first()
        assert row is not None
        s.expunge(row)
        return row


def test_a_handoff_carries_only_the_requesting_customers_turns(domain: dict[str, Any]) -> None:
    """Customer B asking for a human in a conversation A used first stored A's messages under B."""
    a, b = issue_token(1), issue_token(2)
    history = [user("my salary is late, IBAN PT50000201231234567890154", a), user("anonymous question", None),
               user("B here, hello", b)]
    tracker = make_tracker("I want a human", "human_handoff", token=b, history=history)
    run_action(ActionHumanHandoff(), tracker, domain)
    row = latest_handoff()
    assert row.customer_id == 2
    assert row.reason == "B here, hello | I want a human"
    assert "salary" not in row.reason and "anonymous" not in row.reason


def test_an_anonymous_handoff_leaves_out_every_signed_in_turn(domain: dict[str, Any]) -> None:
    history = [user("A's secret", issue_token(1)), user("hi", None), user("expired one", _expired_token(3))]
    run_action(ActionHumanHandoff(), make_tracker("human please", "human_handoff", history=history), domain)
    row = latest_handoff()
    assert row.customer_id is None and row.reason == "hi | human please"


def test_handoffs_are_rate_limited_per_conversation_and_per_customer(domain: dict[str, Any]) -> None:
    token = issue_token(3)
    said = [texts(run_action(ActionHumanHandoff(), make_tracker("human", "human_handoff", token=token), domain)[1])
            for _ in range(4)]
    assert all(s.startswith("I've asked a colleague") for s in said[:3])
    assert said[3] == HANDOFF_SLOW_DOWN  # polite, and no fourth row
    with session_scope() as s:
        assert len(s.scalars(select(HandoffRequest).where(HandoffRequest.customer_id == 3)).all()) == 3

    other = make_tracker("human", "human_handoff", token=token)  # the same customer from another conversation
    other.sender_id = "another-conversation"
    other.latest_message["metadata"] = _channel_metadata(token, other.sender_id)
    assert texts(run_action(ActionHumanHandoff(), other, domain)[1]).startswith("I've asked a colleague")
    assert texts(run_action(ActionHumanHandoff(), other, domain)[1]).startswith("I've asked a colleague")
    assert texts(run_action(ActionHumanHandoff(), other, domain)[1]) == HANDOFF_SLOW_DOWN  # 5/hour per customer


def _call(sender: str, message_id: str, token: str | None = None) -> dict[str, Any]:
    return {"next_action": "action_product_info", "sender_id": sender, "domain": {},
            "tracker": {"sender_id": sender, "slots": {}, "events": [], "paused": False, "followup_action": None,
                        "active_loop": {}, "latest_action_name": "action_listen",
                        "latest_message": {"text": "products?", "message_id": message_id,
                                           "intent": {"name": "product_info", "confidence": 0.9},
                                           "entities": [], "metadata": _channel_metadata(token, sender)}}}


def test_chat_messages_over_the_limit_get_a_polite_reply_and_run_no_action(
    domain: dict[str, Any], override_settings: Any,
) -> None:
    override_settings(chat_rate_limit="3/minute")
    executor = ActionExecutor()
    executor.register_action(ActionHumanHandoff())
    from actions.engagement import ActionProductInfo

    executor.register_action(ActionProductInfo())
    results = [asyncio.run(executor.run(_call("fast-sender", f"m{n}"))) for n in range(4)]
    assert all(r is not None for r in results)
    assert [r.responses[0].get("text") for r in results if r][3] == SLOW_DOWN
    assert results[3] is not None and results[3].events == [{"event": "followup", "name": "action_listen"}]
    assert all(r.responses[0].get("response") == "utter_product_overview" for r in results[:3] if r)
    # the same message running a second action counts once; another conversation has its own count
    assert asyncio.run(executor.run(_call("fast-sender", "m3"))).responses[0]["text"] == SLOW_DOWN  # type: ignore[union-attr]
    assert asyncio.run(executor.run(_call("calm-sender", "m0"))).responses[0]["response"] == "utter_product_overview"  # type: ignore[union-attr]


def test_one_customer_over_many_conversations_hits_the_per_customer_chat_limit(
    domain: dict[str, Any], override_settings: Any,
) -> None:
    """Opening a new conversation per message does not escape the limit: a verified customer's messages count
    together (CHAT_CUSTOMER_RATE_LIMIT); another customer and anonymous visitors keep their own counts."""
    override_settings(chat_rate_limit="100/minute", chat_customer_rate_limit="3/minute")
    executor = ActionExecutor()
    from actions.engagement import ActionProductInfo

    executor.register_action(ActionProductInfo())
    run = uuid.uuid4().hex[:8]
    token = issue_token(1)
    answers = [asyncio.run(executor.run(_call(f"c1-{run}-{n}", "m0", token))) for n in range(4)]
    said = [r.responses[0].get("text") or r.responses[0].get("response") for r in answers if r is not None]
    assert said == ["utter_product_overview"] * 3 + [SLOW_DOWN]
    other = asyncio.run(executor.run(_call(f"c2-{run}", "m0", issue_token(2))))
    anonymous = asyncio.run(executor.run(_call(f"anon-{run}", "m0")))
    assert other is not None and other.responses[0]["response"] == "utter_product_overview"
    assert anonymous is not None and anonymous.responses[0]["response"] == "utter_product_overview"
