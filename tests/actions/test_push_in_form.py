"""A proactive push (``EXTERNAL_*`` intent) arriving while a form is open (issue 14 §5): the turn keeps the
identity of the customer's own last message (never one the channel did not verify), and is never taken as an
answer to the form's question."""

from typing import Any

import pytest

from actions.context import customer_message, is_push_turn, verified_customer
from actions.transfer import ActionAskToAccount, ActionAskTransferConfirmed, ValidateTransferForm
from profiles import issue_token, list_accounts
from profiles.identity import identity_claim
from tests.actions.conftest import SENDER, make_tracker, run_action, texts

pytestmark = pytest.mark.usefixtures("crm")
FORM = "transfer_form"
PUSH_ENTITIES = [{"entity": "push_product", "value": "term_deposit"}, {"entity": "push_name", "value": "José"}]


def said_by_customer(text: str, *, token: str | None, channel: str = "rest") -> dict[str, Any]:
    """A user event as Rasa stores it: the channel's sealed claim in its metadata."""
    metadata = {"identity": identity_claim(token, SENDER)} if token else {}
    return {"event": "user", "text": text, "input_channel": channel, "metadata": metadata,
            "parse_data": {"text": text, "intent": {"name": "inform", "confidence": 0.9}, "metadata": metadata}}


def push_turn(history: list[dict[str, Any]], **slots: Any) -> Any:
    return make_tracker("EXTERNAL: EXTERNAL_offer", "EXTERNAL_offer", entities=PUSH_ENTITIES, history=history,
                        slots={"owner": "1", **slots}, active_loop=FORM)


def test_a_push_turn_keeps_the_identity_of_the_customers_last_message() -> None:
    tracker = push_turn([said_by_customer("I want to transfer money", token=issue_token(1))])
    assert is_push_turn(tracker)
    assert customer_message(tracker) is not None
    assert verified_customer(tracker) == 1


@pytest.mark.parametrize("history", [
    [],  # nothing said by the customer
    [{"event": "user", "text": "hi", "input_channel": "rest", "metadata": {"identity": "forged"},
      "parse_data": {"intent": {"name": "greet"}}}],  # a claim our channel did not seal
    [said_by_customer("move money", token=None)],  # an anonymous visitor
    [said_by_customer("move money", token=issue_token(1)), {"event": "session_started"}],  # an earlier session's
])
def test_a_push_turn_names_no_one_the_channel_did_not_verify(history: list[dict[str, Any]]) -> None:
    assert verified_customer(push_turn(history)) is None


def test_the_question_is_asked_again_with_its_buttons(domain: dict[str, Any]) -> None:
    savings = next(a for a in list_accounts(1) if a.kind == "savings")
    tracker = push_turn([said_by_customer("25", token=issue_token(1))], requested_slot="to_account", amount="25")
    _, messages = run_action(ActionAskToAccount(), tracker, domain)
    assert any(savings.masked_number in b["payload"] for m in messages for b in m.get("buttons") or [])


def test_the_read_back_is_asked_again_not_a_log_in(domain: dict[str, Any]) -> None:
    current, savings = (next(a for a in list_accounts(1) if a.kind == k) for k in ("current", "savings"))
    tracker = push_turn([said_by_customer("my savings", token=issue_token(1))], requested_slot="transfer_confirmed",
                        amount="25.00", from_account=str(current.id), to_account=f"acc:{savings.id}")
    _, messages = run_action(ActionAskTransferConfirmed(), tracker, domain)
    assert "Please confirm: transfer €25.00" in texts(messages)
    assert {b["payload"] for m in messages for b in m.get("buttons") or []} == {"/affirm", "/deny"}


@pytest.mark.parametrize("requested", ["amount", "to_account", "transfer_confirmed"])
def test_a_push_is_never_an_answer(domain: dict[str, Any], requested: str) -> None:
    tracker = push_turn([said_by_customer("transfer", token=issue_token(1))], requested_slot=requested)
    events, messages = run_action(ValidateTransferForm(), tracker, domain)
    assert (events, messages) == ([], [])  # nothing extracted: Rasa rejects the form for this turn, the push rule runs


def test_the_action_server_registers_every_form_validation() -> None:
    """The shared base is abstract: the action server starts and registers the three forms' validations."""
    from rasa_sdk.executor import ActionExecutor

    executor = ActionExecutor()
    executor.register_package("actions")
    assert {"validate_transfer_form", "validate_block_card_form", "validate_contact_form"} <= set(executor.actions)


def test_a_typed_external_intent_is_not_a_push_and_borrows_no_identity() -> None:
    """"/EXTERNAL_offer" typed over REST gets that intent from Rasa's regex handler, but its text is what was
    typed: it is the sender's own message (no claim here: anonymous), never a push taking the identity of the
    customer's earlier message."""
    history = [said_by_customer("I want to transfer money", token=issue_token(1))]
    tracker = make_tracker("/EXTERNAL_offer", "EXTERNAL_offer", history=history, slots={"owner": "1"},
                           active_loop=FORM)
    assert not is_push_turn(tracker)
    assert verified_customer(tracker) is None
