"""Transfer money between the customer's own accounts or to a saved payee (``transfer_form``).

Slot values: ``amount`` a decimal string in EUR, ``from_account`` an account id, ``to_account``
``"acc:<id>"`` or ``"payee:<id>"``, ``transfer_confirmed`` a bool, ``transfer_quote`` the JSON read back at the
last confirmation (``{"key", "amount", "from_account", "to_account"}``), sealed to the conversation
(:mod:`actions.readback`): only a quote the action server sealed as confirmed is ever executed. The limits are checked in
``profiles`` (``validate_amount`` while asking, ``transfer`` again inside the write transaction).

Money moves exactly once, and only as read back: every confirmation question stores its values with a fresh
idempotency key (kept while the values stay the same within one form); "yes" executes the quote's values
under its key, so a replayed "yes" (a tracker store that lost the turn) is refused by the database; slots that
changed since the read-back are refused. Any failure while submitting clears the form and tells the customer,
checked by key, whether the money moved.
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

from actions.accounts import kind_in
from actions.context import (
    actor_of,
    channel_of,
    latest_intent,
    latest_text,
    owning_customer,
    verified_customer,
)
from actions.engagement import resolved
from actions.formtools import ANSWER_INTENTS, FormValidation, answering, asking_for, is_exit, reset, yes_no
from actions.parsing import AmountReading, match_account, match_payee, money, plain_text, read_amount
from actions.readback import MoneySubmit, ReadBack
from profiles import AlreadyExecuted, find_transfer, list_accounts, list_payees, transfer, validate_amount
from profiles.errors import ProfileError
from profiles.schemas import AccountView, PayeeView
from profiles.settings import get_settings

log = logging.getLogger(__name__)

FORM = "transfer_form"
QUOTE = "transfer_quote"
QUOTED = ("amount", "from_account", "to_account")
# Slots a new transfer must never inherit from an earlier one that did not finish cleanly.
_FORM_STATE = (*QUOTED, "transfer_confirmed", QUOTE)
# The read-back sealed to this conversation, then re-sealed once the action server itself parsed the
# customer's "yes" to it (actions.readback): no slot value alone stands for a confirmation.
TRANSFER_READ_BACK = ReadBack(form=FORM, quote_slot=QUOTE, confirm_slot="transfer_confirmed", quoted=QUOTED)


def read_quote(tracker: Tracker, *, confirmed: bool = False) -> dict[str, str] | None:
    """The transfer read back at the last confirmation and its key, or ``None`` (see :meth:`ReadBack.read`)."""
    return TRANSFER_READ_BACK.read(tracker, confirmed=confirmed)


# The last "to"/"into" names the destination ("I want to send 20 to Maria" -> "Maria"); an infinitive's "to"
# ("I'd like to make a transfer", "I want to send money") names nothing.
_VERBS_AFTER_TO = (
    r"make|send|transfer|move|pay|do|check|know|see|get|have|be|ask|help|find|tell|go|put|wire|give|start|"
    r"set|top|use|take|learn|hear|say|talk|speak|look|view|open|shift"
)
_TO = re.compile(
    rf"\b(?:to|into)\s+(?!(?:{_VERBS_AFTER_TO})\b)(?P<to>.*?)(?=\s+(?:from|using|via)\b|[.?!]?$)", re.IGNORECASE
)
# "to" right after a wish or a modal ("I need to sned 590 euros", "I'd like to confirm") starts an infinitive
# even when the verb is misspelt or not in the list above: it never names a destination.
_INFINITIVE_BEFORE = re.compile(
    r"\b(want|wanna|need|needs|like|love|wish|have|has|had|going|trying|try|able|how|ought|plan|planning|hope|"
    r"hoping|glad|happy|ready|used|wanted|needed|decided)\s*$",
    re.IGNORECASE,
)
def _to_target(text: str) -> str | None:
    """What the last destination "to"/"into" of ``text`` names, up to a source or the end ("send 20 to Maria
    from my savings" -> "Maria"); ``None`` when every "to" starts an infinitive."""
    text = plain_text(text)
    target = None
    for m in _TO.finditer(text):
        if not _INFINITIVE_BEFORE.search(text[:m.start()]):
            target = m.group("to")
    return target
# Someone else's account without a name ("to their savings", "my friend's account"): never one of the
# customer's own accounts, and not a payee name either.
_SOMEONE_ELSES = re.compile(
    r"\b(their|theirs|his|her|hers|friend|friends|friend['’]s|someone|someones|somebody|another person|"
    r"other person|mom|mum|dad|brother|sister|wife|husband|son|daughter)\b",
    re.IGNORECASE,
)
# "to a checking account", "to any account that works", "into a different savings account": an account of
# someone not named yet, never the customer's own.
_INDEFINITE = re.compile(r"\s*(a|an|any|another|different|some(one|body)?'?s?)\b", re.IGNORECASE)
_FROM = re.compile(r"\bfrom\s+(?P<from>.*?)(?=\s+(?:to|into)\b|$)", re.IGNORECASE)
# The source named with another word than "from": "using my checking account", "use the savings", "via my
# checking", "go with my savings account", "out of my savings". Only an own account that matches counts
# ("help me with a transfer" names none).
_SOURCE = re.compile(
    r"\b(?:from|out of|using|use|via|with|through)\s+(?P<from>.*?)(?=\s+(?:to|into|and)\b|[.?!;,]|$)",
    re.IGNORECASE,
)
# "my savings account" not after "to"/"into": when the money goes to a payee, the customer's own account
# named this way can only be the source ("It's in my savings account", "My checking account. Send it to Ana").
_MY_ACCOUNT = re.compile(r"\b(?P<before>\w+\s+)?(?P<my>my)\s+(?P<what>(?:\w+\s+)?(?:checking|current|main|savings?))\b",
                         re.IGNORECASE)
# "It's in my savings account", "the money is in my checking": where the money is now, so the source.
_HELD_IN = re.compile(r"(?:['’]s|\bis|\bare|\bwas|\bsits)\s+in\s+$", re.IGNORECASE)
_PAY = re.compile(r"\bpay\s+(?P<name>[^\W\d_][\w'’-]*)", re.IGNORECASE)
# "send Amir 1,000 euros", "give Ana 40": the word after the verb is a destination only if it is a saved payee.
_SEND_NAME = re.compile(r"\b(?:send|give|wire|transfer)\s+(?P<name>[^\W\d_][\w'’-]*)", re.IGNORECASE)
# A request not to transfer ("nah, I do not wish to transfer money"): the form ends at once, nothing changed.
_NEGATED_REQUEST = re.compile(
    r"\b(don'?t|do not|doesn'?t|won'?t|will not|not)\s+(really\s+)?(want|wish|need|like|going)\s+to\s+"
    r"(make|do|send|transfer|move|pay)\b|\bno\s+transfers?\b",
    re.IGNORECASE,
)
_POSSESSIVE = re.compile(r"\b([^\W\d_]+)['’]s\b")
_NOT_A_NAME = {
    "my", "me", "myself", "the", "a", "an", "our", "savings", "saving", "current", "checking", "main", "account",
    "accounts", "other", "deposit", "it", "them", "her", "him", "this", "that", "someone", "somebody", "euros",
    "euro", "eur", "money", "back", "please", "pay", "send", "transfer", "move", "any", "anyone", "hers", "his",
    "theirs", "their", "different", "another", "whom", "who", "what", "which",
}


def _payee_list(payees: list[PayeeView]) -> str:
    return ", ".join(p.name for p in payees) if payees else "none yet (add one in the app under Payments)"


def _destination(text: str, payees: list[PayeeView], own: list[AccountView]) -> tuple[str | None, str | None]:
    """Where the message says the money goes: (``"payee:<id>"``/``"acc:<id>"`` or ``None``, a name that is not
    a saved payee or ``None``). "Diego's savings" is never one of the customer's own accounts."""
    text = plain_text(text)
    pay = _PAY.search(text)
    target = _to_target(text) or (pay.group("name") if pay else None)
    anywhere = payee_named(text, payees)
    if target and anywhere is not None and match_payee(_POSSESSIVE.sub(r"\1", target), payees) is None:
        # the saved payee named elsewhere in the sentence ("Send it to Pranav to their savings account",
        # "€1,330. But make it Pranav", "I want Srinivas to have 1,450 euros"): a payee is only ever a destination
        return f"payee:{anywhere.id}", None
    if not target and anywhere is not None:
        return f"payee:{anywhere.id}", None
    if not target:
        named = [match_payee(m.group("name"), payees) for m in _SEND_NAME.finditer(text)
                 if m.group("name").lower() not in _NOT_A_NAME]
        found = next((p for p in named if p is not None), None)
        return (f"payee:{found.id}", None) if found is not None else (None, None)
    plain = _POSSESSIVE.sub(r"\1", target)
    payee = match_payee(plain, payees)
    if payee is not None:
        return f"payee:{payee.id}", None
    if _SOMEONE_ELSES.search(target) or _INDEFINITE.match(target):
        return None, None  # someone else's account, not named yet ("a checking account"): the form asks who
    possessive = next((m.group(1) for m in _POSSESSIVE.finditer(target) if m.group(1).lower() not in _NOT_A_NAME), None)
    if possessive is not None:
        return None, possessive  # someone else's account: only a saved payee can be paid
    account = match_account(target, own)
    if account is not None:
        return f"acc:{account.id}", None
    words = re.findall(r"[^\W\d_][\w'’-]*", target)
    name = words[0] if words and words[0].lower() not in _NOT_A_NAME else None
    return None, name


# Intents of a balance request or a follow-up naming an account ("and my savings?").
_BALANCE_INTENTS = {"check_balance", "inform"}
_CONTEXT_MESSAGES = 6


def _balance_context(tracker: Tracker) -> str | None:
    """The account kind whose balance the conversation was last about: the latest earlier balance request that
    named one account ("my savings balance?" ... "I'd like to make a transfer"), read as the balance answer read
    it (:func:`actions.accounts.kind_in`). The message starting the transfer never counts: an account it names
    without "from" is where the money goes, or someone else's ("to their savings account")."""
    users = [e for e in tracker.events if e.get("event") == "user"][:-1]
    for event in reversed(users[-_CONTEXT_MESSAGES:]):
        parse = event.get("parse_data") or {}
        if (parse.get("intent") or {}).get("name") not in _BALANCE_INTENTS:
            continue
        entity = next((str(e.get("value")) for e in parse.get("entities") or [] if e.get("entity") == "account_type"),
                      None)
        kind = kind_in(entity, str(event.get("text") or ""))
        if kind is not None:
            return kind
    return None


def _first_turn(tracker: Tracker) -> bool:
    """The form is being activated: nothing asked yet, so every slot may come from this first message."""
    return tracker.get_slot("requested_slot") is None


_OPEN_QUESTIONS = ("amount", "from_account", "to_account")
# A question ("how long does a transfer take?", "is there a fee?") is never an answer to the form's question.
_QUESTION = re.compile(r"\?\s*$|^\s*(how|what|what's|when|why|who|which|is there|are there|can i|do you|does)\b",
                       re.IGNORECASE)


# An amount stated as one (a euro sign or word, or a transfer verb), not a number said in passing.
_STATED_AMOUNT = re.compile(r"€|\beur(o|os)?\b|\b(transfer|send|move|pay|make it|withdraw)\b", re.IGNORECASE)


def _volunteered(tracker: Tracker, slot: str) -> bool:
    """Whether ``slot`` may be taken from a message that answered another of the form's questions: the form
    asks something else, ``slot`` is still empty, and the message does not close the form ("send 50 to
    Maria" answering "where should the money go?" also gives the amount)."""
    asked = tracker.get_slot("requested_slot")
    return (
        asked in _OPEN_QUESTIONS and asked != slot and tracker.get_slot(slot) is None
        and not is_exit(latest_text(tracker))
    )


def payee_named(text: str, payees: list[PayeeView]) -> PayeeView | None:
    """The one saved payee whose name (or a word of it, 3+ letters) ``text`` contains as a whole word, wherever
    it stands ("Send €1,200 Pranav's way", "Raghav. Shoot him some euros"); ``None`` if none or several."""
    words = {w.lower() for w in re.findall(r"[^\W\d_]+", _POSSESSIVE.sub(r"\1", text))}
    hits = [p for p in payees if any(len(w) > 2 and w in words for w in p.name.lower().split())]
    return hits[0] if len(hits) == 1 else None


def said_source(text: str, accounts: list[AccountView]) -> AccountView | None:
    """The own account a source phrase names ("from my savings", "using my checking account", "go with the
    savings"), or ``None``."""
    for m in _SOURCE.finditer(text):
        found = match_account(m.group("from"), accounts)
        if found is not None and not _SOMEONE_ELSES.search(m.group("from")):
            return found
    return None


def _my_account(text: str, accounts: list[AccountView]) -> AccountView | None:
    """The own account named as "my savings (account)" anywhere but after "to"/"into" (a destination)."""
    for m in _MY_ACCOUNT.finditer(text):
        before = (m.group("before") or "").strip().lower()
        if before in ("to", "into") or (before == "in" and not _HELD_IN.search(text[:m.start("my")])):
            continue
        found = match_account(m.group("what"), accounts)
        if found is not None:
            return found
    return None


def _named_source(text: str, accounts: list[AccountView], destination: str | None) -> AccountView | None:
    """The customer's own account a message names as the source: "from my savings", or a bare account
    ("my savings account") when the money goes to a payee (then an own account can only be the source)."""
    said = said_source(text, accounts)
    if said is not None or _FROM.search(text):
        return said
    if destination is None or destination.startswith("payee:"):
        mine = _my_account(text, accounts)
        if mine is not None:
            return mine
    if _to_target(text) or _SOMEONE_ELSES.search(text) or _POSSESSIVE.search(text):
        return None
    if destination is not None and not destination.startswith("payee:"):
        return None
    return match_account(text, accounts)


def _amount_message(reading: AmountReading) -> str:
    if reading.problem == "foreign":
        return "I can only send euros. How much would you like to transfer, in euros?"
    if reading.problem == "ambiguous":
        return "I saw more than one amount there. Please tell me just the amount in euros, for example 50 or 12.50."
    return "Please tell me the amount in euros, for example 50 or 12.50."


def _answers_question(tracker: Tracker, understood: bool) -> bool:
    """Whether the latest message is an answer to the form's question rather than a new request."""
    intent, confidence = latest_intent(tracker)
    if not understood and _QUESTION.search(latest_text(tracker)):
        return False
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


class ValidateTransferForm(FormValidation):
    """Extract and validate the transfer form's slots against the customer's own accounts and payees."""

    def name(self) -> str:
        return "validate_transfer_form"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict) -> list[dict[str, Any]]:
        """On activation (no question asked yet) clear what an earlier, unfinished transfer left behind, so a
        new request never reuses an old amount, account or "yes"; then extract and validate as usual."""
        stale: list[dict[str, Any]] = []
        if tracker.get_slot("requested_slot") is None:
            stale = [SlotSet(slot, None) for slot in _FORM_STATE if tracker.get_slot(slot) is not None]
            tracker.slots.update(dict.fromkeys(_FORM_STATE))
        return [*stale, *await super().run(dispatcher, tracker, domain)]

    async def required_slots(
        self, domain_slots: list[str], dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> list[str]:
        """No slot is left to ask when the first message refuses ("I don't want to send money"); a closing later
        on ends the form in ``FormValidation.run``."""
        if _first_turn(tracker) and _NEGATED_REQUEST.search(latest_text(tracker)):
            return []
        return domain_slots

    async def extract_amount(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict) -> dict[str, Any]:
        first_turn = _first_turn(tracker)
        text = latest_text(tracker)
        if not (answering(tracker, "amount") or first_turn):
            reading = read_amount(text)
            volunteered = _volunteered(tracker, "amount") and reading.amount is not None
            old = tracker.get_slot("amount")
            if (not volunteered and reading.amount is not None and old is not None and _STATED_AMOUNT.search(text)
                    and tracker.get_slot("requested_slot") in ("from_account", "to_account") and not is_exit(text)
                    and reading.amount != Decimal(str(old))):
                # a new amount stated before the read-back ("Please withdraw a transfer of €640 and send it to
                # Ana" after 960): the customer changed their mind; only the new one is read back and can move
                return {"amount": text}
            return {"amount": text} if volunteered else {}
        reading = read_amount(text)
        understood = reading.amount is not None or reading.problem is not None
        if first_turn:
            return {"amount": text} if understood else {}
        return {"amount": text} if _answers_question(tracker, understood) else {}

    async def validate_amount(self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict) -> dict[str, Any]:
        customer_id = owning_customer(tracker)
        if customer_id is None:
            dispatcher.utter_message(response="utter_login_required")
            return {"amount": None}
        reading = read_amount(str(value))
        amount = reading.amount
        if amount is None:
            dispatcher.utter_message(text=_amount_message(reading))
            return {"amount": None}
        source = tracker.get_slot("from_account")
        try:
            # the source may be this turn's unreadable answer ("?") while a new amount is stated with it
            checked = validate_amount(customer_id, amount, int(source) if str(source).isdigit() else None)
        except ProfileError as exc:
            dispatcher.utter_message(text=exc.user_message)
            return {"amount": None}
        return {"amount": str(checked)}

    async def extract_from_account(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict) -> dict[str, Any]:
        if _first_turn(tracker):
            return self._source_from_first_message(tracker)
        if not answering(tracker, "from_account"):
            return self._source_volunteered(tracker)
        customer_id = owning_customer(tracker)
        accounts = list_accounts(customer_id) if customer_id is not None else []
        text = latest_text(tracker)
        found = match_account(text, accounts)
        if found is not None:
            return {"from_account": str(found.id)}
        return {"from_account": "?"} if _answers_question(tracker, False) else {}

    @staticmethod
    def _source_volunteered(tracker: Tracker) -> dict[str, Any]:
        """The source named while the form asks the amount or the destination ("from my savings"; at the
        amount question also a bare "my savings account", which may replace the defaulted current account)."""
        asked = tracker.get_slot("requested_slot")
        customer_id = owning_customer(tracker)
        if customer_id is None or asked not in ("amount", "to_account") or is_exit(latest_text(tracker)):
            return {}
        text = latest_text(tracker)
        accounts = list_accounts(customer_id)
        if asked == "to_account" or tracker.get_slot("from_account") is None:
            found = said_source(text, accounts)
        else:
            found = _named_source(text, accounts, tracker.get_slot("to_account"))
        if found is None or str(found.id) == tracker.get_slot("from_account"):
            return {}
        return {"from_account": str(found.id)}

    @staticmethod
    def _source_from_first_message(tracker: Tracker) -> dict[str, Any]:
        """"from my savings" in the first message, else the customer's only current account (unless the money
        goes to it); ``{}`` when unsure (the form asks)."""
        customer_id = owning_customer(tracker)
        if customer_id is None:
            return {}
        accounts = list_accounts(customer_id)
        text = latest_text(tracker)
        destination, _ = _destination(text, list_payees(customer_id), accounts)
        found = _named_source(text, accounts, destination) if destination is None or destination.startswith(
            "payee:") else said_source(text, accounts)
        if found is not None and destination != f"acc:{found.id}":
            return {"from_account": str(found.id)}
        if _FROM.search(text):
            return {}
        # the account the conversation was just about ("my savings balance?" ... "I'd like to make a transfer"),
        # else the only current account; never the destination. The read-back shows it before anything moves.
        # (only from an earlier message: an account named in this one without "from" is where the money goes,
        # or someone else's: "to their savings account")
        for kind in (_balance_context(tracker), "current"):
            of_kind = [a for a in accounts if a.kind == kind]
            if len(of_kind) == 1 and destination != f"acc:{of_kind[0].id}":
                return {"from_account": str(of_kind[0].id)}
        return {}

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
        first_turn = _first_turn(tracker)
        said = latest_text(tracker)
        customer_id = owning_customer(tracker)
        payees = list_payees(customer_id) if customer_id is not None else []
        volunteered = not first_turn and _volunteered(tracker, "to_account") and bool(
            _to_target(said) or _PAY.search(said) or payee_named(said, payees))
        other = payee_named(said, payees)
        if (not first_turn and tracker.get_slot("requested_slot") in ("amount", "from_account") and other is not None
                and tracker.get_slot("to_account") not in (None, f"payee:{other.id}") and not is_exit(said)):
            # another saved payee named before the read-back ("to Pranav" ... "Send €430 to Srinivas"): the
            # customer changed their mind; the read-back shows the new one before anything moves
            return {"to_account": f"payee:{other.id}"}
        if not (first_turn or volunteered or answering(tracker, "to_account")):
            return {}
        if customer_id is None:
            return {} if first_turn or volunteered else {"to_account": "?"}
        text = latest_text(tracker)
        source = tracker.get_slot("from_account")
        own = [a for a in list_accounts(customer_id) if str(a.id) != source]
        destination, unknown = _destination(text, payees, own)
        if volunteered:
            if unknown is not None and destination is None:
                dispatcher.utter_message(
                    text=f"{unknown} is not one of your saved payees: your payees are {_payee_list(payees)}."
                )
            return {"to_account": destination} if destination is not None else {}
        if destination is None and not first_turn:
            # a bare answer to "where should the money go?": a payee name or one of their accounts
            payee = match_payee(text, payees)
            theirs = _POSSESSIVE.search(text) or _SOMEONE_ELSES.search(text)
            account = match_account(text, own) if payee is None and not theirs else None
            destination = f"payee:{payee.id}" if payee else f"acc:{account.id}" if account else None
            if destination is None and unknown is None and re.fullmatch(r"\s*[^\W\d_][\w'’-]*\s*", text):
                unknown = text.strip() if text.strip().lower() not in _NOT_A_NAME else None
        if destination is not None:
            return {"to_account": destination}
        if unknown is not None:
            dispatcher.utter_message(
                text=f"{unknown} is not one of your saved payees: your payees are {_payee_list(payees)}."
            )
            return {} if first_turn else {"to_account": None}
        if first_turn:
            return {}
        return {"to_account": "?"} if _answers_question(tracker, False) else {}

    async def validate_to_account(self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict) -> dict[str, Any]:
        if str(value).startswith(("acc:", "payee:")):
            return {"to_account": str(value)}
        dispatcher.utter_message(text="Sorry, I couldn't tell where the money should go. Please pick one of the buttons.")
        return {"to_account": None}

    async def extract_transfer_confirmed(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict) -> dict[str, Any]:
        """Yes/no to the read-back; a new amount or destination in the answer ("no, 30 not 20", "yes but make
        it 3", "no, to Pedro") replaces it and the form reads the transfer back again (never the old values)."""
        if not asking_for(tracker, "transfer_confirmed"):
            return {}
        reading = read_amount(latest_text(tracker))
        if reading.problem is not None:
            dispatcher.utter_message(text=_amount_message(reading))
            return {"transfer_confirmed": None, "amount": None} if reading.problem == "ambiguous" else {"transfer_confirmed": None}
        changes: dict[str, Any] = {}
        if reading.amount is not None and reading.amount != Decimal(str(tracker.get_slot("amount"))):
            changes["amount"] = str(reading.amount)
        customer_id = owning_customer(tracker)
        payees = list_payees(customer_id) if customer_id is not None else []
        text = latest_text(tracker)
        unclear = False  # the answer names a payee or account we cannot match: never a yes to the old read-back
        if customer_id is not None and (_to_target(text) or payee_named(text, payees)):  # "no, send it to my savings"
            source = tracker.get_slot("from_account")
            own = [a for a in list_accounts(customer_id) if str(a.id) != source]
            destination, _ = _destination(text, payees, own)
            if destination is not None and destination != tracker.get_slot("to_account"):
                changes["to_account"] = destination
            unclear = destination is None
        if customer_id is not None:  # "no, from my savings", or "my savings account" when paying a payee
            accounts = list_accounts(customer_id)
            going_to = changes.get("to_account", tracker.get_slot("to_account"))
            source = _named_source(latest_text(tracker), accounts, going_to)
            if source is not None and str(source.id) != tracker.get_slot("from_account"):
                changes["from_account"] = str(source.id)
            unclear = unclear or (source is None and bool(_FROM.search(plain_text(text))))
        if changes:
            return {**changes, "transfer_confirmed": None}
        answer = yes_no(tracker, "transfer_confirmed")
        if unclear and answer.get("transfer_confirmed") is True:  # "Yes, send it to Pedro" (not a saved payee)
            dispatcher.utter_message(text=UNCLEAR_CHANGE)
            return {"transfer_confirmed": None}
        return answer

    async def validate_transfer_confirmed(self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict) -> dict[str, Any]:
        """A "yes" re-seals the read-back as confirmed (rasa-sdk keeps only the form's own slots from an
        extraction, but a validation may set others)."""
        return TRANSFER_READ_BACK.confirm(tracker, value)


UNCLEAR_CHANGE = ("I couldn't match the payee or account in your answer to your saved payees or your accounts, so I "
                  "haven't sent anything. Say yes to send it exactly as I read it back, or tell me what to change.")


def transfer_limit_answer() -> str:
    """The answer to "what's the daily limit?": the limit ``profiles.transfers`` enforces (settings)."""
    limit = get_settings().daily_transfer_limit
    return (
        f"You can transfer up to {money(limit)} a day in total from your accounts, to your own accounts and to "
        "saved payees. A transfer above what is left of that today is refused, and nothing is sent."
    )


class ActionTransferLimit(Action):
    """Answer the daily transfer limit from the settings (never a figure of its own)."""

    def name(self) -> str:
        return "action_transfer_limit"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]) -> list[dict[str, Any]]:
        dispatcher.utter_message(text=transfer_limit_answer())
        return []


