"""The card-payment form and the card/account answers against a real seeded CRM database
(actions/card_billing.py, actions/accounts.py)."""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

import pytest

from actions.accounts import ActionAccountDetails
from actions.card_billing import (
    ActionAskPayConfirmed,
    ActionCardDetails,
    ActionSubmitCardPayment,
    ValidateCardPaymentForm,
)
from profiles import issue_token, list_accounts
from profiles.accounts import account_details
from profiles.card_billing import list_credit_cards
from profiles.money import eur
from tests.actions.conftest import make_tracker, run_action, slots_of, texts

pytestmark = pytest.mark.usefixtures("crm")
FORM = "card_payment_form"
CID = 2  # demo customer with a credit card owing a statement, one current account


def _current() -> Any:
    return next(a for a in list_accounts(CID) if a.kind == "current")


def _validate(text: str, requested: str | None, domain: dict[str, Any], *, intent: str = "inform",
              **slots: Any) -> tuple[dict[str, Any], str]:
    tracker = make_tracker(text, intent, token=issue_token(CID),
                           slots={"requested_slot": requested, "owner": str(CID), **slots}, active_loop=FORM)
    events, messages = run_action(ValidateCardPaymentForm(), tracker, domain)
    return slots_of(events), texts(messages)


def test_activation_takes_the_only_card_the_only_current_account_and_the_amount_said(domain: dict[str, Any]) -> None:
    (card,) = list_credit_cards(CID)
    slots, _ = _validate("pay the minimum on my credit card", None, domain, intent="pay_card_bill")
    assert slots["pay_card"] == str(card.id) and slots["pay_from"] == str(_current().id)
    assert slots["pay_amount"] == str(card.minimum_due)


def test_amount_answers(domain: dict[str, Any]) -> None:
    (card,) = list_credit_cards(CID)
    base = {"pay_card": str(card.id), "pay_from": str(_current().id)}
    assert _validate("full statement", "pay_amount", domain, **base)[0]["pay_amount"] == str(card.statement_balance)
    assert _validate("€25.50", "pay_amount", domain, **base)[0]["pay_amount"] == "25.50"
    slots, said = _validate("1000000", "pay_amount", domain, **base)
    assert slots["pay_amount"] is None and f"owes ({eur(card.balance)})" in said
    slots, said = _validate("$20", "pay_amount", domain, **base)
    assert slots["pay_amount"] is None and "euros" in said


def _read_back(domain: dict[str, Any], slots: dict[str, Any]) -> str:
    tracker = make_tracker("x", "inform", token=issue_token(CID), slots={"owner": str(CID), **slots})
    events, messages = run_action(ActionAskPayConfirmed(), tracker, domain)
    assert "Please confirm: pay" in texts(messages)
    return str(slots_of(events)["pay_quote"])


def _submit(domain: dict[str, Any], quote: str | None, slots: dict[str, Any]) -> str:
    tracker = make_tracker("yes", "affirm", token=issue_token(CID),
                           slots={"owner": str(CID), "pay_quote": quote, "pay_confirmed": True, **slots})
    _, messages = run_action(ActionSubmitCardPayment(), tracker, domain)
    return texts(messages)


def test_only_the_sealed_yes_to_the_read_back_pays_and_only_once(domain: dict[str, Any]) -> None:
    (card,) = list_credit_cards(CID)
    values = {"pay_card": str(card.id), "pay_amount": "12.00", "pay_from": str(_current().id)}
    read_back = _read_back(domain, values)
    before = _current().balance
    plain = read_back.rpartition(".")[0]
    for forged in (None, plain, read_back, json.dumps({"key": "k", **values})):
        assert "not paid anything" in _submit(domain, forged, values)  # no yes sealed by the action server
    assert _current().balance == before
    found, _ = _validate("yes", "pay_confirmed", domain, intent="affirm", pay_quote=read_back, **values)
    confirmed = found["pay_quote"]
    assert "Done: €12.00 paid" in _submit(domain, confirmed, values)
    assert "already made" in _submit(domain, confirmed, values)
    assert _current().balance == before - Decimal("12.00")
    changed = {**values, "pay_amount": "13.00"}
    assert "not paid anything" in _submit(domain, confirmed, changed)  # slots changed after the read-back


def test_card_details_and_account_details(domain: dict[str, Any]) -> None:
    (card,) = list_credit_cards(CID)
    _, messages = run_action(ActionCardDetails(), make_tracker("credit limit", "card_details", token=issue_token(CID)),
                             domain)
    assert f"limit {eur(card.credit_limit)}" in texts(messages)
    _, messages = run_action(ActionAccountDetails(), make_tracker("my IBAN", "account_details",
                                                                  token=issue_token(CID)), domain)
    assert next(d.iban for d in account_details(CID) if d.kind == "current") in texts(messages)
    _, messages = run_action(ActionAccountDetails(), make_tracker("my IBAN", "account_details"), domain)
    assert texts(messages) == "<utter_login_required>"


def test_a_yes_naming_another_account_reads_back_again_and_an_unknown_one_pays_nothing(domain: dict[str, Any]) -> None:
    """"Yes, from my savings" at a read-back from the current account must not pay from the current account."""
    (card,) = list_credit_cards(CID)
    base = {"pay_card": str(card.id), "pay_from": str(_current().id), "pay_amount": "25.00"}
    savings = [a for a in list_accounts(CID) if a.kind == "savings"]
    if savings:
        slots, _ = _validate("Yes, from my savings", "pay_confirmed", domain, intent="affirm", **base)
        assert slots["pay_from"] == str(savings[0].id) and slots["pay_confirmed"] is None
    slots, said = _validate("yes, from my crypto wallet", "pay_confirmed", domain, intent="affirm", **base)
    assert slots.get("pay_confirmed") is None and "haven't paid anything" in said
    slots, _ = _validate("yes, from my current account", "pay_confirmed", domain, intent="affirm", **base)
    assert slots.get("pay_confirmed") is True


def test_a_campaign_push_is_never_an_answer_to_the_card_payment_form(domain: dict[str, Any]) -> None:
    tracker = make_tracker("EXTERNAL: EXTERNAL_offer", "EXTERNAL_offer", token=issue_token(CID), active_loop=FORM,
                           slots={"requested_slot": "pay_amount", "owner": str(CID)})
    events, messages = run_action(ValidateCardPaymentForm(), tracker, domain)
    assert events == [] and messages == []
