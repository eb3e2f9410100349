"""The slot ``owner`` counts only when this action server sealed it in this conversation (issue 9, item 3):
a hand-made tracker with a plain or copied owner gets no transfer, contact change or card block."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from actions.contact import ActionSubmitContactUpdate
from actions.context import owning_customer, slot_owner
from actions.transfer import ActionSubmitTransfer
from actions.verify import ActionVerifyCustomer
from profiles import get_customer, issue_token, list_accounts
from profiles.sealing import seal, seal_owner, sealed_owner, unseal
from tests.actions.conftest import SENDER, make_tracker, run_action, slots_of, texts

CONTACT = "contact_confirmed"

pytestmark = pytest.mark.usefixtures("crm")


def test_seal_round_trip_and_forgeries() -> None:
    sealed = seal_owner("conv-a", 7)
    assert sealed.startswith("7.") and sealed_owner("conv-a", sealed) == 7
    assert sealed_owner("conv-b", sealed) is None  # copied into another conversation
    assert sealed_owner("conv-a", "7") is None  # plain
    assert sealed_owner("conv-a", "8" + sealed[1:]) is None  # another id with this mac
    assert sealed_owner("conv-a", None) is None and sealed_owner("conv-a", 7) is None
    assert unseal("transfer", "conv-a", seal("transfer", "conv-a", "10.00|1|acc:2")) == "10.00|1|acc:2"
    assert unseal("owner", "conv-a", seal("transfer", "conv-a", "7")) is None  # another purpose


def test_verify_sets_a_sealed_owner(domain: dict[str, Any]) -> None:
    events, _ = run_action(ActionVerifyCustomer(), make_tracker("hi", "greet", token=issue_token(2)), domain)
    owner = slots_of(events)["owner"]
    assert owner != "2" and sealed_owner(SENDER, owner) == 2
    assert owning_customer(make_tracker("yes", "affirm", token=issue_token(2), slots={"owner": owner}, seal_owner=False)) == 2


def test_plain_owner_slot_moves_no_money(domain: dict[str, Any]) -> None:
    accounts = {a.kind: a for a in list_accounts(1)}
    before = {a.id: a.balance for a in accounts.values()}
    slots = {"owner": "1", "amount": "5.00", "from_account": str(accounts["current"].id),
             "to_account": f"acc:{accounts['savings'].id}", "transfer_confirmed": True}
    tracker = make_tracker("yes", "affirm", token=issue_token(1), slots=slots, seal_owner=False)
    assert slot_owner(tracker) is None and owning_customer(tracker) is None
    _, messages = run_action(ActionSubmitTransfer(), tracker, domain)
    assert "Done" not in texts(messages)
    assert {a.id: a.balance for a in list_accounts(1)} == before
    assert sum(before.values(), Decimal(0)) > 0


def test_plain_owner_slot_changes_no_contact(domain: dict[str, Any]) -> None:
    before = get_customer(4)
    read_back = {"contact_field": "email", "contact_value": "forged@evil.example"}
    yes = seal(CONTACT, SENDER, "email\nforged@evil.example")  # even a genuine sealed yes, with a plain owner
    slots = {**read_back, "contact_confirmed": yes, "owner": "4"}
    tracker = make_tracker("yes", "affirm", token=issue_token(4), slots=slots, seal_owner=False)
    _, messages = run_action(ActionSubmitContactUpdate(), tracker, domain)
    assert messages[0].get("response") == "utter_login_required"
    assert get_customer(4) == before
