"""The transfer form's validation and submission against a real seeded CRM database."""

from decimal import Decimal
from typing import Any

import pytest

from actions.transfer import ActionAskFromAccount, ActionSubmitTransfer, ValidateTransferForm
from profiles import issue_token, list_accounts, list_payees
from tests.actions.conftest import make_tracker, run_action, slots_of, texts

pytestmark = pytest.mark.usefixtures("crm")
FORM = "transfer_form"


def _validate(text: str, requested: str, domain: dict[str, Any], *, intent: str = "inform", **slots: Any) -> tuple[dict[str, Any], str]:
    tracker = make_tracker(text, intent, token=issue_token(1), slots={"requested_slot": requested, "owner": "1", **slots}, active_loop=FORM)
    events, messages = run_action(ValidateTransferForm(), tracker, domain)
    return slots_of(events), texts(messages)


def _current_and_savings() -> tuple[Any, Any]:
    accounts = list_accounts(1)
    return next(a for a in accounts if a.kind == "current"), next(a for a in accounts if a.kind == "savings")


def test_valid_amount_is_normalised(domain: dict[str, Any]) -> None:
    slots, said = _validate("€25,50", "amount", domain)
    assert slots["amount"] == "25.50" and said == ""


@pytest.mark.parametrize(
    ("text", "reason"),
    [("-5", "more than"), ("0", "more than"), ("12.3456", "cent"), ("0.001", "cent"), ("ten thousand", "limit"), ("lots", "amount in euros")],
)
def test_bad_amounts_are_refused_with_a_reason(domain: dict[str, Any], text: str, reason: str) -> None:
    slots, said = _validate(text, "amount", domain)
    assert slots["amount"] is None
    assert reason in said.lower()


def test_amount_above_the_source_balance_asks_again(domain: dict[str, Any]) -> None:
    current, _ = _current_and_savings()
    too_much = min(current.balance + Decimal("1"), Decimal("4999"))
    slots, said = _validate(str(too_much), "amount", domain, from_account=str(current.id))
    assert slots["amount"] is None and "enough money" in said.lower()


def test_an_faq_question_is_not_taken_as_an_answer(domain: dict[str, Any]) -> None:
    slots, _ = _validate("what exchange rate do you use?", "amount", domain, intent="exchange_rate")
    assert "amount" not in slots  # the form rejects, so the FAQ rule answers and the form asks again


def test_accounts_are_matched_and_offered_as_buttons(domain: dict[str, Any]) -> None:
    current, savings = _current_and_savings()
    slots, _ = _validate("savings", "from_account", domain, amount="10.00")
    assert slots["from_account"] == str(savings.id)
    tracker = make_tracker("x", "transfer_money", token=issue_token(1), slots={"requested_slot": "from_account", "owner": "1"})
    _, messages = run_action(ActionAskFromAccount(), tracker, domain)
    payloads = [b["payload"] for b in messages[0]["buttons"]]
    assert any(current.masked_number in p for p in payloads) and any(savings.masked_number in p for p in payloads)
    slots, _ = _validate(payloads[0], "from_account", domain, amount="10.00")
    assert slots["from_account"] in {str(current.id), str(savings.id)}


def test_destination_can_be_a_payee_but_not_the_source(domain: dict[str, Any]) -> None:
    current, savings = _current_and_savings()
    payee = list_payees(1)[0]
    slots, _ = _validate(payee.name, "to_account", domain, amount="10.00", from_account=str(current.id))
    assert slots["to_account"] == f"payee:{payee.id}"
    slots, said = _validate("my current account", "to_account", domain, amount="10.00", from_account=str(current.id))
    assert slots["to_account"] is None and "couldn't tell" in said


def test_confirmation_yes_and_no(domain: dict[str, Any]) -> None:
    assert _validate("yes", "transfer_confirmed", domain, intent="affirm")[0]["transfer_confirmed"] is True
    assert _validate("no", "transfer_confirmed", domain, intent="deny")[0]["transfer_confirmed"] is False


def _submit(domain: dict[str, Any], **slots: Any) -> tuple[dict[str, Any], str]:
    tracker = make_tracker("yes", "affirm", token=issue_token(1), slots={"owner": "1", **slots})
    events, messages = run_action(ActionSubmitTransfer(), tracker, domain)
    return slots_of(events), texts(messages)


def test_confirmed_transfer_moves_exactly_the_amount(domain: dict[str, Any]) -> None:
    current, savings = _current_and_savings()
    slots, said = _submit(domain, amount="12.34", from_account=str(current.id), to_account=f"acc:{savings.id}", transfer_confirmed=True)
    after_current, after_savings = _current_and_savings()
    assert after_current.balance == current.balance - Decimal("12.34")
    assert after_savings.balance == savings.balance + Decimal("12.34")
    assert "€12.34" in said and all(slots[s] is None for s in ("amount", "from_account", "to_account", "transfer_confirmed"))


def test_unconfirmed_transfer_moves_nothing(domain: dict[str, Any]) -> None:
    before = _current_and_savings()
    _, said = _submit(domain, amount="5.00", from_account=str(before[0].id), to_account=f"acc:{before[1].id}", transfer_confirmed=False)
    assert _current_and_savings() == before
    assert "utter_cancelled" in said


def test_transfer_above_balance_at_submit_is_refused_without_a_write(domain: dict[str, Any]) -> None:
    before = _current_and_savings()
    amount = before[0].balance + Decimal("1")
    _, said = _submit(domain, amount=str(amount), from_account=str(before[0].id), to_account=f"acc:{before[1].id}", transfer_confirmed=True)
    assert _current_and_savings() == before
    assert said.startswith("The transfer was not made")


def test_another_customers_account_is_refused(domain: dict[str, Any]) -> None:
    mine, _ = _current_and_savings()
    theirs = list_accounts(2)[0]
    before_theirs = list_accounts(2)
    _, said = _submit(domain, amount="1.00", from_account=str(theirs.id), to_account=f"acc:{mine.id}", transfer_confirmed=True)
    assert list_accounts(2) == before_theirs
    assert said.startswith("The transfer was not made") and theirs.masked_number not in said


@pytest.mark.parametrize(("text", "expected"), [("yeah", True), ("ok!", True), ("nah", False), ("não", False)])
def test_short_answers_confirm_even_when_nlu_falls_back(domain: dict[str, Any], text: str, expected: bool) -> None:
    slots, _ = _validate(text, "transfer_confirmed", domain, intent="nlu_fallback")
    assert slots["transfer_confirmed"] is expected


def test_a_form_started_by_one_customer_cannot_be_completed_by_another(domain: dict[str, Any]) -> None:
    current, savings = _current_and_savings()
    before = (list_accounts(1), list_accounts(2))
    slots = {"amount": "5.00", "from_account": str(current.id), "to_account": f"acc:{savings.id}",
             "transfer_confirmed": True, "owner": "1"}
    tracker = make_tracker("yes", "affirm", token=issue_token(2), slots=slots)
    _, messages = run_action(ActionSubmitTransfer(), tracker, domain)
    assert messages[0].get("response") == "utter_login_required"
    assert (list_accounts(1), list_accounts(2)) == before


@pytest.mark.parametrize("requested", ["amount", "from_account", "to_account"])
def test_no_at_a_question_is_left_to_the_cancel_rule(domain: dict[str, Any], requested: str) -> None:
    slots, _ = _validate("no", requested, domain, intent="deny", amount="5.00", from_account="1")
    assert requested not in slots  # the form rejects: the "deny cancels transfer_form" rule takes over
