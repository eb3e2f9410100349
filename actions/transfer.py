"""Transfer money between the customer's own accounts or to a saved payee (``transfer_form``).

Slot values: ``amount`` a decimal string in EUR, ``from_account`` an account id, ``to_account``
``"acc:<id>"`` or ``"payee:<id>"``, ``transfer_confirmed`` a bool. The limits themselves are checked in
``profiles`` (``validate_amount`` while asking, ``transfer`` again inside the write transaction).
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from rasa_sdk import Action, FormValidationAction, Tracker
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.types import DomainDict

from actions.context import (
    actor_of,
    channel_of,
    latest_intent,
    latest_text,
    owning_customer,
)
from actions.formtools import ANSWER_INTENTS, answering, reset, resolved, yes_no
from actions.parsing import match_account, match_payee, money, parse_amount
from profiles import list_accounts, list_payees, transfer, validate_amount
from profiles.errors import ProfileError

FORM = "transfer_form"


def _answers_question(tracker: Tracker, understood: bool) -> bool:
    """Whether the latest message is an answer to the form's question rather than a new request."""
    intent, confidence = latest_intent(tracker)
    if understood:
        return not (intent not in ANSWER_INTENTS | {"transfer_money"} and confidence >= 0.6 and "?" in latest_text(tracker))
    return intent in ANSWER_INTENTS


def _describe_destination(customer_id: int, value: str) -> str:
    kind, _, ident = value.partition(":")
    if kind == "payee":
        payee = next((p for p in list_payees(customer_id) if p.id == int(ident)), None)
        return f"{payee.name} ({payee.masked_iban})" if payee else "the payee"
    account = next((a for a in list_accounts(customer_id) if a.id == int(ident)), None)
    return f"your {account.name} {account.masked_number}" if account else "your account"


class ValidateTransferForm(FormValidationAction):
    """Extract and validate the transfer form's slots against the customer's own accounts and payees."""

    def name(self) -> str:
        return "validate_transfer_form"

    async def extract_amount(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict) -> dict[str, Any]:
        first_turn = tracker.get_slot("requested_slot") is None and latest_intent(tracker)[0] == "transfer_money"
        if not (answering(tracker, "amount") or first_turn):
            return {}
        text = latest_text(tracker)
        understood = parse_amount(text) is not None
        if first_turn:
            return {"amount": text} if understood else {}
        return {"amount": text} if _answers_question(tracker, understood) else {}

    async def validate_amount(self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict) -> dict[str, Any]:
        customer_id = owning_customer(tracker)
        if customer_id is None:
            dispatcher.utter_message(response="utter_login_required")
            return {"amount": None}
        amount = parse_amount(str(value))
        if amount is None:
            dispatcher.utter_message(text="Please tell me the amount in euros, for example 50 or 12.50.")
            return {"amount": None}
        source = tracker.get_slot("from_account")
        try:
            checked = validate_amount(customer_id, amount, int(source) if source else None)
        except ProfileError as exc:
            dispatcher.utter_message(text=exc.user_message)
            return {"amount": None}
        return {"amount": str(checked)}

    async def extract_from_account(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict) -> dict[str, Any]:
        if not answering(tracker, "from_account"):
            return {}
        customer_id = owning_customer(tracker)
        accounts = list_accounts(customer_id) if customer_id is not None else []
        text = latest_text(tracker)
        found = match_account(text, accounts)
        if found is not None:
            return {"from_account": str(found.id)}
        return {"from_account": "?"} if _answers_question(tracker, False) else {}

    async def validate_from_account(self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict) -> dict[str, Any]:
        customer_id = owning_customer(tracker)
        if customer_id is None or not str(value).isdigit():
            dispatcher.utter_message(text="Sorry, I couldn't tell which account you mean. Please pick one of the buttons.")
            return {"from_account": None}
        amount = tracker.get_slot("amount")
        try:
            validate_amount(customer_id, Decimal(amount), int(value)) if amount else None
        except ProfileError as exc:
            dispatcher.utter_message(text=exc.user_message)
            return {"from_account": str(value), "amount": None}
        return {"from_account": str(value)}

    async def extract_to_account(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict) -> dict[str, Any]:
        if not answering(tracker, "to_account"):
            return {}
        customer_id = owning_customer(tracker)
        if customer_id is None:
            return {"to_account": "?"}
        text = latest_text(tracker)
        payee = match_payee(text, list_payees(customer_id))
        if payee is not None:
            return {"to_account": f"payee:{payee.id}"}
        source = tracker.get_slot("from_account")
        own = [a for a in list_accounts(customer_id) if str(a.id) != source]
        account = match_account(text, own)
        if account is not None:
            return {"to_account": f"acc:{account.id}"}
        return {"to_account": "?"} if _answers_question(tracker, False) else {}

    async def validate_to_account(self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict) -> dict[str, Any]:
        if str(value).startswith(("acc:", "payee:")):
            return {"to_account": str(value)}
        dispatcher.utter_message(text="Sorry, I couldn't tell where the money should go. Please pick one of the buttons.")
        return {"to_account": None}

    async def extract_transfer_confirmed(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict) -> dict[str, Any]:
        return yes_no(tracker, "transfer_confirmed")


