"""Gate in front of the forms that touch accounts: is the customer verified?"""

from __future__ import annotations

from typing import Any

from rasa_sdk import Action, Tracker
from rasa_sdk.events import SlotSet
from rasa_sdk.executor import CollectingDispatcher

from actions.context import owner_slot, verified_customer


class ActionVerifyCustomer(Action):
    """Set ``verified`` from the signed token of the latest message (rules branch on it) and ``owner``, the
    customer the form that follows belongs to (sealed to this conversation: a hand-made ``owner`` is no one)."""

    def name(self) -> str:
        return "action_verify_customer"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]) -> list[dict[str, Any]]:
        customer_id = verified_customer(tracker)
        return [
            SlotSet("verified", customer_id is not None),
            owner_slot(tracker, customer_id),  # sealed to this conversation (actions.context.slot_owner)
        ]
