"""Credit cards in chat: balance and limit (``action_card_details``) and paying the bill from an account
(``card_payment_form``: ``pay_card``, ``pay_amount``, ``pay_from``, ``pay_confirmed``).

Slot values: ``pay_card`` a card id, ``pay_amount`` a decimal string in EUR (already resolved from "full" /
"minimum" / an amount against the card), ``pay_from`` an account id, ``pay_quote`` the JSON read back at the
last confirmation (``{"key", "pay_card", "pay_amount", "pay_from"}``), sealed to the conversation exactly as
the transfer's (:mod:`actions.readback`). Only a quote this action server sealed as confirmed is paid, with its
values and under its key, so the money moves once (``profiles.card_billing.pay_card_bill`` refuses a key twice).
Every failure while paying clears the form and says, checked by key, whether the money moved. The rules are in
``profiles.card_billing``.
"""

from __future__ import annotations

import logging
import re
from decimal import Decimal
from typing import Any

from rasa_sdk import Action, Tracker
from rasa_sdk.events import SlotSet
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.types import DomainDict

from actions.answers import VerifiedAnswer
from actions.context import (
    actor_of,
    channel_of,
    latest_text,
    owning_customer,
)
from actions.engagement import resolved
from actions.formtools import FormValidation, answering, asking_for, reset, yes_no
from actions.parsing import match_account, money, read_amount
from actions.readback import MoneySubmit, ReadBack
from profiles import list_accounts, list_cards
from profiles.card_billing import (
    AlreadyPaid,
    bill_amount,
    check_card_payment,
    find_card_payment,
    list_credit_cards,
    pay_card_bill,
)
from profiles.errors import ProfileError
from profiles.schemas import AccountView, CreditCardView

log = logging.getLogger(__name__)

FORM = "card_payment_form"
QUOTE = "pay_quote"
QUOTED = ("pay_card", "pay_amount", "pay_from")
CARD_PAYMENT_READ_BACK = ReadBack(form=FORM, quote_slot=QUOTE, confirm_slot="pay_confirmed", quoted=QUOTED)
_FORM_STATE = (*QUOTED, "pay_confirmed", QUOTE)
PAYABLE_KINDS = ("current", "savings")

# What the customer asks to pay: the statement in full, its minimum, everything owed, or an amount.
_CHOICES = (
    ("minimum", re.compile(r"\b(minimum|min|least|smallest)\b", re.IGNORECASE)),
    ("balance", re.compile(r"\b(everything|all (i|that i) owe|whole balance|entire balance|total balance|"
                           r"all of it|the lot|outstanding balance|current balance)\b", re.IGNORECASE)),
    ("full", re.compile(r"\b(full|in full|statement|the (whole )?bill|whole thing|total)\b", re.IGNORECASE)),
)
_CARD_DIGITS = re.compile(r"(\d{4})\b")


def card_label(card: CreditCardView) -> str:
    """"credit card •••• 1234" (the number is already masked by profiles)."""
    return f"credit card {card.masked_number}"


def _cards(customer_id: int | None) -> list[CreditCardView]:
    return list_credit_cards(customer_id) if customer_id is not None else []


# An answer at the read-back that names an account ("yes, from my savings", "use the current account").
_NAMES_AN_ACCOUNT = re.compile(r"\b(from|using|use|out of|account|savings?|current|checking)\b", re.I)


def _payable_accounts(customer_id: int) -> list[AccountView]:
    return [a for a in list_accounts(customer_id) if a.kind in PAYABLE_KINDS]


def _choice(text: str) -> str | None:
    """"full" / "minimum" / "balance" as the customer said it, or ``None``."""
    return next((choice for choice, words in _CHOICES if words.search(text)), None)


def _match_card(text: str, cards: list[CreditCardView]) -> CreditCardView | None:
    digits = set(_CARD_DIGITS.findall(text))
    hits = [c for c in cards if c.masked_number[-4:] in digits]
    return hits[0] if len(hits) == 1 else None


def _amount_from(text: str, card: CreditCardView) -> tuple[str | None, str | None]:
    """(the EUR amount as a string, or ``None``; a message for the customer, or ``None``) for what ``text``
    asks to pay on ``card``, checked by ``profiles.card_billing`` (not more than owed, ...)."""
    choice = _choice(text)
    reading = read_amount(text) if choice is None else None
    if reading is not None and reading.problem == "foreign":
        return None, "Card bills are paid in euros. How much would you like to pay, in euros?"
    if reading is not None and reading.problem == "ambiguous":
        return None, "I saw more than one amount there. Please tell me just one: full, minimum, or an amount."
    wanted: Any = choice or (reading.amount if reading is not None else None)
    if wanted is None:
        return None, None
    try:
        return str(bill_amount(card, wanted)), None  # the one rule for what "full"/"minimum" mean
    except ProfileError as exc:
        return None, exc.user_message