class ActionAskFromAccount(Action):
    """Ask which account the money comes from, one button per account."""

    def name(self) -> str:
        return "action_ask_from_account"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]) -> list[dict[str, Any]]:
        customer_id = owning_customer(tracker)
        accounts = list_accounts(customer_id) if customer_id is not None else []
        buttons = [
            {"title": f"{a.name} {a.masked_number} ({money(a.balance)})", "payload": f"{a.name} {a.masked_number}"}
            for a in accounts
        ]
        dispatcher.utter_message(text="Which account should the money come from?", buttons=buttons)
        return []


class ActionAskToAccount(Action):
    """Ask where the money goes: the customer's other accounts and saved payees."""

    def name(self) -> str:
        return "action_ask_to_account"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]) -> list[dict[str, Any]]:
        customer_id = owning_customer(tracker)
        buttons: list[dict[str, str]] = []
        if customer_id is not None:
            source = tracker.get_slot("from_account")
            buttons += [
                {"title": f"{a.name} {a.masked_number}", "payload": f"{a.name} {a.masked_number}"}
                for a in list_accounts(customer_id)
                if str(a.id) != source
            ]
            buttons += [{"title": f"{p.name} ({p.masked_iban})", "payload": p.name} for p in list_payees(customer_id)]
        dispatcher.utter_message(text="Where should the money go? One of your accounts or a saved payee:", buttons=buttons)
        return []


class ActionAskTransferConfirmed(Action):
    """Read the transfer back and ask for an explicit yes before any money moves."""

    def name(self) -> str:
        return "action_ask_transfer_confirmed"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]) -> list[dict[str, Any]]:
        customer_id = owning_customer(tracker)
        if customer_id is None:
            dispatcher.utter_message(response="utter_login_required")
            return []
        source = next((a for a in list_accounts(customer_id) if str(a.id) == tracker.get_slot("from_account")), None)
        target = _describe_destination(customer_id, str(tracker.get_slot("to_account")))
        amount = Decimal(str(tracker.get_slot("amount")))
        origin = f"your {source.name} {source.masked_number}" if source else "your account"
        dispatcher.utter_message(
            text=f"Please confirm: transfer {money(amount)} from {origin} to {target}?",
            buttons=[{"title": "Yes, transfer", "payload": "/affirm"}, {"title": "No, cancel", "payload": "/deny"}],
        )
        return []


class ActionSubmitTransfer(Action):
    """Execute a confirmed transfer through ``profiles.transfer`` (atomic, limit-checked, audited)."""

    def name(self) -> str:
        return "action_submit_transfer"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]) -> list[dict[str, Any]]:
        customer_id = owning_customer(tracker)
        if tracker.get_slot("transfer_confirmed") is not True:
            dispatcher.utter_message(response="utter_cancelled")
            return reset(FORM)
        if customer_id is None:
            dispatcher.utter_message(response="utter_login_required")
            return reset(FORM)
        kind, _, ident = str(tracker.get_slot("to_account")).partition(":")
        try:
            result = transfer(
                customer_id,
                int(tracker.get_slot("from_account")),
                to_account_id=int(ident) if kind == "acc" else None,
                to_payee_id=int(ident) if kind == "payee" else None,
                amount=Decimal(str(tracker.get_slot("amount"))),
                channel=channel_of(tracker),
                actor=actor_of(tracker),
            )
        except ProfileError as exc:
            dispatcher.utter_message(text=f"The transfer was not made: {exc.user_message}")
            return reset(FORM)
        source = result.from_account
        dispatcher.utter_message(
            text=(
                f"Done: {money(result.amount)} sent to {result.to_name}. "
                f"Your {source.name} {source.masked_number} balance is now {money(source.balance)}. "
                f"Reference T{result.transfer_id}."
            )
        )
        return [*reset(FORM), resolved()]
