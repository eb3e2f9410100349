"""The transfer form's validation and submission against a real seeded CRM database."""

import json
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy.exc import OperationalError

import actions.transfer as transfer_actions
from actions.transfer import (
    ActionAskFromAccount,
    ActionAskTransferConfirmed,
    ActionSubmitTransfer,
    ValidateTransferForm,
    read_quote,
)
from profiles import find_transfer, issue_token, list_accounts, list_payees
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


def _quote(domain: dict[str, Any], **slots: Any) -> str:
    """The quote the confirmation question stores for these slots (as the customer saw it), sealed."""
    tracker = make_tracker("x", "inform", token=issue_token(1), slots={"owner": "1", **slots})
    events, _ = run_action(ActionAskTransferConfirmed(), tracker, domain)
    return str(slots_of(events)["transfer_quote"])


def _values(quote: str) -> dict[str, Any]:
    """The JSON inside a sealed quote slot (``<json>.<mac>``)."""
    return dict(json.loads(quote.rpartition(".")[0]))


def _said_yes(domain: dict[str, Any], quote: str | None, **slots: Any) -> Any:
    """The quote slot after the form's own extraction of the customer's "yes" to that read-back."""
    found, _ = _validate("yes", "transfer_confirmed", domain, intent="affirm", transfer_quote=quote,
                         **{k: v for k, v in slots.items() if k != "transfer_confirmed"})
    assert found.get("transfer_confirmed") is True
    return found.get("transfer_quote")


def _submit(domain: dict[str, Any], quote: str | None = "ask", *, said_yes: bool = True,
            **slots: Any) -> tuple[dict[str, Any], str]:
    """Submit with ``slots``; by default after asking the confirmation question for them (its quote) and the
    customer's "yes" to it (``said_yes=False``: the quote slot exactly as given)."""
    if quote == "ask":
        quote = _quote(domain, **{k: v for k, v in slots.items() if k != "transfer_confirmed"})
    if said_yes:
        quote = _said_yes(domain, quote, **slots)
    tracker = make_tracker("yes", "affirm", token=issue_token(1), slots={"owner": "1", "transfer_quote": quote, **slots})
    events, messages = run_action(ActionSubmitTransfer(), tracker, domain)
    return slots_of(events), texts(messages)


def _own(amount: str) -> dict[str, Any]:
    current, savings = _current_and_savings()
    return {"amount": amount, "from_account": str(current.id), "to_account": f"acc:{savings.id}"}


def test_the_confirmation_question_keeps_its_key_only_while_the_values_stay(domain: dict[str, Any]) -> None:
    sealed = _quote(domain, **_own("7.00"))
    first = _values(sealed)
    tracker = make_tracker("x", "inform", token=issue_token(1), slots={"owner": "1", "transfer_quote": sealed, **_own("7.00")})
    again = slots_of(run_action(ActionAskTransferConfirmed(), tracker, domain)[0])["transfer_quote"]
    assert _values(again) == first  # asked again (after an FAQ): same confirmation, same key
    tracker = make_tracker("x", "inform", token=issue_token(1), slots={"owner": "1", "transfer_quote": sealed, **_own("8.00")})
    changed = _values(slots_of(run_action(ActionAskTransferConfirmed(), tracker, domain)[0])["transfer_quote"])
    assert changed["amount"] == "8.00" and changed["key"] != first["key"]


def test_a_replayed_yes_moves_the_money_once(domain: dict[str, Any]) -> None:
    slots = {**_own("3.21"), "transfer_confirmed": True}
    quote = _quote(domain, **_own("3.21"))
    before = _current_and_savings()
    _, said = _submit(domain, quote, **slots)
    assert "Done" in said
    _, said = _submit(domain, quote, **slots)  # the tracker store lost the turn: the same "yes" again
    assert "already made" in said and "Done" not in said
    after = _current_and_savings()
    assert after[0].balance == before[0].balance - Decimal("3.21")
    assert after[1].balance == before[1].balance + Decimal("3.21")


@pytest.mark.parametrize("quote", [None, "not json", json.dumps({"key": "k"})])
def test_a_yes_without_a_read_back_moves_nothing(domain: dict[str, Any], quote: str | None) -> None:
    before = _current_and_savings()
    slots, said = _submit(domain, quote, said_yes=False, **_own("20.00"), transfer_confirmed=True)
    assert _current_and_savings() == before
    assert "have not sent anything" in said and slots["transfer_confirmed"] is None


def test_a_quote_the_action_server_did_not_seal_as_confirmed_moves_nothing(domain: dict[str, Any]) -> None:
    """A hand-made tracker (even sent with the action server's secret) claims ``transfer_confirmed`` and a
    quote: the plain JSON, the read-back without the customer's yes, or a confirmation sealed in another
    conversation are all refused."""
    from profiles.sealing import seal

    before = _current_and_savings()
    read_back = _quote(domain, **_own("20.00"))
    plain = json.dumps(_values(read_back))
    elsewhere = seal("transfer_confirmed", "another-conversation", plain)
    for quote in (plain, read_back, elsewhere):
        slots, said = _submit(domain, quote, said_yes=False, **_own("20.00"), transfer_confirmed=True)
        assert "have not sent anything" in said, quote
        assert slots["transfer_quote"] is None
    assert _current_and_savings() == before
    _, said = _submit(domain, read_back, **_own("20.00"), transfer_confirmed=True)  # the real "yes": sent
    assert "Done" in said


