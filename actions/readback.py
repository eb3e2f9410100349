"""The sealed read-back of a form that moves money (transfer, card bill payment), in one place.

Before money moves the form reads the values back and stores them, with an idempotency key, in its quote slot,
sealed to the conversation as READ_BACK (the purpose is the quote slot's name). When this action server parses
the customer's "yes" to that read-back it re-seals the same JSON as CONFIRMED (the purpose is the confirmation
slot's name). :class:`MoneySubmit` executes only a CONFIRMED quote, with its values and under its key, so a
hand-made tracker confirms nothing, values changed after the read-back are refused, and a replayed "yes" is
refused by the database's unique key. Every failure while submitting clears the form and tells the customer,
checked by key, whether the money moved.
"""

from __future__ import annotations

import json
import logging
import uuid
from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Any

from rasa_sdk import Action, Tracker
from rasa_sdk.events import SlotSet
from rasa_sdk.executor import CollectingDispatcher

from actions.context import owning_customer, seal_for_conversation, slot_owner, unseal_in_conversation
from actions.formtools import reset

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ReadBack:
    """One money form's read-back: ``form`` its name, ``quote_slot`` the slot holding the sealed JSON
    ``{"key", <quoted>...}``, ``confirm_slot`` the yes/no slot, ``quoted`` the slots read back (values are
    strings as the slots hold them)."""

    form: str
    quote_slot: str
    confirm_slot: str
    quoted: tuple[str, ...]

    def _unsealed(self, tracker: Tracker, purposes: tuple[str, ...]) -> str | None:
        raw = tracker.get_slot(self.quote_slot)
        for purpose in purposes:
            value = unseal_in_conversation(tracker, purpose, raw)
            if value is not None:
                return value
        return None

    def current_values(self, tracker: Tracker) -> dict[str, str]:
        """The quoted slots as they are now, as strings."""
        return {slot: str(tracker.get_slot(slot)) for slot in self.quoted}

    def read(self, tracker: Tracker, *, confirmed: bool = False) -> dict[str, str] | None:
        """The values read back at the last confirmation and their ``key``, or ``None`` (none, malformed, or not
        sealed by this action server in this conversation). ``confirmed=True``: only once the customer said yes
        to that read-back."""
        purposes = (self.confirm_slot,) if confirmed else (self.quote_slot, self.confirm_slot)
        raw = self._unsealed(tracker, purposes)
        if raw is None:
            return None
        try:
            quote = json.loads(raw)
        except ValueError:
            return None
        if not isinstance(quote, dict) or not all(isinstance(quote.get(k), str) for k in ("key", *self.quoted)):
            return None
        return {k: quote[k] for k in ("key", *self.quoted)}

    def matches(self, quote: dict[str, str], values: dict[str, str]) -> bool:
        """Whether ``quote`` read back exactly ``values`` (its key aside)."""
        return {k: quote[k] for k in self.quoted} == values

    def seal(self, tracker: Tracker, values: dict[str, str]) -> dict[str, Any]:
        """The event storing ``values`` as the new read-back. The same values keep their key (the question asked
        again after an FAQ); new values get a fresh one."""
        quote = self.read(tracker)
        key = quote["key"] if quote and self.matches(quote, values) else uuid.uuid4().hex
        return SlotSet(self.quote_slot, seal_for_conversation(tracker, self.quote_slot, json.dumps({"key": key, **values})))

    def confirm(self, tracker: Tracker, value: Any) -> dict[str, Any]:
        """The confirmation slot's validated ``value`` and, on a yes, the read-back re-sealed as confirmed
        (rasa-sdk keeps only the form's own slots from an extraction, but a validation may set others)."""
        answer: dict[str, Any] = {self.confirm_slot: value}
        if value is True:
            raw = self._unsealed(tracker, (self.quote_slot, self.confirm_slot))
            answer[self.quote_slot] = seal_for_conversation(tracker, self.confirm_slot, raw) if raw is not None else None
        return answer


class MoneySubmit(Action, ABC):
    """The submit action of a money form: executes the CONFIRMED read-back (:class:`ReadBack`) once, with its
    values and key, and clears the form whatever happens. Subclasses say how to move the money and how to find
    a movement by key; the order of the checks and the apology after an error live here."""

    read_back: ReadBack
    what: str  # "transfer" / "card payment": for the log and the customer's messages
    changed_text: str  # the details changed after the read-back: nothing was done

    def refuse_first(self, dispatcher: CollectingDispatcher, tracker: Tracker, customer_id: int | None) -> bool:
        """A reason to stop before the confirmation is even looked at (told to the customer): ``True`` stops."""
        return False

    @abstractmethod
    def execute(self, dispatcher: CollectingDispatcher, tracker: Tracker, customer_id: int, quote: dict[str, str]) -> list[dict[str, Any]]:
        """Move the money of ``quote`` under ``quote["key"]`` and tell the customer; the events to return."""

    @abstractmethod
    def made_text(self, owner: int, key: str) -> str | None:
        """How the movement made under ``key`` for customer ``owner`` reads ("The transfer was made: …"), or
        ``None`` when none was made. Raises whatever the database raises."""

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]) -> list[dict[str, Any]]:
        quote = self.read_back.read(tracker, confirmed=True)
        try:
            return self._submit(dispatcher, tracker, quote)
        except Exception as exc:  # noqa: BLE001 - whatever failed, the form must not stay armed
            # the class only: a database error's text carries the statement's parameters
            log.error("%s submit failed with %s (conversation %s)", self.what, type(exc).__name__, tracker.sender_id)
            dispatcher.utter_message(text=self._outcome_after_error(tracker, quote))
            return reset(self.read_back.form)

    def _submit(self, dispatcher: CollectingDispatcher, tracker: Tracker, quote: dict[str, str] | None) -> list[dict[str, Any]]:
        customer_id = owning_customer(tracker)
        form = self.read_back.form
        if self.refuse_first(dispatcher, tracker, customer_id):
            return reset(form)
        if tracker.get_slot(self.read_back.confirm_slot) is not True:
            dispatcher.utter_message(response="utter_cancelled")
            return reset(form)
        if customer_id is None:
            dispatcher.utter_message(response="utter_login_required")
            return reset(form)
        if quote is None or not self.read_back.matches(quote, self.read_back.current_values(tracker)):
            dispatcher.utter_message(text=self.changed_text)
            return reset(form)
        return self.execute(dispatcher, tracker, customer_id, quote)

    def _outcome_after_error(self, tracker: Tracker, quote: dict[str, str] | None) -> str:
        """What to tell the customer after an unexpected error: whether the money moved, checked by key."""
        sorry = f"Sorry, something went wrong on our side while making the {self.what}."
        owner = slot_owner(tracker)
        if quote is None or owner is None:
            return f"{sorry} No money was moved. Please start the {self.what} again."
        try:
            made = self.made_text(owner, quote["key"])
        except Exception as exc:  # noqa: BLE001 - the outcome stays unknown: say so
            log.error("could not check the %s key after a failed submit: %s", self.what, type(exc).__name__)
            return f"{sorry} I could not check whether it went through: please look at your balance before trying again."
        if made is not None:
            return f"{sorry} {made}"
        return f"{sorry} The {self.what} was not made: no money was moved. Please start the {self.what} again."