class ValidateCardPaymentForm(FormValidation):
    """Which credit card, how much, from which account, then an explicit yes to the read-back."""

    def name(self) -> str:
        return "validate_card_payment_form"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict) -> list[dict[str, Any]]:
        """On activation clear what an earlier, unfinished payment left, and fill what needs no question: the
        only credit card, the only current account."""
        events: list[dict[str, Any]] = []
        if tracker.get_slot("requested_slot") is None:
            events = [SlotSet(slot, None) for slot in _FORM_STATE if tracker.get_slot(slot) is not None]
            tracker.slots.update(dict.fromkeys(_FORM_STATE))
            customer_id = owning_customer(tracker)
            if customer_id is not None:
                cards = [c for c in _cards(customer_id) if c.balance > 0] or _cards(customer_id)
                card = cards[0] if len(cards) == 1 else _match_card(latest_text(tracker), cards)
                if card is not None:
                    events.append(SlotSet("pay_card", str(card.id)))
                    tracker.slots["pay_card"] = str(card.id)
                current = [a for a in list_accounts(customer_id) if a.kind == "current"]
                if len(current) == 1:
                    events.append(SlotSet("pay_from", str(current[0].id)))
                    tracker.slots["pay_from"] = str(current[0].id)
        return [*events, *await super().run(dispatcher, tracker, domain)]

    async def required_slots(
        self, domain_slots: list[str], dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> list[str]:
        """Nothing left to ask when the customer has no credit card at all (a closing such as "nevermind" ends
        the form in ``FormValidation.run``)."""
        if not _cards(owning_customer(tracker)):
            return []
        return domain_slots

    def _card(self, tracker: Tracker) -> CreditCardView | None:
        card_id = tracker.get_slot("pay_card")
        return next((c for c in _cards(owning_customer(tracker)) if str(c.id) == str(card_id)), None)

    async def extract_pay_card(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict) -> dict[str, Any]:
        if not answering(tracker, "pay_card"):
            return {}
        card = _match_card(latest_text(tracker), _cards(owning_customer(tracker)))
        return {"pay_card": str(card.id)} if card is not None else {"pay_card": "?"}

    async def validate_pay_card(self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict) -> dict[str, Any]:
        if str(value).isdigit():
            return {"pay_card": str(value)}
        dispatcher.utter_message(text="Sorry, I couldn't tell which card you mean. Please pick one of the buttons.")
        return {"pay_card": None}

    async def extract_pay_amount(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict) -> dict[str, Any]:
        first_turn = tracker.get_slot("requested_slot") is None
        if not (first_turn or answering(tracker, "pay_amount")):
            return {}
        card = self._card(tracker)
        if card is None:
            return {}
        amount, problem = _amount_from(latest_text(tracker), card)
        if problem is not None:
            dispatcher.utter_message(text=problem)
            return {} if first_turn else {"pay_amount": None}
        if amount is not None:
            return {"pay_amount": amount}
        return {} if first_turn else {"pay_amount": "?"}

    async def validate_pay_amount(self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict) -> dict[str, Any]:
        customer_id = owning_customer(tracker)
        if customer_id is None:
            dispatcher.utter_message(response="utter_login_required")
            return {"pay_amount": None}
        if value == "?":
            dispatcher.utter_message(text="Please choose full, minimum, or tell me an amount in euros, e.g. 150.")
            return {"pay_amount": None}
        source = tracker.get_slot("pay_from")
        try:
            checked = check_card_payment(customer_id, int(tracker.get_slot("pay_card")), str(value),
                                         int(source) if source else None)
        except ProfileError as exc:
            dispatcher.utter_message(text=exc.user_message)
            return {"pay_amount": None}
        return {"pay_amount": str(checked)}

    async def extract_pay_from(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict) -> dict[str, Any]:
        if not answering(tracker, "pay_from"):
            return {}
        customer_id = owning_customer(tracker)
        account = match_account(latest_text(tracker), _payable_accounts(customer_id)) if customer_id else None
        return {"pay_from": str(account.id)} if account is not None else {"pay_from": "?"}

    async def validate_pay_from(self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict) -> dict[str, Any]:
        customer_id = owning_customer(tracker)
        if customer_id is None or not str(value).isdigit():
            dispatcher.utter_message(text="Sorry, I couldn't tell which account you mean. Please pick one of the buttons.")
            return {"pay_from": None}
        amount = tracker.get_slot("pay_amount")
        if amount:
            try:
                check_card_payment(customer_id, int(tracker.get_slot("pay_card")), amount, int(value))
            except ProfileError as exc:
                dispatcher.utter_message(text=exc.user_message)
                return {"pay_from": None}
        return {"pay_from": str(value)}

    async def extract_pay_confirmed(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict) -> dict[str, Any]:
        """Yes/no to the read-back; a new amount in the answer ("no, the minimum", "make it 100") replaces it
        and the form reads the payment back again."""
        if not asking_for(tracker, "pay_confirmed"):
            return {}
        card = self._card(tracker)
        text = latest_text(tracker)
        if card is not None and (_choice(text) or read_amount(text).amount is not None):
            amount, problem = _amount_from(text, card)
            if problem is not None:
                dispatcher.utter_message(text=problem)
                return {"pay_confirmed": None}
            if amount is not None and amount != tracker.get_slot("pay_amount"):
                return {"pay_amount": amount, "pay_confirmed": None}
        answer = yes_no(tracker, "pay_confirmed")
        customer_id = owning_customer(tracker)
        if answer.get("pay_confirmed") is True and customer_id is not None and _NAMES_AN_ACCOUNT.search(text):
            # "Yes, from my savings": pay from that account after a new read-back, never from the old one
            named = match_account(text, _payable_accounts(customer_id))
            if named is not None and str(named.id) != tracker.get_slot("pay_from"):
                return {"pay_from": str(named.id), "pay_confirmed": None}
            if named is None:
                dispatcher.utter_message(text="I couldn't tell which of your accounts you mean, so I haven't paid "
                                              "anything. Say yes to pay exactly as I read it back, or name the account.")
                return {"pay_confirmed": None}
        return answer

    async def validate_pay_confirmed(self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict) -> dict[str, Any]:
        """A "yes" re-seals the read-back as confirmed."""
        return CARD_PAYMENT_READ_BACK.confirm(tracker, value)


class ActionAskPayCard(Action):
    """Ask which credit card's bill to pay, one button per card with what it owes."""

    def name(self) -> str:
        return "action_ask_pay_card"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]) -> list[dict[str, Any]]:
        buttons = [{"title": f"{card_label(c).capitalize()} (owes {money(c.balance)})", "payload": card_label(c)}
                   for c in _cards(owning_customer(tracker))]
        dispatcher.utter_message(text="Which credit card would you like to pay?", buttons=buttons)
        return []


