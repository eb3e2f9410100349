"""A campaign push arriving while the customer is inside the transfer form (issue 14 §5), against the real Rasa
server, action server and database.

The push is what a campaign sends (``api.push.external_entities``, the same external intent and entities) through
Rasa's ``trigger_intent``; without an output channel Rasa returns the turn's messages, so the test sees exactly
what the customer would get. The pushed turn carries no identity of its own: the form asks its question again
with its buttons (the identity of the customer's own last message), the customer finishes the transfer with
the buttons and a verified identity, and the money moves once with the confirmed values.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import httpx
import pytest

from api.push import EXTERNAL_INTENTS, external_entities
from profiles import list_accounts
from profiles.push import PushMessage
from tests.e2e.test_transfer_exactly_once import _balances, _customer_with_room, _transfers_of, buttons, said

pytestmark = pytest.mark.e2e

OFFER = PushMessage(kind="offer", campaign="e2e-form-push", product="term_deposit")


def push(stack: Any, sender: str, name: str) -> list[dict[str, Any]]:
    """Send the campaign offer into ``sender``'s conversation; return the bot's messages of that turn."""
    response = httpx.post(
        f"{stack.rasa_url}/conversations/{sender}/trigger_intent", params={"token": stack.rasa_token},
        json={"name": EXTERNAL_INTENTS["offer"], "entities": external_entities(OFFER, name)}, timeout=120)
    response.raise_for_status()
    messages: list[dict[str, Any]] = response.json()["messages"]
    return messages


def test_a_push_inside_the_transfer_form_keeps_buttons_and_identity(live_stack: Any) -> None:
    cid = _customer_with_room(150)
    accounts = {a.kind: a for a in list_accounts(cid)}
    token = live_stack.token_for(cid)
    sender = live_stack.new_sender("push-form")
    before, transfers = _balances(cid), _transfers_of(cid)

    assert "How much" in said(live_stack.chat(sender, "I want to transfer money", token=token))
    replies = live_stack.chat(sender, "25", token=token)
    if "Which account" in said(replies):
        source = next(b["payload"] for b in buttons(replies) if accounts["current"].masked_number in b["payload"])
        replies = live_stack.chat(sender, source, token=token)
    assert "Where should the money go" in said(replies)

    # a campaign push while the form asks where the money goes: the offer, then the same question with its buttons
    pushed = push(live_stack, sender, "Ana")
    assert pushed[0]["text"].startswith("Hi Ana, something you may like from Atlantic Bank: an Atlantic Term Deposit")
    assert "Where should the money go" in said(pushed)
    assert "log in" not in said(pushed).lower()
    target = next(b["payload"] for b in buttons(pushed) if accounts["savings"].masked_number in b["payload"])

    replies = live_stack.chat(sender, target, token=token)
    assert "Please confirm: transfer €25.00" in said(replies), said(replies)

    # a second push at the confirmation: the read-back comes again with Yes/No, not "please log in"
    pushed = push(live_stack, sender, "Ana")
    assert "Please confirm: transfer €25.00" in said(pushed) and "log in" not in said(pushed).lower()
    assert {b["payload"] for b in buttons(pushed)} >= {"/affirm", "/deny"}

    done = said(live_stack.chat(sender, "/affirm", token=token))
    assert "log in" not in done.lower() and "€25.00" in done, done
    after = _balances(cid)
    assert after["current"] == before["current"] - Decimal("25.00")
    assert after["savings"] == before["savings"] + Decimal("25.00")
    assert _transfers_of(cid) == transfers + 1


def test_a_push_names_no_one_the_channel_did_not_verify(live_stack: Any) -> None:
    """An anonymous visitor inside the form (no token ever sent) is not signed in by a push: no account buttons."""
    sender = live_stack.new_sender("push-anon")
    live_stack.chat(sender, "I want to transfer money")
    pushed = push(live_stack, sender, "there")
    assert pushed and pushed[0]["text"].startswith("Hi there")
    assert not [b for b in buttons(pushed) if "*" in b.get("title", "") or "€" in b.get("title", "")]
