"""Issue 13's done-when, in one go, in real Chromium against the real stack (tests/e2e live_stack: Rasa, action
server, feed consumer, on SQLite or, with DATABASE_URL on PostgreSQL, a private schema there).

A staff member signs in, finds today's conversations with a fallback (the stack's conversations are made now,
so the date filter is today's UTC day), opens one, tags it, marks a message's intent wrong, corrects that
intent in the NLU annotation inbox, takes over a waiting hand-off and chats with the customer in the web chat
(a second browser context), hands back, and sees the bot analytics. Screenshots: tests/artifacts/browser/done-*.png.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select

from profiles.conversations import conversation_ref
from profiles.db import session_scope
from profiles.models import AuditLog, NluAnnotation
from tests.browser.conftest import ARTIFACTS, ChatSite
from tests.browser.test_chat_widget import open_chat, say, session_id
from tests.browser.test_live_handoff_browser import _type, _wait_bot_text, _wait_stored
from tests.browser.test_staff_console_browser import _sign_in, _wait_for_feed

CUSTOMER = 5  # demo customer Hugo Rodrigues
STAFF_USER = "ana.silva"
CARD_TEXT = "the cash machine on Rua Augusta kept my card"


def test_staff_member_walks_the_done_when_flow(browser: Any, chat_database: ChatSite) -> None:
    site, base, stack = chat_database, chat_database.base_url, chat_database.stack
    lost = stack.new_sender("done")
    assert stack.texts(lost, "   ")  # a blank message: the NLU fallback answers ("... Could you rephrase it ...")
    stack.chat(lost, CARD_TEXT)
    _wait_for_feed(lost, "rephrase")
    _wait_stored(lost, "user", CARD_TEXT)
    ref = conversation_ref(lost)
    today = datetime.now(UTC).date().isoformat()

    staff_context = browser.new_context(viewport={"width": 1280, "height": 900})
    customer_context = browser.new_context(viewport={"width": 900, "height": 900})
    staff, customer = staff_context.new_page(), customer_context.new_page()
    try:
        # sign in; the day's conversations with a fallback
        _sign_in(staff, base, "staff", STAFF_USER, "/staff/conversations")
        assert staff.url == f"{base}/staff/conversations"
        staff.get_by_label("Fallback hit").select_option("1")
        staff.get_by_label("Search messages").fill("cash machine")
        staff.get_by_label("Active from", exact=True).fill(today)
        staff.get_by_label("Active to", exact=True).fill(today)
        staff.get_by_role("button", name="Filter").click()
        staff.wait_for_load_state("load")
        assert "fallback=1" in staff.url and f"date_from={today}" in staff.url
        row = staff.locator(f'#conversations tr[data-ref="{ref}"]')
        assert row.count() == 1 and "fallback hit" in row.locator("td.flags").inner_text()

        # open it, tag it, mark the card message's intent wrong
        row.get_by_role("link", name=ref).click()
        staff.wait_for_load_state("load")
        assert staff.url == f"{base}/staff/conversations/{ref}"
        staff.get_by_label("Tag from the list").select_option("needs-training")
        staff.get_by_role("button", name="Add tag").click()
        staff.wait_for_load_state("load")
        assert staff.locator("p.note").inner_text() == "Tagged needs-training."
        card_turn = staff.locator(".turn.user").filter(has_text=CARD_TEXT)
        predicted = card_turn.locator(".intent").inner_text()
        event_id = card_turn.get_attribute("data-event")
        card_turn.get_by_role("button", name=f"Wrong intent: message {event_id}").click()
        staff.wait_for_load_state("load")
        assert "annotation inbox" in staff.locator("p.note").inner_text()
        staff.screenshot(path=str(ARTIFACTS / "done-transcript.png"), full_page=True)

        # correct the intent in the annotation inbox
        staff.get_by_role("link", name="NLU annotation").click()
        staff.wait_for_load_state("load")
        assert staff.url == f"{base}/staff/annotations"
        item = staff.locator(f'#annotations li[data-event="{event_id}"]')
        assert item.locator(".text").inner_text() == CARD_TEXT
        assert item.locator(".flagged").inner_text() == f"marked wrong by {STAFF_USER}"
        target = "card_swallowed" if predicted != "card_swallowed" else "card_not_working"
        item.get_by_label(f"Intent for message {event_id}").select_option(target)
        item.get_by_label(f"Entities for message {event_id}").fill("merchant=cash machine")
        item.get_by_role("button", name=f"Save intent of message {event_id}").click()
        staff.wait_for_load_state("load")
        assert staff.locator("p.note").inner_text() == f"Corrected to {target}."
        assert staff.locator(f'#annotations li[data-event="{event_id}"]').count() == 0
        decision = staff.locator(f'#decisions tr[data-event="{event_id}"] td.decision').inner_text()
        assert decision == f"corrected: {target} · merchant = cash machine"
        staff.screenshot(path=str(ARTIFACTS / "done-annotation.png"), full_page=True)

        # a customer in the web chat asks for a person; the staff member takes over and chats
        open_chat(customer, site, customer=CUSTOMER)
        match = re.search(r"reference H(\d+)", " ".join(say(customer, "I want to talk to a person")))
        assert match
        hid = int(match.group(1))
        sender = session_id(customer)
        _wait_stored(sender, "bot", f"reference H{hid}")
        staff.goto(f"{base}/staff/handoffs")
        waiting = staff.locator(f'#waiting tr[data-handoff="{hid}"]')
        assert waiting.locator("td.customer").inner_text().startswith("Hugo Rodrigues")
        waiting.get_by_role("button", name=f"Take hand-off H{hid}").click()
        staff.wait_for_load_state("load")
        _wait_bot_text(customer, "You are now talking to Ana, Atlantic Bank.")
        staff.get_by_label("Your message to the customer").fill("Hello Hugo, Ana here. How can I help?")
        staff.get_by_role("button", name="Send").click()
        staff.wait_for_load_state("load")
        _wait_bot_text(customer, "Hello Hugo, Ana here. How can I help?")
        _type(customer, "I lost my wallet with my card in it")
        staff.locator("#live-transcript li.turn.user .bubble").filter(
            has_text="I lost my wallet with my card in it").wait_for()
        staff.get_by_role("button", name="Hand back to the bot").click()
        staff.wait_for_load_state("load")
        assert "Handed back" in staff.locator("p.note").inner_text()
        _wait_bot_text(customer, "You're back with Nova, the assistant.")
        customer.screenshot(path=str(ARTIFACTS / "done-customer.png"), full_page=True)

        # the analytics
        staff.goto(f"{base}/staff/analytics")
        assert staff.get_by_role("heading", level=1).inner_text() == "Bot analytics"
        fallbacks = staff.locator("tr").filter(has=staff.locator("th", has_text="Fallback rate (conversations)"))
        counted = re.match(r"(\d+) of (\d+) conversations", fallbacks.locator("td").nth(1).inner_text())
        assert counted and int(counted.group(1)) >= 1  # at least this test's conversation
        assert "hand-off" in staff.locator("main").inner_text().lower()
        staff.screenshot(path=str(ARTIFACTS / "done-analytics.png"), full_page=True)

        with session_scope() as s:
            annotation = s.scalar(select(NluAnnotation).where(NluAnnotation.event_id == int(event_id or 0)))
            assert annotation is not None
            assert (annotation.status, annotation.intent, annotation.flagged_by, annotation.decided_by) == (
                "corrected", target, STAFF_USER, STAFF_USER)
            audit = s.scalars(select(AuditLog.field).where(AuditLog.entity == "nlu_annotation",
                                                           AuditLog.entity_id == annotation.id)
                              .order_by(AuditLog.id)).all()
            assert list(audit) == ["flagged", "corrected"]
    finally:
        staff_context.close()
        customer_context.close()
