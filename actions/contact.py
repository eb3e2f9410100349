"""Update contact details (``contact_form``: ``contact_field``, ``contact_value``, ``contact_confirmed``)."""

from __future__ import annotations

import re
from typing import Any

from rasa_sdk import Action, Tracker
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.types import DomainDict

from actions.context import (
    actor_of,
    channel_of,
    latest_intent,
    latest_text,
    owning_customer,
)
from actions.engagement import resolved
from actions.formtools import (
    ANSWER_INTENTS,
    FormValidation,
    answering,
    is_no,
    reset,
    said_yes_to,
    sealed_yes,
    yes_no,
)
from profiles import normalise_contact, update_contact
from profiles.errors import ProfileError

FORM = "contact_form"
_EMAIL = re.compile(r"[^\s@<>,;]+@[^\s@<>,;]+\.[A-Za-z]{2,}")
# A confident intent other than an answer or the request itself interrupts the form instead of being a value.
INTERRUPT_CONFIDENCE = 0.8
CONTACT_INTENTS = ("update_contact", "edit_personal_details")
FIELDS = {"email": "email address", "phone": "phone number", "address": "postal address"}
_FIELD_WORDS = {"email": ("email", "e-mail", "mail"), "phone": ("phone", "mobile", "number"), "address": ("address", "moved", "house")}


def _field_from(tracker: Tracker) -> str | None:
    value = next(tracker.get_latest_entity_values("contact_field"), None)
    if value in FIELDS:
        return str(value)
    text = latest_text(tracker).lower()
    hits = [f for f, words in _FIELD_WORDS.items() if any(w in text for w in words)]
    return hits[0] if len(hits) == 1 else None


class ValidateContactForm(FormValidation):
    """Which detail, its new value (validated by ``profiles.normalise_contact``), then an explicit yes."""

    def name(self) -> str:
        return "validate_contact_form"

    async def extract_contact_field(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict) -> dict[str, Any]:
        first_turn = tracker.get_slot("requested_slot") is None
        if not (answering(tracker, "contact_field") or first_turn):
            return {}
        field = _field_from(tracker)
        if field:
            return {"contact_field": field}
        return {"contact_field": "?"} if answering(tracker, "contact_field") and latest_intent(tracker)[0] in ANSWER_INTENTS else {}

    async def validate_contact_field(self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict) -> dict[str, Any]:
        if value in FIELDS:
            return {"contact_field": value}
        dispatcher.utter_message(text="I can update your email, phone number or postal address. Which one?")
        return {"contact_field": None}

    async def extract_contact_value(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict) -> dict[str, Any]:
        text = latest_text(tracker).strip()
        if tracker.get_slot("requested_slot") is None:  # the request itself: "my new email is a@b.pt"
            email = _EMAIL.search(text)
            return {"contact_value": email.group(0)} if email and _field_from(tracker) == "email" else {}
        if not answering(tracker, "contact_value"):
            return {}
        intent, confidence = latest_intent(tracker)
        is_question = text.endswith("?") and confidence >= 0.5 and intent not in ANSWER_INTENTS
        # "I want to talk to a human" is a request, not a new e-mail: the form rejects it and its rule answers
        interrupts = confidence >= INTERRUPT_CONFIDENCE and intent not in (*ANSWER_INTENTS, *CONTACT_INTENTS)
        return {} if is_question or interrupts or is_no(text) else {"contact_value": text}

    async def validate_contact_value(self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict) -> dict[str, Any]:
        try:
            return {"contact_value": normalise_contact(str(tracker.get_slot("contact_field")), str(value))}
        except ProfileError as exc:
            dispatcher.utter_message(text=f"{exc.user_message} Please try again, or say \"cancel\".")
            return {"contact_value": None}

    async def extract_contact_confirmed(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict) -> dict[str, Any]:
        return yes_no(tracker, "contact_confirmed")

    async def validate_contact_confirmed(self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict) -> dict[str, Any]:
        return sealed_yes(tracker, "contact_confirmed", value, _read_back(tracker))


def _read_back(tracker: Tracker) -> str:
    """What the confirmation question read back: the field and its new value."""
    return f"{tracker.get_slot('contact_field')}\n{tracker.get_slot('contact_value')}"


class ActionAskContactValue(Action):
    """Ask for the new value of the chosen detail."""

    def name(self) -> str:
        return "action_ask_contact_value"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]) -> list[dict[str, Any]]:
        label = FIELDS.get(str(tracker.get_slot("contact_field")), "detail")
        dispatcher.utter_message(text=f"What is your new {label}?")
        return []


class ActionAskContactConfirmed(Action):
    """Read the new value back and ask for an explicit yes before the profile changes."""

    def name(self) -> str:
        return "action_ask_contact_confirmed"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]) -> list[dict[str, Any]]:
        label = FIELDS.get(str(tracker.get_slot("contact_field")), "detail")
        dispatcher.utter_message(
            text=f"Please confirm: change your {label} to {tracker.get_slot('contact_value')}?",
            buttons=[{"title": "Yes, update it", "payload": "/affirm"}, {"title": "No", "payload": "/deny"}],
        )
        return []


class ActionSubmitContactUpdate(Action):
    """Write the confirmed change through ``profiles.update_contact`` (validated again, audited)."""

    def name(self) -> str:
        return "action_submit_contact_update"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]) -> list[dict[str, Any]]:
        customer_id = owning_customer(tracker)
        if not said_yes_to(tracker, "contact_confirmed", _read_back(tracker)):
            dispatcher.utter_message(response="utter_cancelled")
            return reset(FORM)
        if customer_id is None:
            dispatcher.utter_message(response="utter_login_required")
            return reset(FORM)
        field = str(tracker.get_slot("contact_field"))
        try:
            change = update_contact(
                customer_id, field, str(tracker.get_slot("contact_value")), channel=channel_of(tracker), actor=actor_of(tracker)
            )
        except ProfileError as exc:
            dispatcher.utter_message(text=f"Nothing was changed: {exc.user_message}")
            return reset(FORM)
        dispatcher.utter_message(text=f"Done: your {FIELDS[field]} is now {change.new_value}.")
        return [*reset(FORM), *resolved(tracker, customer_id)]
