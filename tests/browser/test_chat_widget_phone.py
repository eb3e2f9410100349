"""The web chat at phone widths (390 px and 320 px) in real Chromium: nothing is off-screen and Send works."""

from __future__ import annotations

from typing import Any

import pytest

from tests.browser.conftest import ARTIFACTS, ChatSite
from tests.browser.test_chat_widget import REPLY_TIMEOUT_MS, bot_messages


@pytest.mark.parametrize("width", [390, 320])
def test_send_button_is_on_screen_and_works_at_phone_width(browser: Any, chat_database: ChatSite, width: int) -> None:
    page = browser.new_page(viewport={"width": width, "height": 740})
    try:
        page.goto(f"{chat_database.base_url}/chat")
        page.wait_for_function("() => !document.getElementById('chat-input').disabled", timeout=REPLY_TIMEOUT_MS)
        # no horizontal scrolling: the document is no wider than the screen
        assert page.evaluate("document.documentElement.scrollWidth") <= width
        for selector in ("#chat-send", "#chat-input"):
            box = page.locator(selector).bounding_box()
            assert box is not None and box["x"] >= 0 and box["x"] + box["width"] <= width, (selector, box)
        before = page.locator("#chat-log li.from-bot").count()
        page.get_by_label("Your message").fill("hello")
        page.locator("#chat-send").click()  # a real click: fails if anything covers the button
        page.wait_for_function(f"() => document.querySelectorAll('#chat-log li.from-bot').length > {before}",
                               timeout=REPLY_TIMEOUT_MS)
        assert bot_messages(page)[before:]
        page.screenshot(path=str(ARTIFACTS / f"chat-phone-{width}.png"), full_page=True)
    finally:
        page.close()
