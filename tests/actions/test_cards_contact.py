"""Block-card and contact-update forms against a real seeded CRM database."""

from typing import Any

import pytest
from sqlalchemy import select

from actions.cards import ActionAskCardId, ActionSubmitBlockCard, ValidateBlockCardForm
from actions.contact import ActionSubmitContactUpdate, ValidateContactForm
from profiles import get_customer, issue_token, list_cards
from profiles.db import session_scope
from profiles.models import AuditLog
from tests.actions.conftest import make_tracker, run_action, slots_of, texts

pytestmark = pytest.mark.usefixtures("crm")


def _block_yes(domain: dict[str, Any], card_id: str, customer: int) -> Any:
    """The ``block_confirmed`` value the form itself sets when the customer says yes to blocking ``card_id``."""
    tracker = make_tracker("yes", "affirm", token=issue_token(customer), active_loop="block_card_form",
                           slots={"requested_slot": "block_confirmed", "card_id": card_id, "owner": str(customer)})
    return slots_of(run_action(ValidateBlockCardForm(), tracker, domain)[0])["block_confirmed"]


def test_block_card_by_its_button_then_confirm(domain: dict[str, Any]) -> None:
    token = issue_token(2)
    ask = make_tracker("I lost my card", "lost_or_stolen_card", token=token, slots={"owner": "2"})
    _, messages = run_action(ActionAskCardId(), ask, domain)
    buttons = messages[0]["buttons"]
    debit = next(c for c in list_cards(2) if c.kind == "debit")
    payload = next(b["payload"] for b in buttons if debit.masked_number in b["payload"])
    pick = make_tracker(payload, "inform", token=token, slots={"requested_slot": "card_id", "owner": "2"}, active_loop="block_card_form")
    assert slots_of(run_action(ValidateBlockCardForm(), pick, domain)[0])["card_id"] == str(debit.id)

    history = [{"event": "user", "text": "my card was stolen", "parse_data": {"intent": {"name": "lost_or_stolen_card"}}}]
    yes = _block_yes(domain, str(debit.id), 2)
    submit = make_tracker("yes", "affirm", token=token, slots={"card_id": str(debit.id), "block_confirmed": yes, "owner": "2"}, history=history)
    _, messages = run_action(ActionSubmitBlockCard(), submit, domain)
    assert "is now blocked" in texts(messages)
    assert next(c for c in list_cards(2) if c.id == debit.id).status == "blocked"
    with session_scope() as s:
        audit = s.scalars(select(AuditLog).where(AuditLog.customer_id == 2, AuditLog.entity == "card")).all()
    assert audit and (audit[-1].new_value or "").startswith("blocked")

    again = make_tracker("yes", "affirm", token=token, slots={"card_id": str(debit.id), "block_confirmed": yes, "owner": "2"})
    assert "was not blocked" in texts(run_action(ActionSubmitBlockCard(), again, domain)[1])


def test_cannot_block_another_customers_card(domain: dict[str, Any]) -> None:
    theirs = list_cards(3)[0]
    yes = _block_yes(domain, str(theirs.id), 2)
    tracker = make_tracker("yes", "affirm", token=issue_token(2), slots={"card_id": str(theirs.id), "block_confirmed": yes, "owner": "2"})
    said = texts(run_action(ActionSubmitBlockCard(), tracker, domain)[1])
    assert "was not blocked" in said and theirs.masked_number not in said
    assert list_cards(3)[0].status == theirs.status


def _contact(text: str, requested: str, domain: dict[str, Any], intent: str = "inform", **slots: Any) -> tuple[dict[str, Any], str]:
    tracker = make_tracker(text, intent, token=issue_token(4), slots={"requested_slot": requested, "owner": "4", **slots}, active_loop="contact_form")
    events, messages = run_action(ValidateContactForm(), tracker, domain)
    return slots_of(events), texts(messages)


def test_invalid_email_is_refused_and_nothing_written(domain: dict[str, Any]) -> None:
    before = get_customer(4)
    slots, said = _contact("not-an-email", "contact_value", domain, contact_field="email")
    assert slots["contact_value"] is None and "email" in said.lower()
    assert get_customer(4) == before


