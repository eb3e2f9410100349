"""Gate in front of the forms that touch accounts: is the customer verified?"""

from __future__ import annotations

from typing import Any

from rasa_sdk import Action, Tracker
from rasa_sdk.events import SlotSet
from rasa_sdk.executor import CollectingDispatcher

from actions.context import verified_customer


class ActionVerifyCustomer(Action):
    """Set the ``verified`` slot from the signed token of the latest message (rules branch on it)."""

    def name(self) -> str:
        return "action_verify_customer"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]) -> list[dict[str, Any]]:
        return [SlotSet("verified", verified_customer(tracker) is not None)]
