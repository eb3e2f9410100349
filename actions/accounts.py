"""Balances and transactions."""

from __future__ import annotations

import re
from typing import Any

from rasa_sdk import Action, Tracker
from rasa_sdk.executor import CollectingDispatcher

from actions.answers import VerifiedAnswer
from actions.context import latest_text, verified_customer
from actions.engagement import resolved
from actions.parsing import money, parse_period
from profiles import list_accounts, list_transactions, transactions_summary
from profiles.accounts import account_details
from profiles.schemas import AccountView

SHOWN = 10  # transactions listed in one chat message
ACCOUNT_TYPE_TO_KIND = {"current_account": "current", "savings_account": "savings", "term_deposit": "term_deposit"}
# An account kind in the customer's words ("checking" is a current account): used when the NLU entity is
# missing or was not mapped to its synonym.
_KIND_IN_TEXT = (
    ("current", re.compile(r"\b(current|checking|cheque|main|everyday)\b", re.IGNORECASE)),
    ("savings", re.compile(r"\bsavings?\b", re.IGNORECASE)),
    ("term_deposit", re.compile(r"\b(term|fixed)\s+deposits?\b|\bdeposit account\b", re.IGNORECASE)),
)


def _entity(tracker: Tracker, name: str) -> str | None:
    value = next(tracker.get_latest_entity_values(name), None)
    return str(value) if value is not None else None


def named_kind(tracker: Tracker) -> str | None:
    """The account kind ("current", "savings", "term_deposit") the latest message names, or ``None``: the
    ``account_type`` entity (its synonym, or its words), else the words of the message."""
    return kind_in(_entity(tracker, "account_type"), latest_text(tracker))


def kind_in(entity: str | None, text: str) -> str | None:
    """The account kind a message names, from its first ``account_type`` entity value (``None`` if it has none)
    and its ``text``: what :func:`named_kind` reads for the latest message, for any message."""
    if entity in ACCOUNT_TYPE_TO_KIND:
        return ACCOUNT_TYPE_TO_KIND[entity]
    for said in (entity or "", text):
        kinds = {kind for kind, words in _KIND_IN_TEXT if words.search(said)}
        if len(kinds) == 1:
            return kinds.pop()
    return None


def _balance_lines(accounts: list[AccountView]) -> str:
    lines = [f"• {a.name} {a.masked_number}: {money(a.balance)}" for a in accounts]
    return ("Your balance:\n" if len(accounts) == 1 else "Your balances:\n") + "\n".join(lines)


class ActionShowBalance(VerifiedAnswer):
    """Tell a verified customer the balance of all accounts, or of the one they named."""

    def name(self) -> str:
        return "action_show_balance"

    def answer(self, dispatcher: CollectingDispatcher, tracker: Tracker, customer_id: int) -> list[dict[str, Any]]:
        accounts = list_accounts(customer_id)
        kind = named_kind(tracker)
        chosen = [a for a in accounts if a.kind == kind] if kind else accounts
        if not chosen:
            dispatcher.utter_message(text="You don't have an account of that kind with us. Here are all your balances:")
            chosen = accounts
        dispatcher.utter_message(text=_balance_lines(chosen))
        return resolved(tracker, customer_id)


class ActionAccountFollowup(Action):
    """An account named with no question open ("and my savings?", "checking", right after the balances):
    that account's balance. Anything else with nothing to answer ("50") gets ``utter_no_context``."""

    def name(self) -> str:
        return "action_account_followup"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]) -> list[dict[str, Any]]:
        kind = named_kind(tracker)
        if kind is None:
            dispatcher.utter_message(response="utter_no_context")
            return []
        customer_id = verified_customer(tracker)
        if customer_id is None:
            dispatcher.utter_message(response="utter_login_required")
            return []
        chosen = [a for a in list_accounts(customer_id) if a.kind == kind]
        if not chosen:
            dispatcher.utter_message(text="You don't have an account of that kind with us.")
            return []
        dispatcher.utter_message(text=_balance_lines(chosen))
        return []


class ActionShowTransactions(VerifiedAnswer):
    """List a verified customer's recent transactions, filtered by period and/or merchant."""

    def name(self) -> str:
        return "action_show_transactions"

    def answer(self, dispatcher: CollectingDispatcher, tracker: Tracker, customer_id: int) -> list[dict[str, Any]]:
        text = latest_text(tracker)
        period = parse_period(text)
        merchant = _entity(tracker, "merchant")
        since, until = period if period else (None, None)
        rows = list_transactions(customer_id, since=since, until=until, merchant=merchant, limit=SHOWN)
        scope = "".join(
            [f" at {merchant}" if merchant else "", f" from {since:%d %b %Y} to {until:%d %b %Y}" if since and until else ""]
        )
        if not rows:
            dispatcher.utter_message(text=f"I found no transactions{scope}.")
            return resolved(tracker, customer_id)
        lines = [f"• {t.booked_at:%d %b} {t.merchant or t.description}: {money(t.amount)}" for t in rows]
        summary = ""
        if merchant or period:
            count, total = transactions_summary(customer_id, since=since, until=until, merchant=merchant)
            shown = f" (the latest {len(rows)} of {count} shown)" if count > len(rows) else ""
            summary = f"\nTotal of all {count}: {money(total)}{shown}"
        dispatcher.utter_message(text=f"Your latest transactions{scope}:\n" + "\n".join(lines) + summary)
        return resolved(tracker, customer_id)


class ActionAccountDetails(VerifiedAnswer):
    """"What's my IBAN?" / "my account details": a verified customer's own accounts with the FULL IBAN, BIC
    and holder (to receive money). Anonymous visitors are asked to log in; nothing of it is logged."""

    def name(self) -> str:
        return "action_account_details"

    def answer(self, dispatcher: CollectingDispatcher, tracker: Tracker, customer_id: int) -> list[dict[str, Any]]:
        details = account_details(customer_id)
        kind = named_kind(tracker)
        chosen = [d for d in details if d.kind == kind] if kind else [d for d in details if d.kind != "term_deposit"]
        chosen = chosen or details
        lines = [f"• {d.name}: IBAN {d.iban}" for d in chosen]
        holder = chosen[0].holder if chosen else ""
        bic = chosen[0].bic if chosen else ""
        dispatcher.utter_message(text=(
            "Your account details" + (f" (holder {holder}, BIC/SWIFT {bic}):\n" if chosen else ":\n") + "\n".join(lines)
            + "\nShare them only with people who send you money; we will never ask you for them in a message."
        ))
        return []
