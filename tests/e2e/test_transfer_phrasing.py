"""Transfers phrased as customers really speak (issue 11 items 1-5), over REST against the real stack, checked
in the database: amounts inside a sentence, foreign currencies refused, number words never invented,
corrections at the confirmation (never the old amount), exits, and slots taken from the first message."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from profiles import issue_token, list_accounts, list_payees

pytestmark = pytest.mark.e2e

SLOTS = ("amount", "from_account", "to_account", "transfer_confirmed", "transfer_quote")


def said(replies: list[dict[str, Any]]) -> str:
    return "\n".join(str(r.get("text", "")) for r in replies)


def _accounts(cid: int) -> dict[str, Any]:
    return {a.kind: a for a in list_accounts(cid)}


def _balances(cid: int) -> dict[str, Decimal]:
    return {a.kind: a.balance for a in list_accounts(cid)}


class Chat:
    def __init__(self, stack: Any, cid: int) -> None:
        self.stack, self.cid = stack, cid
        self.token, self.sender = issue_token(cid), stack.new_sender("phrase")

    def __call__(self, text: str) -> str:
        return said(self.stack.chat(self.sender, text, token=self.token))

    def slots(self) -> dict[str, Any]:
        return dict(self.stack.tracker(self.sender)["slots"])


def test_amount_and_destination_in_the_first_message_go_straight_to_the_confirmation(live_stack: Any) -> None:
    chat, acc = Chat(live_stack, 1), _accounts(1)
    before = _balances(1)
    question = chat("move 20 to savings")
    assert "Please confirm: transfer €20.00" in question
    assert acc["current"].masked_number in question and acc["savings"].masked_number in question
    assert "Done" in chat("yes")
    after = _balances(1)
    assert after["current"] == before["current"] - Decimal("20")
    assert after["savings"] == before["savings"] + Decimal("20")


@pytest.mark.parametrize(
    ("cid", "text", "amount", "payee"),
    [(3, "transfer €1,250.50 to Maria", "€1,250.50", "Maria Monteiro"), (2, "pay Pedro 35 euros", "€35.00", "Pedro Lopes")],
)
def test_payee_and_amount_in_a_sentence(live_stack: Any, cid: int, text: str, amount: str, payee: str) -> None:
    chat = Chat(live_stack, cid)
    before = _balances(cid)
    question = chat(text)
    assert f"Please confirm: transfer {amount}" in question and payee in question
    assert "cancel" in chat("no").lower()
    assert _balances(cid) == before


def test_an_amount_with_words_around_it_is_taken(live_stack: Any) -> None:
    chat = Chat(live_stack, 4)
    assert "How much" in chat("I want to transfer money")
    assert "Where should the money go" in chat("send €50 please")
    assert chat.slots()["amount"] == "50.00"
    chat("forget it")


@pytest.mark.parametrize("text", ["send 20 dollars to savings", "transfer $20 to savings", "move 20 bucks to savings", "send £5 to savings"])
def test_a_foreign_currency_is_refused_clearly(live_stack: Any, text: str) -> None:
    chat = Chat(live_stack, 5)
    before = _balances(5)
    reply = chat(text)
    assert "I can only send euros" in reply and "confirm" not in reply.lower()
    assert chat.slots()["amount"] is None
    chat("nevermind")
    assert _balances(5) == before


def test_a_closing_at_the_amount_question_sets_nothing_and_leaves(live_stack: Any) -> None:
    chat = Chat(live_stack, 6)
    before = _balances(6)
    assert "How much" in chat("I want to transfer money")
    reply = chat("thanks, have a good one")
    assert "€1.00" not in reply and "How much" not in reply
    assert all(chat.slots()[s] is None for s in SLOTS) and chat.slots()["requested_slot"] is None
    assert _balances(6) == before


def test_number_words_are_never_combined(live_stack: Any) -> None:
    chat = Chat(live_stack, 4)
    chat("I want to transfer money")
    reply = chat("make it thirty instead of twenty")
    assert "€50" not in reply
    assert chat.slots()["amount"] in (None, "30.00")
    chat("forget it")


@pytest.mark.parametrize(("correction", "new"), [("no, 30 not 20", Decimal("30")), ("yes but make it 3", Decimal("3"))])
def test_a_correction_at_the_confirmation_reconfirms_and_never_sends_the_old_amount(
    live_stack: Any, correction: str, new: Decimal
) -> None:
    chat = Chat(live_stack, 1)
    before = _balances(1)
    assert "€20.00" in chat("move 20 to savings")
    reply = chat(correction)
    assert f"Please confirm: transfer €{new:.2f}" in reply and "Done" not in reply
    assert _balances(1) == before  # nothing moved on the correction itself
    assert f"€{new:.2f}" in chat("yes")
    after = _balances(1)
    assert after["current"] == before["current"] - new  # exactly the corrected amount, once
    assert after["savings"] == before["savings"] + new


@pytest.mark.parametrize(
    ("step", "exit_text"),
    [(1, "nevermind"), (2, "forget it"), (3, "no thanks, that's all"), (3, "thanks, bye"), (1, "goodbye")],
)
def test_natural_exits_leave_the_form_with_nothing_changed(live_stack: Any, step: int, exit_text: str) -> None:
    chat = Chat(live_stack, 2)
    before = _balances(2)
    chat("I want to transfer money")
    if step >= 2:
        assert "Where should the money go" in chat("40")
    if step >= 3:
        assert "confirm" in chat("savings").lower()
    reply = chat(exit_text)
    assert "Done" not in reply and "How much" not in reply and "Where should" not in reply
    assert chat.slots()["requested_slot"] is None and all(chat.slots()[s] is None for s in SLOTS)
    assert live_stack.tracker(chat.sender)["active_loop"] in ({}, None, {"name": None})
    assert _balances(2) == before


def test_someone_elses_savings_is_not_the_customers_own(live_stack: Any) -> None:
    chat = Chat(live_stack, 1)
    before = _balances(1)
    reply = chat("send 20 to Diego's savings")
    payees = ", ".join(p.name for p in list_payees(1))
    assert f"Diego is not one of your saved payees: your payees are {payees}" in reply
    assert "confirm" not in reply.lower() and chat.slots()["to_account"] is None
    chat("forget it")
    assert _balances(1) == before


def test_an_unknown_payee_is_named_with_the_saved_ones(live_stack: Any) -> None:
    chat = Chat(live_stack, 1)
    reply = chat("transfer €50 to Maria")
    assert "Maria is not one of your saved payees: your payees are José Soares" in reply
    assert "Where should the money go" in reply
    assert chat.slots()["amount"] == "50.00"
    chat("nevermind")


def test_a_new_destination_at_the_confirmation_is_read_back_before_anything_moves(live_stack: Any) -> None:
    chat = Chat(live_stack, 2)
    before = _balances(2)
    assert "€12.00" in chat("move 12 to savings")
    reply = chat("no, send it to Pedro")
    assert "Please confirm: transfer €12.00" in reply and "Pedro Lopes" in reply
    assert _balances(2) == before
    assert "Pedro Lopes" in chat("yes")
    after = _balances(2)
    assert after["current"] == before["current"] - Decimal("12") and after["savings"] == before["savings"]
