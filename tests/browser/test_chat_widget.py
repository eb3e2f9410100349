"""The customer web chat widget in a real browser (Chromium via Playwright) against the real stack.

The page comes from our API (``GET /chat``), the browser talks socket.io straight to the real Rasa server
(``bot/socketio_channel.py``), which calls the real action server over the seeded CRM database; figures shown
are compared with the database. Screenshots go to tests/artifacts/browser/chat-*.png.
"""

from __future__ import annotations

import asyncio
import importlib
import json
import os
import re
import time
from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal
from typing import Any

import pytest
from fastapi.testclient import TestClient

from actions.parsing import money
from profiles import list_accounts
from profiles.db import reset_engine
from profiles.identity import claim_subject
from profiles.settings import get_settings
from tests.browser.conftest import ARTIFACTS, ChatSite

REPLY_TIMEOUT_MS = 60_000
WATCH_TYPING = """() => {
  window.__typingSeen = false;
  const el = document.getElementById('chat-typing');
  new MutationObserver(() => { if (!el.hidden) window.__typingSeen = true; })
    .observe(el, {attributes: true, attributeFilter: ['hidden']});
}"""


def open_chat(page: Any, site: ChatSite, customer: int | None = None) -> None:
    """Open the page (as demo customer ``customer``) and wait until the widget is connected."""
    query = f"?demo_customer={customer}" if customer else ""
    response = page.goto(f"{site.base_url}/chat{query}")
    assert response is not None and response.status == 200
    page.wait_for_function("() => !document.getElementById('chat-input').disabled", timeout=REPLY_TIMEOUT_MS)


def bot_messages(page: Any) -> list[str]:
    return [t.strip() for t in page.locator("#chat-log li.from-bot .text").all_inner_texts()]


def say(page: Any, text: str) -> list[str]:
    """Type ``text`` with the keyboard, press Enter, wait for Nova's answer; return the new bot messages."""
    before = page.locator("#chat-log li.from-bot").count()
    page.evaluate(WATCH_TYPING)
    box = page.get_by_label("Your message")
    box.focus()
    page.keyboard.type(text)
    page.keyboard.press("Enter")
    return _replies_after(page, before)


def _replies_after(page: Any, before: int) -> list[str]:
    page.wait_for_function(f"() => document.querySelectorAll('#chat-log li.from-bot').length > {before}",
                           timeout=REPLY_TIMEOUT_MS)
    page.wait_for_function("() => document.getElementById('chat-typing').hidden", timeout=REPLY_TIMEOUT_MS)
    page.wait_for_timeout(400)  # replies of one turn arrive within milliseconds of each other
    return bot_messages(page)[before:]


def session_id(page: Any) -> str:
    value = page.locator("#nova-chat").get_attribute("data-session-id")
    assert value
    return str(value)


def user_events_of(site: ChatSite, conversation: str, last_text: str) -> list[dict[str, Any]]:
    """The conversation's ``user`` events once Rasa has stored the turn whose text is ``last_text``.

    socket.io replies reach the browser while Rasa is still running the turn's later actions; the tracker is
    stored when the turn ends, so it is polled."""
    deadline = time.monotonic() + 30
    while True:
        events = [e for e in site.stack.tracker(conversation)["events"] if e["event"] == "user"]
        if events and events[-1]["text"] == last_text and site.stack.tracker(conversation)["latest_action_name"] == "action_listen":
            return events
        assert time.monotonic() < deadline, f"turn {last_text!r} not stored: {events}"
        time.sleep(0.3)


def test_logged_in_customer_sees_their_balance_from_the_database(page: Any, chat_database: ChatSite) -> None:
    open_chat(page, chat_database, customer=1)
    assert "Logged in as" in page.locator("#identity").inner_text()
    replies = "\n".join(say(page, "what's my balance?"))
    assert page.evaluate("window.__typingSeen") is True  # the typing indicator was shown while waiting
    accounts = list_accounts(1)
    assert accounts
    for account in accounts:
        assert f"{account.masked_number}: {money(account.balance)}" in replies
    # the user's line and the answer are in the log, which is an aria-live region
    log = page.get_by_role("log")
    assert log.get_attribute("aria-live") == "polite"
    assert "what's my balance?" in log.inner_text()
    page.screenshot(path=str(ARTIFACTS / "chat-balance-customer-1.png"), full_page=True)

    user_events = user_events_of(chat_database, session_id(page), "what's my balance?")
    assert user_events[-1]["input_channel"] == "socketio"
    # the token stops at the channel door: the tracker holds only the identity claim for this conversation
    metadata = user_events[-1]["metadata"]
    token = page.locator("#nova-chat").get_attribute("data-token")
    assert "token" not in metadata and token and token not in json.dumps(user_events)
    subject = claim_subject(metadata, session_id(page))
    assert subject is not None and subject[0] == 1

    # "Log out" forgets the conversation in this browser: its session id and secret are the key to it
    stored = "() => Object.keys(window.localStorage).filter(k => k.startsWith('nova-chat:1')).sort()"
    assert page.evaluate(stored) == ["nova-chat:1", "nova-chat:1:messages", "nova-chat:1:secret"]
    with page.expect_navigation():
        page.get_by_role("link", name="Log out").click()
    assert "not logged in" in page.locator("#identity").inner_text()
    assert page.evaluate(stored) == []


