"""The base of the actions that answer from the verified customer's own data (balance, transactions, account
and card details): one place for the two checks every such answer makes first."""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any

from rasa_sdk import Action, Tracker
from rasa_sdk.executor import CollectingDispatcher

from actions.context import verified_customer


class VerifiedAnswer(Action, ABC):
    """An answer about the customer's own data: a message that holds two requests ("my balance and my IBAN")
    is served as both (:mod:`actions.multi`), an anonymous visitor is asked to log in (``utter_login_required``),
    and otherwise :meth:`answer` runs with the customer id the server verified."""

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]) -> list[dict[str, Any]]:
        from actions.multi import two_requests  # actions.multi builds on the answers: imported when first needed

        if (both := await two_requests(dispatcher, tracker, domain)) is not None:
            return both
        customer_id = verified_customer(tracker)
        if customer_id is None:
            dispatcher.utter_message(response="utter_login_required")
            return []
        return self.answer(dispatcher, tracker, customer_id)

    @abstractmethod
    def answer(self, dispatcher: CollectingDispatcher, tracker: Tracker, customer_id: int) -> list[dict[str, Any]]:
        """Tell ``customer_id`` (verified) the answer; the events to return."""