def test_slots_changed_after_the_read_back_are_refused(domain: dict[str, Any]) -> None:
    before = _current_and_savings()
    quote = _quote(domain, **_own("20.00"))
    slots, said = _submit(domain, quote, **_own("200.00"), transfer_confirmed=True)
    assert _current_and_savings() == before and "have not sent anything" in said
    assert all(slots[s] is None for s in ("amount", "transfer_confirmed", "transfer_quote"))


def test_a_database_error_at_submit_clears_the_form_and_says_nothing_moved(
    domain: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(*args: Any, **kwargs: Any) -> None:
        raise OperationalError("INSERT INTO transfers", {}, Exception("database is locked"))

    monkeypatch.setattr(transfer_actions, "transfer", broken)
    before = _current_and_savings()
    quote = _quote(domain, **_own("20.00"))
    slots, said = _submit(domain, quote, **_own("20.00"), transfer_confirmed=True)
    assert _current_and_savings() == before
    assert "not made" in said and "no money was moved" in said
    assert all(slots[s] is None for s in ("amount", "from_account", "to_account", "transfer_confirmed", "transfer_quote", "requested_slot"))
    assert "INSERT" not in said


def test_an_error_after_the_money_moved_says_it_moved(domain: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> None:
    real = transfer_actions.transfer

    def moved_then_failed(*args: Any, **kwargs: Any) -> None:
        real(*args, **kwargs)
        raise OperationalError("COMMIT", {}, Exception("connection lost"))  # e.g. the reply never came back

    monkeypatch.setattr(transfer_actions, "transfer", moved_then_failed)
    quote = _quote(domain, **_own("4.56"))
    slots, said = _submit(domain, quote, **_own("4.56"), transfer_confirmed=True)
    made = find_transfer(1, _values(quote)["key"])
    assert made is not None and f"T{made.transfer_id}" in said and "was made" in said and "€4.56" in said
    assert slots["transfer_confirmed"] is None


def test_a_new_transfer_request_never_inherits_an_unfinished_one(domain: dict[str, Any]) -> None:
    """The form closed with amount, accounts and a "yes" still set (an earlier submit died): the next
    request starts from nothing but what it says."""
    stale = {**_own("20.00"), "transfer_confirmed": True, "transfer_quote": _quote(domain, **_own("20.00"))}
    tracker = make_tracker("I want to transfer 35 euros", "transfer_money", token=issue_token(1),
                           slots={"owner": "1", "requested_slot": None, **stale}, active_loop=FORM)
    events, _ = run_action(ValidateTransferForm(), tracker, domain)
    slots = slots_of(events)
    assert slots["transfer_confirmed"] is None and slots["transfer_quote"] is None
    assert slots["to_account"] is None and slots["amount"] == "35.00"
    current = [a for a in list_accounts(1) if a.kind == "current"]
    # the source is only the customer's one current account by default, never the old one by inheritance
    assert slots["from_account"] == (str(current[0].id) if len(current) == 1 else None)
    assert read_quote(tracker) is None


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


@pytest.mark.parametrize("text", ["nevermind", "forget it", "no thanks, that's all", "thanks, bye", "goodbye", "that's all"])
def test_natural_exits_end_the_form_without_a_yes(domain: dict[str, Any], text: str) -> None:
    slots, _ = _validate(text, "amount", domain, intent="goodbye")
    assert slots.get("requested_slot", "unset") is None and "amount" not in slots


@pytest.mark.parametrize(("text", "expected"), [("no, 30 not 20", "30.00"), ("yes but make it 3", "3.00")])
def test_a_correction_at_the_confirmation_replaces_the_amount(domain: dict[str, Any], text: str, expected: str) -> None:
    slots, _ = _validate(text, "transfer_confirmed", domain, intent="deny", **_own("20.00"))
    assert slots["amount"] == expected and slots["transfer_confirmed"] is None
    assert slots.get("requested_slot", "transfer_confirmed") == "transfer_confirmed"  # read back again


def test_another_persons_savings_is_not_the_customers_own(domain: dict[str, Any]) -> None:
    tracker = make_tracker("send 20 to Diego's savings", "transfer_money", token=issue_token(1),
                           slots={"owner": "1", "requested_slot": None}, active_loop=FORM)
    events, messages = run_action(ValidateTransferForm(), tracker, domain)
    assert slots_of(events).get("to_account") is None
    assert "Diego is not one of your saved payees: your payees are" in texts(messages)


def test_a_new_destination_at_the_confirmation_replaces_the_old_one(domain: dict[str, Any]) -> None:
    payee = list_payees(1)[0]
    slots, _ = _validate(f"no, send it to {payee.name.split()[0]}", "transfer_confirmed", domain, intent="deny", **_own("20.00"))
    assert slots["to_account"] == f"payee:{payee.id}" and slots["transfer_confirmed"] is None
    assert "amount" not in slots or slots["amount"] == "20.00"


def test_the_destination_is_the_last_to_in_the_message(domain: dict[str, Any]) -> None:
    tracker = make_tracker("I want to send 20 to Zacarias", "transfer_money", token=issue_token(1),
                           slots={"owner": "1", "requested_slot": None}, active_loop=FORM)
    events, messages = run_action(ValidateTransferForm(), tracker, domain)
    assert slots_of(events)["amount"] == "20.00"
    assert "Zacarias is not one of your saved payees" in texts(messages)