class ActionListPayees(Action):
    """"Who can I send money to?": the verified customer's saved payees (IBANs masked) and own accounts. Read
    only, so the customer of this message is enough (no form owner: "list my payees" opens a conversation)."""

    def name(self) -> str:
        return "action_list_payees"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]) -> list[dict[str, Any]]:
        customer_id = verified_customer(tracker)
        if customer_id is None:
            dispatcher.utter_message(response="utter_login_required")
            return []
        payees = list_payees(customer_id)
        listed = ", ".join(f"{p.name} ({p.masked_iban})" for p in payees)
        text = (f"You can send money to your own accounts and to your saved payees: {listed}." if payees else
                "You can send money between your own accounts; you have no saved payees yet (add one in the app "
                "under Payments).")
        dispatcher.utter_message(text=text)
        return []


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
        values = {**TRANSFER_READ_BACK.current_values(tracker), "amount": str(amount)}
        dispatcher.utter_message(
            text=f"Please confirm: transfer {money(amount)} from {origin} to {target}?",
            buttons=[{"title": "Yes, transfer", "payload": "/affirm"}, {"title": "No, cancel", "payload": "/deny"}],
        )
        return [TRANSFER_READ_BACK.seal(tracker, values)]


class ActionSubmitTransfer(MoneySubmit):
    """Execute the last confirmation the customer saw through ``profiles.transfer`` (atomic, limit-checked,
    audited, at most once per confirmation key). Every outcome clears the form (:class:`MoneySubmit`)."""

    read_back = TRANSFER_READ_BACK
    what = "transfer"
    changed_text = ("The details changed after I read them back, so I have not sent anything. "
                    "Please start the transfer again.")

    def name(self) -> str:
        return "action_submit_transfer"

    def execute(self, dispatcher: CollectingDispatcher, tracker: Tracker, customer_id: int, quote: dict[str, str]) -> list[dict[str, Any]]:
        kind, _, ident = quote["to_account"].partition(":")
        try:
            result = transfer(
                customer_id,
                int(quote["from_account"]),
                to_account_id=int(ident) if kind == "acc" else None,
                to_payee_id=int(ident) if kind == "payee" else None,
                amount=Decimal(quote["amount"]),
                channel=channel_of(tracker),
                actor=actor_of(tracker),
                idempotency_key=quote["key"],
            )
        except AlreadyExecuted as exc:
            dispatcher.utter_message(text=exc.user_message)
            return [*reset(FORM), *resolved(tracker, customer_id)]
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
        return [*reset(FORM), *resolved(tracker, customer_id)]

    def made_text(self, owner: int, key: str) -> str | None:
        made = find_transfer(owner, key)
        return None if made is None else f"The transfer was made: {money(made.amount)}, reference T{made.transfer_id}."
