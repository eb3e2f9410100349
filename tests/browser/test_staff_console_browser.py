"""The staff console in real Chromium against the real stack: conversations made through the real Rasa server
(tests/e2e live_stack: Rasa, action server, feed consumer) reach the inbox through the feed; a staff member
signs in, finds the conversation with a fallback, opens it, tags it and marks it reviewed (also at 390 px)."""

from __future__ import annotations

import time
from typing import Any

import pytest
from sqlalchemy import select

from profiles.conversations import conversation_ref
from profiles.db import session_scope
from profiles.models import AccessLog, ConversationEvent
from profiles.staff import issue_staff_token
from tests.browser.conftest import ARTIFACTS, ChatSite

FEED_DEADLINE_S = 30.0


def _stored(sender: str, bot_text: str) -> bool:
    with session_scope() as s:
        texts = s.scalars(select(ConversationEvent.text).where(ConversationEvent.sender_id == sender,
                                                               ConversationEvent.event_type == "bot")).all()
    return any(bot_text in (t or "") for t in texts)


def _wait_for_feed(sender: str, bot_text: str) -> None:
    deadline = time.monotonic() + FEED_DEADLINE_S
    while not _stored(sender, bot_text):
        if time.monotonic() > deadline:
            pytest.fail(f"the feed did not store the conversation within {FEED_DEADLINE_S:.0f} s")
        time.sleep(0.2)


def _sign_in(page: Any, base: str, role: str, user: str, target: str) -> None:
    page.goto(f"{base}{target}")
    assert page.url.startswith(f"{base}/staff/sign-in")
    page.get_by_label("Staff token").fill(issue_staff_token(user, role))
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_load_state("load")


def test_staff_member_finds_a_fallback_conversation_tags_it_and_marks_it_reviewed(
    page: Any, chat_database: ChatSite, browser: Any
) -> None:
    stack, base = chat_database.stack, chat_database.base_url
    lost = stack.new_sender("console")
    fine = stack.new_sender("console")
    assert stack.texts(lost, "   ")  # a blank message: the NLU fallback answers ("... Could you rephrase it ...")
    stack.chat(lost, "hello")
    stack.chat(fine, "hello")
    _wait_for_feed(lost, "rephrase")
    _wait_for_feed(fine, "Nova")
    ref, other = conversation_ref(lost), conversation_ref(fine)

    _sign_in(page, base, "staff", "ana", "/staff/conversations")
    assert page.url == f"{base}/staff/conversations"
    assert page.get_by_role("heading", level=1).inner_text() == "Conversations"
    page.get_by_label("Search messages").fill("rephrase")
    page.get_by_label("Fallback hit").select_option("1")
    page.get_by_role("button", name="Filter").click()
    page.wait_for_load_state("load")
    assert "fallback=1" in page.url
    row = page.locator(f'#conversations tr[data-ref="{ref}"]')
    assert row.count() == 1
    assert page.locator(f'#conversations tr[data-ref="{other}"]').count() == 0
    assert "fallback hit" in row.locator("td.flags").inner_text()
    assert row.locator("td.reviewed").inner_text().startswith("no")
    assert lost not in page.content()  # never the raw sender id
    page.screenshot(path=str(ARTIFACTS / "console-inbox.png"), full_page=True)

    row.get_by_role("link", name=ref).click()
    page.wait_for_load_state("load")
    assert page.url == f"{base}/staff/conversations/{ref}"
    assert page.locator(".turn.user .intent").first.inner_text() == "nlu_fallback"
    assert "rephrase" in page.locator(".turn.bot .bubble").first.inner_text()
    assert page.locator(".turn.bot .buttons .button").filter(has_text="Talk to a human").count() >= 1
    assert page.locator(".turn.action code").filter(has_text="utter_fallback").count() >= 1
    assert lost not in page.content()

    page.get_by_label("Tag from the list").select_option("wrong-intent")
    page.get_by_role("button", name="Add tag").click()
    page.wait_for_load_state("load")
    assert page.locator("p.note").inner_text() == "Tagged wrong-intent."
    page.get_by_label("or a new tag").fill("Blank message")
    page.get_by_role("button", name="Add tag").click()
    page.wait_for_load_state("load")
    assert page.locator("#tags .tag").all_inner_texts() == ["blank-message", "wrong-intent"]
    page.get_by_role("button", name="Mark reviewed").click()
    page.wait_for_load_state("load")
    assert page.locator("#reviewed").inner_text() == "yes"
    page.screenshot(path=str(ARTIFACTS / "console-transcript.png"), full_page=True)

    # back in the inbox: reviewed and tagged; the "not reviewed" filter no longer lists it
    page.goto(f"{base}/staff/conversations?tag=wrong-intent&reviewed=1")
    assert page.locator(f'#conversations tr[data-ref="{ref}"] td.reviewed').inner_text().startswith("yes")
    page.goto(f"{base}/staff/conversations?q=rephrase&fallback=1&reviewed=0")
    assert page.locator(f'#conversations tr[data-ref="{ref}"]').count() == 0

    with session_scope() as s:
        reads = s.scalars(select(AccessLog).where(AccessLog.action == "transcript", AccessLog.staff == "ana")).all()
    assert any(ref in (r.detail or "") for r in reads)

    # a phone: the inbox fits 390 px without sideways scrolling, and marketing may not read transcripts
    phone = browser.new_context(viewport={"width": 390, "height": 844}, is_mobile=True)
    try:
        tab = phone.new_page()
        _sign_in(tab, base, "staff", "ana", "/staff/conversations?q=rephrase")
        assert tab.locator(f'#conversations tr[data-ref="{ref}"]').is_visible()
        assert tab.evaluate("document.documentElement.scrollWidth") <= 390
        tab.screenshot(path=str(ARTIFACTS / "console-inbox-390.png"), full_page=True)
        tab.goto(f"{base}/staff/annotations")  # the NLU annotation inbox fits too
        assert tab.locator("#annotations").is_visible()
        assert tab.evaluate("document.documentElement.scrollWidth") <= 390
        tab.screenshot(path=str(ARTIFACTS / "console-annotations-390.png"), full_page=True)
        tab.context.clear_cookies()
        _sign_in(tab, base, "marketing", "mia", f"/staff/conversations/{ref}")
        assert tab.get_by_role("heading", level=1).inner_text() == "Not allowed"
    finally:
        phone.close()
