"""Proactive push to the web chat in a real browser (Chromium via Playwright) against the real stack.

A customer with marketing consent opens the chat page and says hello; the real feed consumer links that
socket.io conversation to them; the push API (in this process, over the stack's database and Rasa) then
sends an offer through Rasa's ``trigger_intent?output_channel=socketio`` and the message appears in the
open widget. A push after the page was closed sends nothing (``no_channel``: the web chat channel refuses a
room no socket is in), and a customer with neither a live web conversation nor a messenger account is
``no_channel`` without any call to Rasa. Screenshot: tests/artifacts/browser/chat-web-push.png.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from api.main import app
from profiles.consent import set_consent
from profiles.db import session_scope
from profiles.models import ConversationLink, Customer, Interaction, MessengerLink, PushDelivery
from profiles.push import decide_push
from profiles.settings import get_settings
from profiles.staff import issue_staff_token
from tests.browser.conftest import ARTIFACTS, ChatSite
from tests.browser.test_chat_widget import REPLY_TIMEOUT_MS, bot_messages, open_chat, say, session_id

MARKETING = {"Authorization": f"Bearer {issue_staff_token('web-push-marketing', 'marketing')}"}
OFFER = {"kind": "offer", "product": "term_deposit", "campaign": "web-td"}
REMINDER = {"kind": "reminder", "template": "statement_ready", "campaign": "web-statements"}
WEB_CUSTOMER = 283  # seeded ids no other stack test uses (e2e push: 240..269, feed: 271..279, erasure: 291)
SILENT_CUSTOMER = 284
FEED_TIMEOUT_S = 30.0


@pytest.fixture
def push_api(chat_database: ChatSite, monkeypatch: pytest.MonkeyPatch) -> Iterator[TestClient]:
    """The push API in this process over the stack's database and Rasa, without quiet hours."""
    monkeypatch.setenv("RASA_URL", chat_database.stack.rasa_url)
    monkeypatch.setenv("RASA_TOKEN", chat_database.stack.rasa_token)
    monkeypatch.setenv("QUIET_HOURS_START", "0")
    monkeypatch.setenv("QUIET_HOURS_END", "0")
    get_settings.cache_clear()
    with TestClient(app) as client:
        yield client
    get_settings.cache_clear()


def web_only_customer(cid: int) -> str:
    """Customer ``cid`` with marketing consent and no messenger account; returns their first name."""
    set_consent(cid, "marketing", "all", True, source="test", actor="staff:web-push")
    with session_scope() as s:
        assert s.scalars(select(MessengerLink).where(MessengerLink.customer_id == cid)).first() is None
        customer = s.get(Customer, cid)
        assert customer is not None
        return customer.first_name


def wait_for_feed_link(cid: int, sender: str) -> None:
    """Wait until the feed consumer has linked ``sender`` to ``cid`` and the decision sees a live web chat."""
    deadline = time.monotonic() + FEED_TIMEOUT_S
    while True:
        with session_scope() as s:
            link = s.get(ConversationLink, sender)
            linked = link is not None and link.customer_id == cid and link.channel == "socketio"
        if linked and decide_push(cid, "offer").sender_id == sender:
            return
        assert time.monotonic() < deadline, f"the feed did not link web conversation {sender} to customer {cid}"
        time.sleep(0.3)


def deliveries(cid: int) -> list[tuple[str, str | None, str | None]]:
    with session_scope() as s:
        return [(r.status, r.channel, r.sender_id) for r in s.scalars(
            select(PushDelivery).where(PushDelivery.customer_id == cid).order_by(PushDelivery.id))]


def open_chat_logged_in(page: Any, site: ChatSite, customer_id: int) -> None:
    """Open the chat page as the bank's logged-in site would serve it to ``customer_id``: the page embeds a
    signed token for them (the demo log-in serves only the demo customers 1-5, and this test needs a customer
    no other test touches)."""
    from profiles.identity import issue_token

    token = issue_token(customer_id, ttl_minutes=30)
    # set on #nova-chat as soon as the parser inserts it, before widget.js reads it (a rewritten document
    # would lose its local-network address space in Chromium and the socket to 127.0.0.1 would be blocked)
    page.add_init_script("""(token => new MutationObserver((_, observer) => {
        const root = document.getElementById('nova-chat');
        if (root) { root.dataset.token = token; observer.disconnect(); }
    }).observe(document, {childList: true, subtree: true}))(""" + json.dumps(token) + ")")
    open_chat(page, site)


