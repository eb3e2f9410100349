"""Whole conversations over the REST channel against the real Rasa server and the real action server,
checked against the CRM database afterwards."""

from __future__ import annotations

import uuid
from decimal import Decimal
from typing import Any

import jwt
import pytest
from sqlalchemy import select

from actions.parsing import money
from profiles import get_customer, issue_token, list_accounts, list_cards
from profiles.db import session_scope
from profiles.models import AuditLog

pytestmark = pytest.mark.e2e


def said(replies: list[dict[str, Any]]) -> str:
    return "\n".join(str(r.get("text", "")) for r in replies)


def buttons(replies: list[dict[str, Any]]) -> list[dict[str, str]]:
    return [b for r in replies for b in r.get("buttons", [])]


def new_sender() -> str:
    return f"e2e-{uuid.uuid4().hex[:10]}"


def test_greeting_and_bot_challenge(live_stack: Any) -> None:
    sender = new_sender()
    assert "Nova" in said(live_stack.chat(sender, "hello"))
    assert "bot" in said(live_stack.chat(sender, "are you a bot?"))


def test_balance_shown_equals_the_database(live_stack: Any) -> None:
    token = issue_token(1)
    text = said(live_stack.chat(new_sender(), "what's my balance?", token=token))
    for account in list_accounts(1):
        assert f"{account.masked_number}: {money(account.balance)}" in text


def test_forged_or_missing_token_gets_no_account_data(live_stack: Any) -> None:
    forged = jwt.encode({"sub": "1", "exp": 4102444800, "iss": "atlantic-bank"}, "x" * 40, algorithm="HS256")
    for token in (forged, None, "garbage"):
        text = said(live_stack.chat(new_sender(), "what's my balance?", token=token))
        assert "log in" in text
        assert "€" not in text and all(a.masked_number not in text for a in list_accounts(1))


def test_transfer_moves_exactly_the_amount_after_confirmation(live_stack: Any) -> None:
    token, sender = issue_token(1), new_sender()
    before = {a.kind: a for a in list_accounts(1)}
    assert "How much" in said(live_stack.chat(sender, "I want to transfer money", token=token))
    # the customer's only current account is the source by default: the form goes on to the destination
    replies = live_stack.chat(sender, "25.40", token=token)
    assert "Where should the money go" in said(replies)
    # an FAQ in the middle of the form is answered, then the form asks again
    replies = live_stack.chat(sender, "What exchange rate do you use?", token=token)
    assert "Where should the money go" in said(replies) and len(replies) >= 2
    target = next(b["payload"] for b in buttons(replies) if before["savings"].masked_number in b["payload"])
    replies = live_stack.chat(sender, target, token=token)
    assert "confirm" in said(replies) and "€25.40" in said(replies)
    assert {a.kind: a.balance for a in list_accounts(1)} == {k: a.balance for k, a in before.items()}  # nothing yet
    text = said(live_stack.chat(sender, "yes", token=token))
    assert "Done" in text
    after = {a.kind: a for a in list_accounts(1)}
    assert after["current"].balance == before["current"].balance - Decimal("25.40")
    assert after["savings"].balance == before["savings"].balance + Decimal("25.40")


@pytest.mark.parametrize(("amount", "expect"), [("-5", "more than"), ("ten thousand", "you can"), ("abc", "amount in euros")])
def test_bad_amounts_get_a_clear_reply_and_no_write(live_stack: Any, amount: str, expect: str) -> None:
    token, sender = issue_token(2), new_sender()
    before = list_accounts(2)
    live_stack.chat(sender, "I want to transfer money", token=token)
    text = said(live_stack.chat(sender, amount, token=token))
    assert expect in text.lower() and "How much" in text
    live_stack.chat(sender, "cancel", token=token)
    assert list_accounts(2) == before


def test_amount_above_balance_is_refused(live_stack: Any) -> None:
    token, sender = issue_token(2), new_sender()
    current = next(a for a in list_accounts(2) if a.kind == "current")
    live_stack.chat(sender, "transfer money", token=token)
    too_much = min(current.balance + 1, Decimal("4999"))
    # checked against the default source (the only current account) as soon as it is given
    text = said(live_stack.chat(sender, str(too_much), token=token))
    assert "enough money" in text.lower() and "How much" in text
    live_stack.chat(sender, "stop", token=token)
    assert next(a for a in list_accounts(2) if a.kind == "current").balance == current.balance


def test_update_email_persists_with_audit(live_stack: Any) -> None:
    token, sender = issue_token(3), new_sender()
    before = get_customer(3).email
    live_stack.chat(sender, "I want to change my email", token=token)
    text = said(live_stack.chat(sender, "not an email", token=token))
    assert "valid email" in text.lower() and "What is your new email address?" in text
    assert get_customer(3).email == before
    new = f"nova.e2e.{uuid.uuid4().hex[:6]}@example.com"
    assert "confirm" in said(live_stack.chat(sender, new, token=token))
    assert new in said(live_stack.chat(sender, "yes", token=token))
    assert get_customer(3).email == new
    with session_scope() as s:
        audit = s.scalars(select(AuditLog).where(AuditLog.customer_id == 3, AuditLog.field == "email")).all()
    assert audit[-1].new_value == new and audit[-1].channel == "rest"