class ActionAskPayAmount(Action):
    """Ask how much to pay: the statement in full, its minimum, or an amount."""

    def name(self) -> str:
        return "action_ask_pay_amount"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]) -> list[dict[str, Any]]:
        card = next((c for c in _cards(owning_customer(tracker)) if str(c.id) == tracker.get_slot("pay_card")), None)
        if card is None:
            dispatcher.utter_message(text="How much would you like to pay, in euros?")
            return []
        due = f", due {card.statement_due:%d %b}" if card.statement_due and card.statement_balance > 0 else ""
        buttons = []
        if card.statement_balance > 0:
            buttons.append({"title": f"Full statement ({money(card.statement_balance)})", "payload": "full statement"})
        if card.minimum_due > 0:
            buttons.append({"title": f"Minimum ({money(card.minimum_due)})", "payload": "minimum"})
        if card.balance != card.statement_balance:
            buttons.append({"title": f"Everything owed ({money(card.balance)})", "payload": "everything"})
        dispatcher.utter_message(
            text=(f"Your {card_label(card)} owes {money(card.balance)}; the statement balance still to pay is "
                  f"{money(card.statement_balance)}{due}, minimum {money(card.minimum_due)}. How much would you "
                  "like to pay? Choose one or type an amount."),
            buttons=buttons,
        )
        return []


class ActionAskPayFrom(Action):
    """Ask which account pays, one button per current or savings account."""

    def name(self) -> str:
        return "action_ask_pay_from"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]) -> list[dict[str, Any]]:
        customer_id = owning_customer(tracker)
        accounts = _payable_accounts(customer_id) if customer_id is not None else []
        buttons = [{"title": f"{a.name} {a.masked_number} ({money(a.balance)})", "payload": f"{a.name} {a.masked_number}"}
                   for a in accounts]
        dispatcher.utter_message(text="Which account should the payment come from?", buttons=buttons)
        return []


