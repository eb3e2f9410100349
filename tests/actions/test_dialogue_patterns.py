"""Patterns found by replaying the SGD Banks_1 dialogues (benchmarks/dialogues.py): slots given while the form
asks something else, "to" of an infinitive, someone else's account, the source named at the confirmation,
follow-ups naming an account, the transfer limit and the payee list; against a real seeded CRM database."""

from __future__ import annotations

from typing import Any

import pytest

from actions.accounts import ActionAccountFollowup
from actions.parsing import money
from actions.transfer import ActionListPayees, ActionTransferLimit, ValidateTransferForm
from profiles import issue_token, list_accounts, list_payees
from profiles.settings import get_settings
from tests.actions.conftest import make_tracker, run_action, slots_of, texts

pytestmark = pytest.mark.usefixtures("crm")
FORM = "transfer_form"


def _validate(text: str, requested: str | None, domain: dict[str, Any], *, intent: str = "inform", **slots: Any) -> tuple[dict[str, Any], str]:
    tracker = make_tracker(text, intent, token=issue_token(1), slots={"requested_slot": requested, "owner": "1", **slots},
                           active_loop=FORM)
    events, messages = run_action(ValidateTransferForm(), tracker, domain)
    return slots_of(events), texts(messages)


def _kinds() -> dict[str, Any]:
    return {a.kind: a for a in list_accounts(1)}


def test_an_infinitive_to_names_no_payee(domain: dict[str, Any]) -> None:
    slots, said = _validate("I would like to make a transfer", None, domain, intent="transfer_money")
    assert "not one of your saved payees" not in said
    assert slots.get("to_account") is None


def test_someone_elses_savings_is_never_the_customers_own(domain: dict[str, Any]) -> None:
    slots, _ = _validate("please make a transfer to their savings account", None, domain, intent="transfer_money")
    assert slots.get("to_account") is None  # the form asks who; the customer's own savings is not a guess
    slots, _ = _validate("my friend's savings account", "to_account", domain)
    assert not str(slots.get("to_account") or "").startswith("acc:")


def test_destination_given_while_the_amount_is_asked_is_kept(domain: dict[str, Any]) -> None:
    payee = list_payees(1)[0]
    slots, _ = _validate(f"send 120 euros to {payee.name}", "amount", domain)
    assert slots["amount"] == "120.00"
    assert slots["to_account"] == f"payee:{payee.id}"


def test_amount_given_while_the_destination_is_asked_is_kept(domain: dict[str, Any]) -> None:
    payee = list_payees(1)[0]
    slots, _ = _validate(f"send €75 to {payee.name}", "to_account", domain)
    assert slots["to_account"] == f"payee:{payee.id}" and slots["amount"] == "75.00"


def test_the_source_named_at_the_amount_question_replaces_the_default(domain: dict[str, Any]) -> None:
    acc = _kinds()
    slots, _ = _validate("my savings account", "amount", domain, from_account=str(acc["current"].id))
    assert slots["from_account"] == str(acc["savings"].id)


def test_the_source_named_at_the_confirmation_reads_back_again(domain: dict[str, Any]) -> None:
    acc, payee = _kinds(), list_payees(1)[0]
    slots, _ = _validate("no, from my savings", "transfer_confirmed", domain, amount="20.00",
                         from_account=str(acc["current"].id), to_account=f"payee:{payee.id}")
    assert slots["from_account"] == str(acc["savings"].id)
    assert slots["transfer_confirmed"] is None  # asked again with the new values


@pytest.mark.parametrize(("text", "kind"), [("checking", "current"), ("and my savings?", "savings"),
                                             ("in checking.", "current")])
def test_an_account_named_after_the_balances_shows_that_balance(domain: dict[str, Any], text: str, kind: str) -> None:
    tracker = make_tracker(text, "inform", token=issue_token(1), slots={"owner": "1"})
    _, messages = run_action(ActionAccountFollowup(), tracker, domain)
    account = _kinds()[kind]
    assert money(account.balance) in texts(messages) and account.masked_number in texts(messages)