def test_block_a_lost_card(live_stack: Any) -> None:
    token, sender = issue_token(4), new_sender()
    card = next(c for c in list_cards(4) if c.status == "active")
    replies = live_stack.chat(sender, "I lost my card", token=token)
    choice = next(b["payload"] for b in buttons(replies) if card.masked_number in b["payload"])
    assert "confirm" in said(live_stack.chat(sender, choice, token=token))
    assert "blocked" in said(live_stack.chat(sender, "yes", token=token))
    assert next(c for c in list_cards(4) if c.id == card.id).status == "blocked"


def test_anonymous_lost_card_gets_advice_and_login(live_stack: Any) -> None:
    text = said(live_stack.chat(new_sender(), "I lost my card"))
    assert "log in" in text


def test_faq_answers(live_stack: Any) -> None:
    text = said(live_stack.chat(new_sender(), "My card still hasn't arrived, when will it come?"))
    assert text and "log in" not in text


@pytest.mark.parametrize(
    "message",
    ["", "   ", "\n\t", "?", "a" * 5_000, "💳💸🤔", "Olá, qual é o meu saldo?", "<script>alert(1)</script>", "/transfer_money{\"amount\": \"-1\"}"],
    ids=["empty", "spaces", "newline-tab", "question-mark", "5k-chars-the-limit", "emoji", "portuguese", "html", "injected-intent"],
)
def test_odd_messages_get_a_reply_not_an_error(live_stack: Any, message: str) -> None:
    response = live_stack.post_raw({"sender": new_sender(), "message": message})
    assert response.status_code == 200
    replies = response.json()
    assert replies and all(r.get("text") for r in replies)


def test_malformed_webhook_json_is_a_4xx(live_stack: Any) -> None:
    response = live_stack.post_raw(b"{not json", content_type="application/json")
    assert 400 <= response.status_code < 500


def test_proactive_suggestion_after_a_resolved_request_then_lead(live_stack: Any) -> None:
    from profiles import last_offer_outcome
    from recommender import suggest_offer

    cid, offer = next((c, o) for c in range(1, 301) if (o := suggest_offer(c)) is not None)
    token, sender = issue_token(cid), new_sender()
    replies = live_stack.chat(sender, "what's my balance?", token=token)
    assert "€" in said(replies) and "Would you like to hear more" in said(replies)
    assert (last_offer_outcome(cid, offer.product) or (None,))[0] == "shown"
    replies = live_stack.chat(sender, "/affirm", token=token)  # the suggestion's "Yes, tell me more" button
    assert "advisor will contact you" in said(replies)
    assert (last_offer_outcome(cid, offer.product) or (None,))[0] == "accepted"
    # at most once per conversation session
    assert "Would you like to hear more" not in said(live_stack.chat(sender, "what's my balance?", token=token))


def test_no_suggestion_when_the_balance_is_asked_inside_a_transfer(live_stack: Any) -> None:
    """A balance asked at the read-back is answered and the read-back asked again, with no suggestion: its
    "Yes, tell me more" (/affirm) beside the read-back's yes (/affirm) confirmed the transfer (trial of e75fc3a)."""
    from recommender import suggest_offer

    cid = next(c for c in range(1, 301) if suggest_offer(c) is not None)
    token, sender = issue_token(cid), new_sender()
    before = sum(a.balance for a in list_accounts(cid))
    replies = live_stack.chat(sender, "send 5 euros", token=token)
    while "confirm" not in said(replies):  # source / destination questions: take the first choice offered
        assert buttons(replies), said(replies)
        replies = live_stack.chat(sender, buttons(replies)[0]["payload"], token=token)
    replies = live_stack.chat(sender, "what's my balance?", token=token)
    assert "€" in said(replies) and "confirm" in said(replies)
    assert "Would you like to hear more" not in said(replies)
    assert "Done" in said(live_stack.chat(sender, "yes", token=token))
    assert sum(a.balance for a in list_accounts(cid)) in (before, before - Decimal("5"))  # own account or payee


def test_suggestion_after_transactions_declined_then_cool_off(live_stack: Any) -> None:
    """The suggestion is the follow-up the answering action schedules (no rule step of its own): it comes in
    the same turn as the transactions, and the decline rule still answers it."""
    from profiles import last_offer_outcome
    from recommender import suggest_offer

    cid, offer = next((c, o) for c in range(1, 301) if (o := suggest_offer(c)) is not None)
    token, sender = issue_token(cid), new_sender()
    replies = live_stack.chat(sender, "what did I spend last month?", token=token)
    assert "transactions" in said(replies) and "Would you like to hear more" in said(replies)
    assert "won't suggest" in said(live_stack.chat(sender, "no thanks", token=token))
    assert (last_offer_outcome(cid, offer.product) or (None,))[0] == "declined"
    assert "Would you like to hear more" not in said(live_stack.chat(sender, "what's my balance?", token=token))


def test_handoff_request_is_stored(live_stack: Any) -> None:
    from profiles import list_handoffs

    sender = new_sender()
    assert "colleague" in said(live_stack.chat(sender, "I want to talk to a human"))
    assert any(h.sender_id == sender for h in list_handoffs("open", 500))


def test_a_form_begun_by_one_customer_cannot_be_confirmed_by_another(live_stack: Any) -> None:
    sender = new_sender()
    victim_before = get_customer(5).email
    live_stack.chat(sender, "I want to change my email", token=issue_token(1))
    assert "confirm" in said(live_stack.chat(sender, "attacker@evil.example", token=issue_token(1)))
    text = said(live_stack.chat(sender, "yes", token=issue_token(5)))
    assert "log in" in text
    assert get_customer(5).email == victim_before
    assert get_customer(1).email != "attacker@evil.example"