class ActionAskPayConfirmed(Action):
    """Read the payment back and ask for an explicit yes before any money moves (a fresh key per new values)."""

    def name(self) -> str:
        return "action_ask_pay_confirmed"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]) -> list[dict[str, Any]]:
        customer_id = owning_customer(tracker)
        if customer_id is None:
            dispatcher.utter_message(response="utter_login_required")
            return []
        card = next((c for c in _cards(customer_id) if str(c.id) == tracker.get_slot("pay_card")), None)
        source = next((a for a in list_accounts(customer_id) if str(a.id) == tracker.get_slot("pay_from")), None)
        values = CARD_PAYMENT_READ_BACK.current_values(tracker)
        what = card_label(card) if card else "your credit card"
        origin = f"your {source.name} {source.masked_number}" if source else "your account"
        dispatcher.utter_message(
            text=f"Please confirm: pay {money(Decimal(values['pay_amount']))} to your {what} from {origin}?",
            buttons=[{"title": "Yes, pay", "payload": "/affirm"}, {"title": "No, cancel", "payload": "/deny"}],
        )
        return [CARD_PAYMENT_READ_BACK.seal(tracker, values)]


class ActionSubmitCardPayment(MoneySubmit):
    """Pay the confirmed read-back through ``profiles.card_billing.pay_card_bill`` (once per key). Every
    outcome clears the form (:class:`MoneySubmit`)."""

    read_back = CARD_PAYMENT_READ_BACK
    what = "card payment"
    changed_text = "The details changed after I read them back, so I have not paid anything. Please start the payment again."

    def name(self) -> str:
        return "action_submit_card_payment"

    def refuse_first(self, dispatcher: CollectingDispatcher, tracker: Tracker, customer_id: int | None) -> bool:
        if customer_id is not None and not _cards(customer_id):
            dispatcher.utter_message(text="You have no credit card with us, so there is no card bill to pay.")
            return True
        return False

    def execute(self, dispatcher: CollectingDispatcher, tracker: Tracker, customer_id: int, quote: dict[str, str]) -> list[dict[str, Any]]:
        try:
            result = pay_card_bill(customer_id, int(quote["pay_card"]), int(quote["pay_from"]),
                                   amount=quote["pay_amount"], channel=channel_of(tracker), actor=actor_of(tracker),
                                   idempotency_key=quote["key"])
        except AlreadyPaid as exc:
            dispatcher.utter_message(text=exc.user_message)
            return [*reset(FORM), *resolved(tracker, customer_id)]
        except ProfileError as exc:
            dispatcher.utter_message(text=f"The card was not paid: {exc.user_message} No money was moved.")
            return reset(FORM)
        source = result.from_account
        dispatcher.utter_message(text=(
            f"Done: {money(result.amount)} paid to your {card_label(result.card)}. It now owes "
            f"{money(result.card.balance)} (available credit {money(result.card.available)}). Your {source.name} "
            f"{source.masked_number} balance is now {money(source.balance)}. Reference C{result.payment_id}."
        ))
        return [*reset(FORM), *resolved(tracker, customer_id)]

    def made_text(self, owner: int, key: str) -> str | None:
        made = find_card_payment(owner, key)
        return None if made is None else f"The payment was made: {money(made.amount)}, reference C{made.payment_id}."


def card_details_text(cards: list[CreditCardView], debit_count: int) -> str:
    """The answer to "what's my card balance / limit?": per credit card its limit, owed, available and the
    statement; a customer with only debit cards is told those spend straight from the account."""
    if not cards:
        extra = " Your debit card spends straight from your current account: ask for your balance." if debit_count else ""
        return f"You have no credit card with us, so there is no card balance or credit limit.{extra}"
    lines = []
    for c in cards:
        due = f", due {c.statement_due:%d %b %Y}" if c.statement_due and c.statement_balance > 0 else ""
        blocked = " (blocked)" if c.status == "blocked" else ""
        lines.append(
            f"• {card_label(c).capitalize()}{blocked}: limit {money(c.credit_limit)}, owed {money(c.balance)}, "
            f"available {money(c.available)}; statement to pay {money(c.statement_balance)} "
            f"(minimum {money(c.minimum_due)}){due}"
        )
    return "Your credit card" + ("s:\n" if len(cards) > 1 else ":\n") + "\n".join(lines)


class ActionCardDetails(VerifiedAnswer):
    """"What's my card balance / credit limit?": each credit card's limit, owed, available and statement."""

    def name(self) -> str:
        return "action_card_details"

    def answer(self, dispatcher: CollectingDispatcher, tracker: Tracker, customer_id: int) -> list[dict[str, Any]]:
        debit = sum(1 for c in list_cards(customer_id) if c.kind == "debit")
        dispatcher.utter_message(text=card_details_text(list_credit_cards(customer_id), debit))
        return resolved(tracker, customer_id)

