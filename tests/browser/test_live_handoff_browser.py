"""Live hand-off in real Chromium, two browser contexts, against the real stack (tests/e2e live_stack: Rasa,
action server, feed consumer; the API of ``chat_site`` talking to that Rasa with its token).

The customer (demo customer 5 in the web chat) asks for a person; a staff member signs in, finds the hand-off in
the queue (customer, channel, last turns), takes it; the customer is told who they are talking to; the staff
member's message appears in the customer's chat with their name; the customer answers (Rasa stores it, the bot
stays silent: no answer, no apology) and the staff page shows it through its poll of the transcript store; the
staff member hands back and the customer's next message is answered by Nova again. Screenshots:
tests/artifacts/browser/handoff-*.png.
"""

from __future__ import annotations

import re
import time
from typing import Any

import pytest
from sqlalchemy import select

from profiles.conversations import conversation_ref
from profiles.db import session_scope
from profiles.models import AccessLog, AuditLog, ConversationEvent, HandoffRequest
from profiles.staff import issue_staff_token
from tests.browser.conftest import ARTIFACTS, ChatSite
from tests.browser.test_chat_widget import REPLY_TIMEOUT_MS, bot_messages, open_chat, say, session_id

CUSTOMER = 5  # demo customer Hugo Rodrigues (/chat?demo_customer=5)
FEED_DEADLINE_S = 30.0
STAFF_USER = "ana.silva"  # the customer is told "Ana"


def _wait_stored(sender: str, kind: str, text: str) -> None:
    deadline = time.monotonic() + FEED_DEADLINE_S
    while True:
        with session_scope() as s:
            texts = s.scalars(select(ConversationEvent.text).where(ConversationEvent.sender_id == sender,
                                                                   ConversationEvent.event_type == kind)).all()
        if any(text in (t or "") for t in texts):
            return
        if time.monotonic() > deadline:
            pytest.fail(f"the feed did not store the {kind} message {text!r} within {FEED_DEADLINE_S:.0f} s")
        time.sleep(0.2)


def _wait_bot_text(page: Any, text: str) -> None:
    page.wait_for_function(
        "t => Array.from(document.querySelectorAll('#chat-log li.from-bot .text')).some(e => e.textContent === t)",
        arg=text, timeout=REPLY_TIMEOUT_MS)


def _type(page: Any, text: str) -> None:
    box = page.get_by_label("Your message")
    box.focus()
    page.keyboard.type(text)
    page.keyboard.press("Enter")