def test_anonymous_visitor_asking_for_the_balance_is_asked_to_log_in(page: Any, chat_database: ChatSite) -> None:
    open_chat(page, chat_database)
    assert "not logged in" in page.locator("#identity").inner_text()
    # a new conversation opens with Nova's greeting and starter replies
    assert bot_messages(page) and bot_messages(page)[0].startswith("Hi, I'm Nova")
    starter = page.get_by_role("group", name="Suggested replies").last.get_by_role("button", name="What's my balance?")
    count = page.locator("#chat-log li.from-bot").count()
    starter.click()
    assert "log in" in "\n".join(_replies_after(page, count))
    replies = "\n".join(say(page, "what's my balance?"))
    assert "log in" in replies
    assert "€" not in replies
    # an FAQ answer works without logging in
    faq = "\n".join(say(page, "What exchange rate do you use?"))
    assert "rate" in faq.lower()
    page.screenshot(path=str(ARTIFACTS / "chat-anonymous.png"), full_page=True)


def test_buttons_are_clickable_and_a_reload_keeps_the_conversation(page: Any, chat_database: ChatSite) -> None:
    customer = 2
    before = {a.masked_number: a.balance for a in list_accounts(customer)}
    open_chat(page, chat_database, customer=customer)

    # buttons from the menu, used with the keyboard only
    say(page, "what can you do?")
    menu = page.get_by_role("group", name="Suggested replies").last
    check = menu.get_by_role("button", name="Check my balance")
    assert check.is_enabled()
    count = page.locator("#chat-log li.from-bot").count()
    check.focus()
    page.keyboard.press("Enter")
    replies = "\n".join(_replies_after(page, count))
    assert all(f"{masked}: {money(balance)}" in replies for masked, balance in before.items())
    assert page.locator("#chat-log li.from-user .text").last.inner_text() == "Check my balance"
    assert not check.is_enabled()  # answered: the old buttons are disabled

    # a transfer begun before a reload goes on after it, in the same Rasa conversation
    assert any("How much" in r for r in say(page, "I want to transfer money"))
    said = say(page, "12.30")
    # the source defaults to the customer's only current account: the next question is the destination
    assert any("Where should the money go" in r for r in said), said
    conversation = session_id(page)
    lines_before = page.locator("#chat-log li").count()
    page.screenshot(path=str(ARTIFACTS / "chat-before-reload.png"), full_page=True)

    page.reload()
    page.wait_for_function("() => !document.getElementById('chat-input').disabled", timeout=REPLY_TIMEOUT_MS)
    assert session_id(page) == conversation
    assert page.locator("#chat-log li").count() == lines_before
    target = page.get_by_role("group", name="Suggested replies").last.get_by_role("button").first
    count = page.locator("#chat-log li.from-bot").count()
    target.click()
    confirm = "\n".join(_replies_after(page, count))
    assert "confirm" in confirm and "€12.30" in confirm
    assert any("Done" in r for r in say(page, "yes"))
    page.screenshot(path=str(ARTIFACTS / "chat-after-reload-transfer.png"), full_page=True)

    after = {a.masked_number: a.balance for a in list_accounts(customer)}
    debited = [m for m in before if after[m] == before[m] - Decimal("12.30")]
    assert len(debited) == 1 and debited[0] in confirm  # the source read back is the account debited
    user_texts = [e["text"] for e in user_events_of(chat_database, conversation, "yes")]
    assert user_texts[:2] == ["what can you do?", "/check_balance"]
    assert user_texts[-1] == "yes"


OTHER_SESSION = "0123456789abcdef0123456789abcdef"  # a session this test's socket never joined


