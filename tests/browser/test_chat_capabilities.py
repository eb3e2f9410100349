"""Issue 11 item 9 in the web chat, in real Chromium against the real stack: a logged-in customer asks for
their credit card's balance and limit, and a Portuguese message is answered in Portuguese with its buttons."""

from __future__ import annotations

from typing import Any

from actions.parsing import money
from profiles.card_billing import list_credit_cards
from tests.browser.conftest import ARTIFACTS, ChatSite
from tests.browser.test_chat_widget import open_chat, say


def test_card_balance_and_limit_and_a_portuguese_message(page: Any, chat_database: ChatSite) -> None:
    open_chat(page, chat_database, customer=3)
    (card,) = list_credit_cards(3)
    replies = "\n".join(say(page, "what's my credit card limit?"))
    assert f"limit {money(card.credit_limit)}" in replies and f"owed {money(card.balance)}" in replies
    assert card.masked_number in replies

    replies = "\n".join(say(page, "Olá, podem ajudar-me com o meu cartão?"))
    assert "só fala inglês" in replies
    assert page.get_by_role("button", name="Falar com um colega").is_visible()
    page.screenshot(path=str(ARTIFACTS / "chat-card-limit-and-portuguese.png"), full_page=True)