def test_email_update_is_confirmed_persisted_and_audited(domain: dict[str, Any]) -> None:
    before = get_customer(4)
    slots, _ = _contact("New.Address@Example.com", "contact_value", domain, contact_field="email")
    value = slots["contact_value"]
    assert value and value.lower() == "new.address@example.com"
    yes = _contact("yes", "contact_confirmed", domain, intent="affirm", contact_field="email", contact_value=value)[0]
    submit = make_tracker("yes", "affirm", token=issue_token(4), slots={"contact_field": "email", "contact_value": value, "contact_confirmed": yes["contact_confirmed"], "owner": "4"})
    said = texts(run_action(ActionSubmitContactUpdate(), submit, domain)[1])
    assert value in said
    assert get_customer(4).email == value
    with session_scope() as s:
        row = s.scalars(select(AuditLog).where(AuditLog.customer_id == 4, AuditLog.field == "email")).all()[-1]
    assert (row.old_value, row.new_value, row.channel) == (before.email, value, "rest")


def test_phone_is_normalised(domain: dict[str, Any]) -> None:
    slots, _ = _contact("912 345 678", "contact_value", domain, contact_field="phone")
    assert slots["contact_value"] == "+351912345678"


def test_field_is_understood_from_the_request(domain: dict[str, Any]) -> None:
    tracker = make_tracker("I moved house, update my address", "update_contact", token=issue_token(4), slots={"owner": "4"}, active_loop="contact_form")
    assert slots_of(run_action(ValidateContactForm(), tracker, domain)[0])["contact_field"] == "address"


def test_contact_change_by_another_customer_on_the_same_conversation_is_refused(domain: dict[str, Any]) -> None:
    before = get_customer(5)
    yes = _contact("yes", "contact_confirmed", domain, intent="affirm", contact_field="email",
                   contact_value="attacker@evil.example")[0]["contact_confirmed"]
    slots = {"contact_field": "email", "contact_value": "attacker@evil.example", "contact_confirmed": yes, "owner": "1"}
    _, messages = run_action(ActionSubmitContactUpdate(), make_tracker("yes", "affirm", token=issue_token(5), slots=slots), domain)
    assert messages[0].get("response") == "utter_login_required"
    assert get_customer(5) == before


def test_a_confirmation_the_action_server_did_not_seal_changes_nothing(domain: dict[str, Any]) -> None:
    """A hand-made tracker claims ``True`` for the confirmation slot, or replays a yes given to another read-back
    (another card, another value): no card is blocked, no contact detail changes (issue 9 item 3)."""
    debit, other = list_cards(2)[0], list_cards(2)[-1]
    card_before = [c.status for c in list_cards(2)]
    for claimed in (True, "true", _block_yes(domain, str(other.id), 2) if other.id != debit.id else "x"):
        tracker = make_tracker("yes", "affirm", token=issue_token(2),
                               slots={"card_id": str(debit.id), "block_confirmed": claimed, "owner": "2"})
        assert run_action(ActionSubmitBlockCard(), tracker, domain)[1][0].get("response") == "utter_cancelled"
    assert [c.status for c in list_cards(2)] == card_before
    before = get_customer(4)
    elsewhere = _contact("yes", "contact_confirmed", domain, intent="affirm", contact_field="email",
                         contact_value="mine@example.com")[0]["contact_confirmed"]
    for claimed in (True, elsewhere):
        slots = {"contact_field": "email", "contact_value": "attacker@evil.example", "contact_confirmed": claimed,
                 "owner": "4"}
        tracker = make_tracker("yes", "affirm", token=issue_token(4), slots=slots)
        assert run_action(ActionSubmitContactUpdate(), tracker, domain)[1][0].get("response") == "utter_cancelled"
    assert get_customer(4) == before


@pytest.mark.parametrize("intent", ["affirm", "goodbye", "thanks"])
@pytest.mark.parametrize(
    ("validation", "form", "asked", "confirm"),
    [
        (ValidateBlockCardForm, "block_card_form", "block_confirmed", "block_confirmed"),
        (ValidateBlockCardForm, "block_card_form", "card_id", "block_confirmed"),
        (ValidateContactForm, "contact_form", "contact_value", "contact_confirmed"),
        (ValidateContactForm, "contact_form", "contact_confirmed", "contact_confirmed"),
    ],
)
def test_a_closing_while_a_question_is_pending_ends_the_form_with_a_no(
    domain: dict[str, Any], validation: Any, form: str, asked: str, confirm: str, intent: str
) -> None:
    """"thanks, bye" at any question ends the form (requested slot cleared, confirmation set to no, so Rasa does not
    reject the form and leave it waiting), whatever intent the NLU read; the submit action then changes nothing."""
    tracker = make_tracker("thanks, bye", intent, token=issue_token(2), active_loop=form,
                           slots={"requested_slot": asked, "owner": "2"})
    slots = slots_of(run_action(validation(), tracker, domain)[0])
    assert slots == {confirm: False, "requested_slot": None}