async def _socket_checks(socketio: Any, rasa_url: str, web_origin: str) -> dict[str, Any]:
    seen: dict[str, Any] = {}
    # a page on another origin is refused at the handshake
    foreign = socketio.AsyncClient(reconnection=False)
    try:
        await foreign.connect(rasa_url, headers={"Origin": "http://evil.example"}, transports=["polling"],
                              wait_timeout=10)
        seen["foreign"] = "connected"
    except socketio.exceptions.ConnectionError as exc:
        seen["foreign"] = f"refused: {exc}"
    finally:
        await foreign.disconnect()

    client = socketio.AsyncClient(reconnection=False)
    errors: asyncio.Queue[Any] = asyncio.Queue()
    confirmed: asyncio.Queue[Any] = asyncio.Queue()
    client.on("error", errors.put)
    client.on("session_confirm", confirmed.put)
    await client.connect(rasa_url, headers={"Origin": web_origin}, transports=["websocket"], wait_timeout=10)
    try:
        await client.emit("session_request", "not an object")
        seen["bad_session_request"] = await asyncio.wait_for(errors.get(), 10)
        await client.emit("session_request", {"session_id": "../../etc"})
        seen["bad_session_id"] = await asyncio.wait_for(errors.get(), 10)
        await client.emit("session_request", {})
        seen["session"] = (await asyncio.wait_for(confirmed.get(), 10))["session_id"]
        await client.emit("user_uttered", {"message": 42, "session_id": seen["session"]})
        seen["bad_message"] = await asyncio.wait_for(errors.get(), 10)
        await client.emit("user_uttered", {"message": "hi"})
        seen["no_session_id"] = await asyncio.wait_for(errors.get(), 10)
        await client.emit("user_uttered", {"message": "hi", "session_id": seen["session"], "metadata": [1]})
        seen["bad_metadata"] = await asyncio.wait_for(errors.get(), 10)
        deep: dict[str, object] = {}
        for _ in range(200):  # deeper than bot/json_limits.py allows (20), shallower than json's recursion limit
            deep = {"a": deep}
        await client.emit("user_uttered", {"message": "hi", "session_id": seen["session"], "metadata": deep})
        seen["deep_metadata"] = await asyncio.wait_for(errors.get(), 10)
        # a socket speaks only in the session it joined: not into another conversation by naming its id
        await client.emit("user_uttered", {"message": "what's my balance?", "session_id": OTHER_SESSION})
        seen["other_session"] = await asyncio.wait_for(errors.get(), 10)
        seen["connected_after"] = client.connected
    finally:
        await client.disconnect()
    return seen


def test_socketio_channel_refuses_foreign_origins_and_malformed_events(chat_site: ChatSite) -> None:
    # python-socketio's client (requirements/app.in: python-socketio[asyncio_client])
    socketio = pytest.importorskip("socketio") if not os.environ.get("CI") else importlib.import_module("socketio")
    # its own thread: Playwright's sync API keeps an event loop running in this one
    with ThreadPoolExecutor(1) as pool:
        seen = pool.submit(asyncio.run, _socket_checks(socketio, chat_site.stack.rasa_url, chat_site.base_url)).result()
    assert seen["foreign"].startswith("refused")
    assert "JSON object" in seen["bad_session_request"]["error"]
    assert "session_id" in seen["bad_session_id"]["error"]
    assert re.fullmatch(r"w[0-9a-f]{32}", seen["session"])
    assert "\"message\"" in seen["bad_message"]["error"]
    assert "session_id" in seen["no_session_id"]["error"]
    assert "metadata" in seen["bad_metadata"]["error"]
    assert "nested" in seen["deep_metadata"]["error"]
    assert "the session this socket joined" in seen["other_session"]["error"]
    assert [e for e in chat_site.stack.tracker(OTHER_SESSION)["events"] if e["event"] == "user"] == []
    assert seen["connected_after"] is True
    # nothing of that reached the dialogue
    assert [e for e in chat_site.stack.tracker(seen["session"])["events"] if e["event"] == "user"] == []


@pytest.fixture
def api_client(chat_database: ChatSite) -> Any:
    from api.main import create_app

    with TestClient(create_app()) as client:
        yield client


def test_page_headers_demo_log_in_and_bad_input(api_client: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    page = api_client.get("/chat?demo_customer=1")
    assert page.status_code == 200
    csp = page.headers["content-security-policy"]
    rasa = get_settings().rasa_url
    assert f"connect-src 'self' {rasa} {rasa.replace('http://', 'ws://')};" in csp
    assert "script-src 'self';" in csp
    token = re.search(r'data-token="([^"]+)"', page.text)
    assert token is not None
    from profiles.identity import verify_token

    assert verify_token(token.group(1)) == 1
    assert 'data-token=""' in api_client.get("/chat").text
    assert api_client.get("/chat?demo_customer=999999").status_code == 404
    assert api_client.get("/chat?demo_customer=0").status_code == 422
    assert api_client.get("/chat?demo_customer=abc").status_code == 422
    assert api_client.get("/chat?demo_customer=99999999999").status_code == 422
    assert api_client.get("/chat/static/widget.js").status_code == 200
    vendored = api_client.get("/chat/static/socket.io.min.js")
    assert vendored.status_code == 200 and vendored.text.startswith("/*!\n * Socket.IO v4.8.4")
    assert api_client.get("/chat/static/NOTICE").status_code == 404
    assert api_client.get("/chat/static/..%2Fchat.html").status_code == 404

    # outside development the demo log-in does not exist
    monkeypatch.setenv("ENVIRONMENT", "production")
    monkeypatch.setenv("JWT_SECRET", "x" * 40)
    monkeypatch.setenv("RASA_TOKEN", "y" * 40)
    get_settings.cache_clear()
    reset_engine()
    refused = api_client.get("/chat?demo_customer=1")
    assert refused.status_code == 404
    assert "data-token=\"\"" in refused.text and "Demo only" not in refused.text
    assert api_client.get("/chat").status_code == 200