def test_a_bare_number_with_nothing_to_answer_is_not_a_balance(domain: dict[str, Any]) -> None:
    tracker = make_tracker("50", "inform", token=issue_token(1), slots={"owner": "1"})
    _, messages = run_action(ActionAccountFollowup(), tracker, domain)
    assert "€" not in texts(messages)


def test_the_transfer_limit_answer_is_the_settings_value(domain: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> None:
    tracker = make_tracker("what's the daily limit?", "ask_transfer_limit", token=issue_token(1), slots={"owner": "1"})
    _, messages = run_action(ActionTransferLimit(), tracker, domain)
    assert money(get_settings().daily_transfer_limit) in texts(messages)
    monkeypatch.setenv("DAILY_TRANSFER_LIMIT", "2500")
    get_settings.cache_clear()
    try:
        _, messages = run_action(ActionTransferLimit(), tracker, domain)
        assert "€2,500.00" in texts(messages) and "5,000" not in texts(messages)
    finally:
        monkeypatch.delenv("DAILY_TRANSFER_LIMIT")
        get_settings.cache_clear()


def test_who_can_i_send_money_to_lists_the_payees(domain: dict[str, Any]) -> None:
    tracker = make_tracker("who can I send money to?", "list_payees", token=issue_token(1), slots={"owner": "1"})
    _, messages = run_action(ActionListPayees(), tracker, domain)
    for payee in list_payees(1):
        assert payee.name in texts(messages) and payee.masked_iban in texts(messages)


# --- issue 11, second pass: where the destination and the source stand in the sentence ---------------------

def _first_payee() -> Any:
    return list_payees(1)[0]


@pytest.mark.parametrize(
    "template",
    [
        "Send it to {name} to their savings account for an amount of €65",  # a second "to" names their account
        "Send €120 {name}'s way.",  # no "to" at all
        "I want {name} to have 45 euros, thanks.",
        "€130. But make it {name}.",
        "My friend is {name}, who I wish to transfer €150 to.",
        "Transfer €58 to {name}. Send it to any account that works.",
        "Okay. I want to transfer it 2 {lower} and to their savings",  # text-speak "2" for "to"
    ],
)
def test_a_saved_payee_named_anywhere_in_the_sentence_is_the_destination(domain: dict[str, Any], template: str) -> None:
    payee = _first_payee()
    first = payee.name.split()[0]
    slots, said = _validate(template.format(name=first, lower=first.lower()), None, domain, intent="transfer_money")
    assert slots["to_account"] == f"payee:{payee.id}"
    assert "not one of your saved payees" not in said


def test_text_speak_2_is_never_an_amount(domain: dict[str, Any]) -> None:
    payee = _first_payee()
    slots, _ = _validate(f"transfer it 2 {payee.name.split()[0].lower()}", None, domain, intent="transfer_money")
    assert slots.get("amount") is None  # the form asks the amount; €2 is never read back


@pytest.mark.parametrize(
    ("template", "kind"),
    [
        ("Please send it to {name} using my checking account.", "current"),
        ("I want to send €93 to {name} using my savings account.", "savings"),
        ("Use the savings account and send to {name}.", "savings"),
        ("Please go with my savings account and send it to {name}.", "savings"),
        ("I'd like to send fifty euros to {name} via my savings account.", "savings"),
        ("My savings account. I want to send money to {name}", "savings"),
        ("Transfer €14 to {name}. Use my savings account.", "savings"),
        ("I'd like to transfer the amount of €17 to {name}. It's in my savings account.", "savings"),
    ],
)
def test_the_source_named_by_use_using_via_or_my_is_taken(domain: dict[str, Any], template: str, kind: str) -> None:
    payee = _first_payee()
    slots, _ = _validate(template.format(name=payee.name.split()[0]), None, domain, intent="transfer_money")
    assert slots["from_account"] == str(_kinds()[kind].id)
    assert slots["to_account"] == f"payee:{payee.id}"


@pytest.mark.parametrize("text", ["I would like to transfer 82 euros to a checking account.",
                                  "I need to transfer 73 euros to a different savings account.",
                                  "I want to transfer money into someones checking account"])
def test_an_account_with_an_indefinite_article_is_not_the_customers_own(domain: dict[str, Any], text: str) -> None:
    slots, _ = _validate(text, None, domain, intent="transfer_money")
    assert slots.get("to_account") is None  # the form asks who


@pytest.mark.parametrize("text", ["I need to sned 590 euros.", "Yes, I would like to confirm the transfer."])
def test_to_after_a_wish_is_an_infinitive_even_for_an_unknown_verb(domain: dict[str, Any], text: str) -> None:
    _, said = _validate(text, None, domain, intent="transfer_money")
    assert "not one of your saved payees" not in said


def test_a_payee_named_at_the_source_question_is_kept_as_the_destination(domain: dict[str, Any]) -> None:
    payee = _first_payee()
    slots, _ = _validate(f"From my checking account. It's for {payee.name.split()[0]}.", "from_account", domain,
                         amount="20.00")
    assert slots["from_account"] == str(_kinds()["current"].id)
    assert slots["to_account"] == f"payee:{payee.id}"


def _said(text: str, intent: str, entities: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    return {"event": "user", "text": text, "parse_data": {"text": text, "intent": {"name": intent, "confidence": 0.9},
                                                          "entities": entities or []}}


@pytest.mark.parametrize(
    ("history", "text", "kind"),
    [
        # the last balance asked about, although the transfer message names someone else's account
        ([_said("what's in my checking?", "check_balance"), _said("and my savings account?", "inform")],
         "I would like to make a transfer to their checking account.", "savings"),
        # the account the balance answer showed ("Checking, please": the first account named)
        ([_said("Checking, please. I hope I don't have to tap my savings.", "inform",
                [{"entity": "account_type", "value": "current_account"}])], "Let's transfer funds.", "current"),
        # no balance asked about: the only current account
        ([_said("hello", "greet")], "I want to make a transfer", "current"),
    ],
)
def test_the_default_source_is_the_account_whose_balance_was_last_asked(
    domain: dict[str, Any], history: list[dict[str, Any]], text: str, kind: str
) -> None:
    tracker = make_tracker(text, "transfer_money", token=issue_token(1), slots={"requested_slot": None, "owner": "1"},
                           active_loop=FORM, history=history)
    events, _ = run_action(ValidateTransferForm(), tracker, domain)
    assert slots_of(events)["from_account"] == str(_kinds()[kind].id)


@pytest.mark.parametrize(
    ("text", "intent", "confirmed"),
    [
        ("Yes, I would like to confirm the transfer.", "transfer_money", True),  # "transfer" drew the intent
        ("Yes, that is correct. go ahead.", "inform", True),
        ("That's right.", "inform", True),
        ("Yes, but wait a second", "inform", None),
        ("yes... is that from my savings?", "inform", None),
        ("that's not right", "inform", None),
    ],
)
def test_a_yes_sentence_confirms_and_anything_hesitant_does_not(
    domain: dict[str, Any], text: str, intent: str, confirmed: bool | None
) -> None:
    acc = _kinds()
    slots, _ = _validate(text, "transfer_confirmed", domain, intent=intent, amount="20.00",
                         from_account=str(acc["current"].id), to_account=f"acc:{acc['savings'].id}")
    assert slots.get("transfer_confirmed") is confirmed


def test_another_payee_named_before_the_read_back_replaces_the_first(domain: dict[str, Any]) -> None:
    first, second = list_payees(2)[:2]  # customer 2 has two saved payees
    current = next(a for a in list_accounts(2) if a.kind == "current")
    tracker = make_tracker(f"Send €43 to {second.name.split()[0]}.", "inform", token=issue_token(2), active_loop=FORM,
                           slots={"requested_slot": "amount", "owner": "2", "to_account": f"payee:{first.id}",
                                  "from_account": str(current.id)})
    events, _ = run_action(ValidateTransferForm(), tracker, domain)
    assert slots_of(events)["to_account"] == f"payee:{second.id}" and slots_of(events)["amount"] == "43.00"


def test_a_new_amount_stated_before_the_read_back_replaces_the_old_one(domain: dict[str, Any]) -> None:
    payee = _first_payee()
    acc = _kinds()
    slots, _ = _validate(f"Please withdraw a transfer of €64 and send it to {payee.name.split()[0]}.", "from_account",
                         domain, amount="96.00", to_account=f"acc:{acc['savings'].id}")
    assert slots["amount"] == "64.00" and slots["to_account"] == f"payee:{payee.id}"


@pytest.mark.parametrize("text", ["Yes thank you.", "Ok. Thanks.", "Yeah, thanks a bunch.", "That's what I said.",
                                  "I confirm this, yes."])
def test_a_yes_with_thanks_at_the_read_back_confirms(domain: dict[str, Any], text: str) -> None:
    acc = _kinds()
    slots, _ = _validate(text, "transfer_confirmed", domain, intent="thanks", amount="20.00",
                         from_account=str(acc["current"].id), to_account=f"acc:{acc['savings'].id}")
    assert slots.get("transfer_confirmed") is True


@pytest.mark.parametrize(
    ("text", "intent"),
    [
        ("ok forget it", "stop"), ("Okay never mind", "deny"), ("ok i changed my mind", "deny"),
        ("Ok, let me think about it", "affirm"), ("okay give me a minute", "affirm"),
        ("Ok so what is the fee", "inform"), ("Right now I am busy", "affirm"), ("Exactly what I didnt want", "affirm"),
        ("sure, but not today", "affirm"), ("yes, hold on", "affirm"),
    ],
)
def test_a_refusal_or_a_wait_that_starts_with_ok_never_confirms(domain: dict[str, Any], text: str, intent: str) -> None:
    """A review found "ok forget it" at the read-back confirmed and moved the money: every word after a leading
    yes must be one that only confirms, and the NLU's no wins over its yes."""
    acc = _kinds()
    slots, _ = _validate(text, "transfer_confirmed", domain, intent=intent, amount="20.00",
                         from_account=str(acc["current"].id), to_account=f"acc:{acc['savings'].id}")
    assert slots.get("transfer_confirmed") is not True


@pytest.mark.parametrize("intent", ["affirm", "thanks", "goodbye", "nlu_fallback"])
@pytest.mark.parametrize("text", ["thanks, bye", "Thank you, that's all", "bye", "nevermind", "cheers"])
def test_a_closing_at_the_read_back_is_a_no_whatever_the_nlu_read(domain: dict[str, Any], text: str, intent: str) -> None:
    """CI once ended a transfer on "thanks, bye" with the confirmation slot still set: a closing at the read-back
    is a no (the form ends, nothing is sent), even when a model reads it as affirm."""
    acc = _kinds()
    slots, _ = _validate(text, "transfer_confirmed", domain, intent=intent, amount="20.00",
                         from_account=str(acc["current"].id), to_account=f"acc:{acc['savings'].id}")
    assert slots.get("transfer_confirmed") is False


@pytest.mark.parametrize("template", ["Yes, send it to Zebedee", "right, send it to my mum", "Yes, to Zebedee's account",
                                      "yes, from my crypto wallet"])
def test_a_yes_naming_a_payee_or_account_we_cannot_match_sends_nothing(domain: dict[str, Any], template: str) -> None:
    """"Yes, send it to Pedro" (not a saved payee) at the read-back of a transfer to Ana must not send Ana the
    money: the customer is told nothing was sent and asked again."""
    acc, payee = _kinds(), _first_payee()
    slots, said = _validate(template, "transfer_confirmed", domain, intent="affirm", amount="20.00",
                            from_account=str(acc["current"].id), to_account=f"payee:{payee.id}")
    assert slots.get("transfer_confirmed") is None
    assert "haven't sent anything" in said


def test_a_yes_naming_the_payee_read_back_still_confirms(domain: dict[str, Any]) -> None:
    acc, payee = _kinds(), _first_payee()
    slots, _ = _validate(f"Yes, send it to {payee.name.split()[0]}", "transfer_confirmed", domain, intent="affirm",
                         amount="20.00", from_account=str(acc["current"].id), to_account=f"payee:{payee.id}")
    assert slots.get("transfer_confirmed") is True