def test_offer_reaches_the_open_web_chat_and_a_closed_page_gets_nothing(
    page: Any, chat_database: ChatSite, push_api: TestClient
) -> None:
    name = web_only_customer(WEB_CUSTOMER)
    open_chat_logged_in(page, chat_database, WEB_CUSTOMER)
    say(page, "hello")
    conversation = session_id(page)
    chat_database.stack.senders.add(conversation)
    wait_for_feed_link(WEB_CUSTOMER, conversation)

    before = page.locator("#chat-log li.from-bot").count()
    response = push_api.post(f"/customers/{WEB_CUSTOMER}/push", json=OFFER, headers=MARKETING)
    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["status"], body["channel"]) == ("delivered", "socketio"), body
    assert "sender_id" not in body  # the session id is the key to the conversation: only in push_deliveries
    assert "text" not in body and body["product"] == "term_deposit" and name not in response.text  # no names

    # the customer sees it in the open widget, with its button, without having said anything
    page.wait_for_function(f"() => document.querySelectorAll('#chat-log li.from-bot').length > {before}",
                           timeout=REPLY_TIMEOUT_MS)
    page.wait_for_timeout(400)
    shown = bot_messages(page)[before:]
    assert shown[0].startswith(f"Hi {name}, something you may like from Atlantic Bank: an Atlantic Term Deposit")
    assert page.locator("#chat-log li.from-bot button", has_text="Tell me more").count() >= 1
    page.screenshot(path=str(ARTIFACTS / "chat-web-push.png"), full_page=True)

    events = chat_database.stack.tracker(conversation)["events"]
    user = [e for e in events if e["event"] == "user"]
    assert user[-1]["parse_data"]["intent"]["name"] == "EXTERNAL_offer"
    sent = [e for e in events if e["event"] == "bot"][-1]["text"]
    assert [part.strip() for part in sent.strip().split("\n\n")] == shown
    with session_scope() as s:
        item = s.scalars(select(Interaction).where(Interaction.customer_id == WEB_CUSTOMER,
                                                   Interaction.kind == "campaign_message")).one()
        assert (item.channel, item.summary) == ("socketio", sent)

    # the customer answers the push in the same conversation
    assert say(page, "Tell me more about term deposits")

    # the customer leaves the page: the conversation is still "live" for the decision, but no socket is in it
    page.goto("about:blank")
    time.sleep(1.0)
    closed = push_api.post(f"/customers/{WEB_CUSTOMER}/push", json=REMINDER, headers=MARKETING).json()
    assert (closed["status"], closed["channel"]) == ("no_channel", "socketio")
    assert "web chat page was closed" in closed["reason"]
    after = chat_database.stack.tracker(conversation)["events"]
    assert not [e for e in after if e["event"] == "user"
                and e["parse_data"]["intent"]["name"] == "EXTERNAL_reminder"]  # Rasa stored nothing
    assert deliveries(WEB_CUSTOMER) == [("delivered", "socketio", conversation),
                                        ("no_channel", "socketio", conversation)]


def test_no_live_web_chat_and_no_messenger_is_no_channel(chat_database: ChatSite, push_api: TestClient) -> None:
    web_only_customer(SILENT_CUSTOMER)
    body = push_api.post(f"/customers/{SILENT_CUSTOMER}/push", json=OFFER, headers=MARKETING).json()
    assert (body["status"], body["channel"], body["product"]) == ("no_channel", None, "term_deposit")
    assert "sender_id" not in body
    assert "no web chat conversation" in body["reason"]
    assert deliveries(SILENT_CUSTOMER) == [("no_channel", None, None)]
