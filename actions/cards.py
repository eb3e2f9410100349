"""Block a lost or stolen card (``block_card_form``: ``card_id``, ``block_confirmed``)."""

from __future__ import annotations

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
from actions.formtools import ANSWER_INTENTS, FormValidation, answering, reset, said_yes_to, sealed_yes, yes_no
from actions.parsing import match_card
from profiles import block_card, list_cards
from profiles.errors import ProfileError
from profiles.schemas import CardView

FORM = "block_card_form"


def _active_cards(customer_id: int | None) -> list[CardView]:
    return [c for c in list_cards(customer_id) if c.status == "active"] if customer_id is not None else []


def _reason(tracker: Tracker) -> str:
    """'stolen' if the customer said so anywhere in this request, else 'lost'."""
    for event in reversed(tracker.events):
        if event.get("event") == "user":
            if "stol" in str(event.get("text") or "").lower():
                return "stolen"
            if (event.get("parse_data") or {}).get("intent", {}).get("name") == "lost_or_stolen_card":
                break
    return "lost"


def _card_label(card: CardView) -> str:
    return f"{card.kind.capitalize()} card {card.masked_number}"


class ValidateBlockCardForm(FormValidation):
    """Find which of the customer's active cards to block, then get an explicit yes."""

    def name(self) -> str:
        return "validate_block_card_form"

    async def extract_card_id(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict) -> dict[str, Any]:
        if not answering(tracker, "card_id"):
            return {}
        card = match_card(latest_text(tracker), _active_cards(owning_customer(tracker)))
        if card is not None:
            return {"card_id": str(card.id)}
        return {"card_id": "?"} if latest_intent(tracker)[0] in ANSWER_INTENTS else {}

    async def validate_card_id(self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict) -> dict[str, Any]:
        if str(value).isdigit():
            return {"card_id": str(value)}
        dispatcher.utter_message(text="Sorry, I couldn't tell which card you mean. Please pick one of the buttons.")
        return {"card_id": None}

    async def extract_block_confirmed(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict) -> dict[str, Any]:
        return yes_no(tracker, "block_confirmed")

    async def validate_block_confirmed(self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict) -> dict[str, Any]:
        return sealed_yes(tracker, "block_confirmed", value, str(tracker.get_slot("card_id")))


class ActionAskCardId(Action):
    """Ask which card to block, one button per active card."""

    def name(self) -> str:
        return "action_ask_card_id"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]) -> list[dict[str, Any]]:
        cards = _active_cards(owning_customer(tracker))
        if not cards:
            dispatcher.utter_message(text="You have no active cards to block. If you still have a concern, say \"talk to a human\".")
            return []
        buttons = [{"title": _card_label(c), "payload": _card_label(c)} for c in cards]
        dispatcher.utter_message(text="I'm sorry to hear that. Which card should I block?", buttons=buttons)
        return []


class ActionAskBlockConfirmed(Action):
    """Name the card and ask for an explicit yes: blocking cannot be undone in chat."""

    def name(self) -> str:
        return "action_ask_block_confirmed"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]) -> list[dict[str, Any]]:
        card = next((c for c in _active_cards(owning_customer(tracker)) if str(c.id) == tracker.get_slot("card_id")), None)
        label = _card_label(card) if card else "this card"
        dispatcher.utter_message(
            text=f"Please confirm: block your {label} as {_reason(tracker)}? It will stop working immediately and can't be unblocked in chat.",
            buttons=[{"title": "Yes, block it", "payload": "/affirm"}, {"title": "No", "payload": "/deny"}],
        )
        return []


class ActionSubmitBlockCard(Action):
    """Block the confirmed card through ``profiles.block_card`` (audited)."""

    def name(self) -> str:
        return "action_submit_block_card"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]) -> list[dict[str, Any]]:
        customer_id = owning_customer(tracker)
        if not said_yes_to(tracker, "block_confirmed", str(tracker.get_slot("card_id"))):
            dispatcher.utter_message(response="utter_cancelled")
            return reset(FORM)
        if customer_id is None:
            dispatcher.utter_message(response="utter_login_required")
            return reset(FORM)
        try:
            card = block_card(
                customer_id,
                int(tracker.get_slot("card_id")),
                reason=_reason(tracker),
                channel=channel_of(tracker),
                actor=actor_of(tracker),
            )
        except ProfileError as exc:
            dispatcher.utter_message(text=f"The card was not blocked: {exc.user_message}")
            return reset(FORM)
        dispatcher.utter_message(
            text=(
                f"Your {_card_label(card)} is now blocked. A replacement will be posted to your address on file "
                "within 5 working days. If you see payments you don't recognise, say \"talk to a human\"."
            )
        )
        return reset(FORM)