def test_staff_takes_over_a_web_chat_chats_with_the_customer_and_hands_back(browser: Any, chat_database: ChatSite) -> None:
    site, base = chat_database, chat_database.base_url
    customer_context = browser.new_context(viewport={"width": 900, "height": 900})
    staff_context = browser.new_context(viewport={"width": 1280, "height": 900})
    customer, staff = customer_context.new_page(), staff_context.new_page()
    try:
        # the customer asks for a person
        open_chat(customer, site, customer=CUSTOMER)
        replies = say(customer, "I want to talk to a person")
        match = re.search(r"reference H(\d+)", " ".join(replies))
        assert match, replies
        hid = int(match.group(1))
        sender = session_id(customer)
        ref = conversation_ref(sender)
        _wait_stored(sender, "bot", f"reference H{hid}")

        # staff sign in and find it in the queue
        staff.goto(f"{base}/staff/handoffs")
        assert staff.url.startswith(f"{base}/staff/sign-in")
        staff.get_by_label("Staff token").fill(issue_staff_token(STAFF_USER, "staff"))
        staff.get_by_role("button", name="Sign in").click()
        staff.wait_for_load_state("load")
        assert staff.url == f"{base}/staff/handoffs"
        row = staff.locator(f'#waiting tr[data-handoff="{hid}"]')
        assert row.count() == 1
        assert row.locator("td.customer").inner_text().startswith("Hugo Rodrigues")
        assert row.locator("td.channel").inner_text() == "socketio"
        assert "I want to talk to a person" in row.locator("td.turns").inner_text()
        assert row.get_by_role("link", name=ref).get_attribute("href") == f"/staff/conversations/{ref}"
        assert sender not in staff.content()  # never the raw sender id
        staff.screenshot(path=str(ARTIFACTS / "handoff-queue.png"), full_page=True)

        # take it: the customer is told who they are talking to
        row.get_by_role("button", name=f"Take hand-off H{hid}").click()
        staff.wait_for_load_state("load")
        assert staff.url.startswith(f"{base}/staff/handoffs/{hid}")
        assert "customer was told they are talking to Ana" in staff.locator("p.note").inner_text()
        _wait_bot_text(customer, "You are now talking to Ana, Atlantic Bank.")

        # a staff message reaches the customer's chat, with the staff member's name
        staff.get_by_label("Your message to the customer").fill("Hello Hugo, I'm Ana. How can I help?")
        staff.get_by_role("button", name="Send").click()
        staff.wait_for_load_state("load")
        assert staff.locator("p.note").inner_text() == "Sent."
        _wait_bot_text(customer, "Hello Hugo, I'm Ana. How can I help?")
        agent_message = customer.locator("#chat-log li.from-agent").last
        assert agent_message.locator(".agent-name").inner_text() == "Ana · Atlantic Bank"

        # the customer answers: no bot answer, no typing indicator; the staff page shows it (poll)
        before = len(bot_messages(customer))
        _type(customer, "My card is stuck in the ATM on Rua Augusta")
        assert customer.locator("#chat-typing").is_hidden()
        staff.locator("#live-transcript li.turn.user .bubble").filter(
            has_text="My card is stuck in the ATM on Rua Augusta").wait_for(timeout=REPLY_TIMEOUT_MS)
        customer.wait_for_timeout(1500)  # an apology would follow the stored turn within milliseconds
        assert len(bot_messages(customer)) == before, bot_messages(customer)[before:]
        events = site.stack.tracker(sender)["events"]
        last_user = max(i for i, e in enumerate(events) if e.get("event") == "user")
        assert not [e for e in events[last_user + 1:] if e.get("event") == "bot"]  # the bot did not answer
        staff.screenshot(path=str(ARTIFACTS / "handoff-live.png"), full_page=True)
        customer.screenshot(path=str(ARTIFACTS / "handoff-customer.png"), full_page=True)

        # hand back: the customer is told, and Nova answers the next message
        staff.get_by_role("button", name="Hand back to the bot").click()
        staff.wait_for_load_state("load")
        assert staff.url.startswith(f"{base}/staff/handoffs?")
        assert "Handed back" in staff.locator("p.note").inner_text()
        _wait_bot_text(customer, "You're back with Nova, the assistant.")
        answer = say(customer, "hello")
        assert answer and any("Nova" in a or "help" in a.lower() or "Hi" in a for a in answer), answer

        # the tracker holds the whole conversation; the CRM the states, the audit and the reads
        events = site.stack.tracker(sender)["events"]
        kinds = [e["event"] for e in events]
        assert "pause" in kinds and "resume" in kinds and kinds.index("pause") < kinds.index("resume")
        staff_messages = [e for e in events if e.get("event") == "bot"
                          and (e.get("metadata") or {}).get("handoff", {}).get("agent") == STAFF_USER]
        assert [m["text"] for m in staff_messages] == [
            "You are now talking to Ana, Atlantic Bank.", "Hello Hugo, I'm Ana. How can I help?",
            "You're back with Nova, the assistant."]
        with session_scope() as s:
            request = s.get(HandoffRequest, hid)
            assert request is not None and (request.status, request.taken_by, request.closed_by) == (
                "closed", STAFF_USER, STAFF_USER)
            audit = s.scalars(select(AuditLog.field).where(AuditLog.entity == "handoff", AuditLog.entity_id == hid)
                              .order_by(AuditLog.id)).all()
            assert list(audit) == ["status", "message", "status"]
            reads = s.scalars(select(AccessLog.detail).where(AccessLog.action == "transcript",
                                                            AccessLog.staff == STAFF_USER)).all()
            assert any(ref in (d or "") for d in reads)
    finally:
        customer_context.close()
        staff_context.close()
