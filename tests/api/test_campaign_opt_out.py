""""Stop" in answer to a campaign message, over a real database (both backends), without a live Rasa: the
action's function withdraws marketing on that channel through the one consent rule, and the next campaign send
to that customer is skipped as `no_consent` at send time (the other channels and other customers unaffected)."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from rasa_sdk.executor import CollectingDispatcher
from sqlalchemy import Engine, select

from actions.engagement import ActionMarketingConsent, answers_push
from api.campaign_queue import enqueue_plan, get_queue, reset_queue
from profiles.campaigns.models import CampaignDelivery
from profiles.campaigns.spec import CampaignSpec
from profiles.campaigns.store import create_campaign, transition
from profiles.consent import consent_decision, has_marketing_consent
from profiles.db import session_scope
from profiles.models import MessengerLink
from profiles.settings import ROOT
from tests.actions.conftest import SENDER, make_tracker
from tests.profiles.campaign_data import bulk_customers

PUSH: dict[str, Any] = {"event": "user", "text": "EXTERNAL: EXTERNAL_offer", "input_channel": "telegram",
        "parse_data": {"intent": {"name": "EXTERNAL_offer", "confidence": 1.0}, "entities": []}}
BOT: dict[str, Any] = {"event": "bot", "text": "Hi Ana, something you may like ... Reply \"stop sending me offers\" ..."}


@pytest.fixture
def queue(db: Engine, override_settings: Callable[..., None], tmp_path: Path) -> Iterator[None]:
    override_settings(campaign_sender="record", quiet_hours_start=0, quiet_hours_end=0, campaign_frequency_cap=100,
                      campaign_rate_telegram="", campaign_queue_file=tmp_path / "q.db",
                      campaign_queue_name=f"o-{uuid.uuid4().hex[:8]}")
    reset_queue()
    get_queue().immediate = True
    yield
    reset_queue()


def _say(text: str, intent: str, history: list[dict[str, Any]]) -> list[str]:
    tracker = make_tracker(text, intent, channel="telegram", history=history)
    dispatcher = CollectingDispatcher()
    domain = dict(yaml.safe_load((ROOT / "domain.yml").read_text()))
    asyncio.run(ActionMarketingConsent().run(dispatcher, tracker, domain))
    return [str(m.get("text") or m.get("response")) for m in dispatcher.messages]


def _campaign(name: str) -> int:
    spec = CampaignSpec.model_validate({
        "name": name, "goal": {"conversion": "profile_updated"}, "audience": {"min_churn": 0.0},
        "variants": [{"name": "A", "split": 100, "message": {"kind": "reminder", "template": "statement_ready"}}],
        "control_pct": 0})
    spec.audience.consent = "marketing"
    cid = create_campaign(spec, actor="staff:test").id
    transition(cid, "schedule", actor="staff:test")
    enqueue_plan(cid)  # planned and sent inline (immediate queue)
    return cid


def _statuses(cid: int) -> dict[int, tuple[str, str | None]]:
    with session_scope() as s:
        return {r.customer_id: (r.status, r.reason) for r in s.scalars(
            select(CampaignDelivery).where(CampaignDelivery.campaign_id == cid))}


def test_answers_push_looks_at_the_last_turns() -> None:
    def said(text: str) -> dict[str, Any]:
        return {"event": "user", "text": text, "parse_data": {"intent": {"name": "greet"}}}

    assert answers_push(make_tracker("stop sending me these", "marketing_opt_out", history=[PUSH, BOT]))
    assert answers_push(make_tracker("unsubscribe", "marketing_opt_out", history=[PUSH, BOT, said("what?")]))
    assert not answers_push(make_tracker("unsubscribe", "marketing_opt_out", history=[]))
    far = [PUSH, BOT, said("a"), said("b"), said("c")]
    assert not answers_push(make_tracker("unsubscribe", "marketing_opt_out", history=far))


def test_stop_from_a_campaign_message_withdraws_that_channel_and_later_sends_are_no_consent(queue: None) -> None:
    ids = bulk_customers(3)  # marketing consent on "all", each linked on Telegram
    who, other = ids[0], ids[1]
    with session_scope() as s:  # the customer's Telegram account is this conversation
        link = s.scalars(select(MessengerLink).where(MessengerLink.customer_id == who)).one()
        link.external_id = SENDER
    first = _campaign(f"opt-{uuid.uuid4().hex[:6]}")
    assert {s for s, _ in _statuses(first).values()} == {"delivered"}

    said = _say("stop sending me these", "marketing_opt_out", [PUSH, BOT])
    assert "Telegram" in said[0] and "won't send you marketing" in said[0]
    decision = consent_decision(who, "marketing", "telegram")
    assert decision.granted is False and decision.decided_by == "telegram"  # the channel's own row
    assert has_marketing_consent(who, "web") is True and has_marketing_consent(who) is True  # only that channel
    assert has_marketing_consent(other, "telegram") is True

    later = _campaign(f"opt-{uuid.uuid4().hex[:6]}")
    statuses = _statuses(later)
    assert statuses[who][0] == "no_consent" and "telegram" in (statuses[who][1] or "")
    assert statuses[other][0] == "delivered" and statuses[ids[2]][0] == "delivered"


def test_unsubscribe_outside_a_campaign_reply_withdraws_every_channel(queue: None) -> None:
    ids = bulk_customers(1)
    with session_scope() as s:
        s.scalars(select(MessengerLink).where(MessengerLink.customer_id == ids[0])).one().external_id = SENDER
    said = _say("unsubscribe me from marketing", "marketing_opt_out", [])
    assert "opted out of marketing" in said[0]
    assert has_marketing_consent(ids[0]) is False and has_marketing_consent(ids[0], "telegram") is False
