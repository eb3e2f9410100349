"""The end-of-conversation satisfaction question (CSAT): asked once a session, never while a hand-off is open.

The answer (``/rate{"csat": n}``, a button of ``utter_ask_csat``) is stored as the slot ``csat``: the tracker event
reaches the transcript store through the feed, where the staff inbox (``profiles.conversations``) and the bot
analytics (``profiles.bot_analytics``) read it.
"""

from __future__ import annotations

import logging
import re
from typing import Any

from rasa_sdk import Action, Tracker
from rasa_sdk.events import SlotSet
from rasa_sdk.executor import CollectingDispatcher

from profiles.errors import ProfileError
from profiles.handoff import has_open_handoff

logger = logging.getLogger(__name__)
CSAT_MIN, CSAT_MAX = 1, 5
_NUMBER = re.compile(r"\d+(?:[.,]\d+)?")


def csat_score(value: Any) -> int | None:
    """A score 1..5 from an entity value (4, 4.0, "4"), or None for anything else."""
    if isinstance(value, bool):
        return None
    if isinstance(value, str):
        value = value.strip()
        if not (value.isascii() and value.isdigit()):
            return None
        value = int(value)
    if isinstance(value, float):
        if not value.is_integer():
            return None
        value = int(value)
    if isinstance(value, int) and CSAT_MIN <= value <= CSAT_MAX:
        return value
    return None


def _typed_score(text: str) -> int | None:
    """The score in a typed rating ("4 stars", "my rating is 3": the NLU extracts no ``csat`` from typed text):
    the message's one number, when it is 1..5."""
    numbers = _NUMBER.findall(text)
    return csat_score(numbers[0]) if len(numbers) == 1 else None


class ActionAskCsat(Action):
    """Ask the one-tap satisfaction question, unless it was asked this session or a hand-off is waiting/taken."""

    def name(self) -> str:
        return "action_ask_csat"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]) -> list[dict[str, Any]]:
        if tracker.get_slot("csat_asked") or tracker.get_slot("csat") is not None:
            return []
        try:
            if has_open_handoff(tracker.sender_id):
                return []
        except (ProfileError, Exception):  # noqa: BLE001 - the store is down: better not ask than ask wrongly
            logger.warning("csat: could not check the hand-offs of the conversation; not asking")
            return []
        dispatcher.utter_message(response="utter_ask_csat")
        return [SlotSet("csat_asked", True)]


class ActionStoreCsat(Action):
    """Keep the score as the slot ``csat`` and thank the customer, only after the question was asked and once per
    session; a score outside 1..5 is asked again."""

    def name(self) -> str:
        return "action_store_csat"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]) -> list[dict[str, Any]]:
        if tracker.get_slot("csat_asked") is not True or tracker.get_slot("csat") is not None:
            # a typed /rate nobody asked for, or a second rating this session: not stored (a script could
            # otherwise fill the analytics with ratings)
            dispatcher.utter_message(response="utter_anything_else")
            return []
        entities = (tracker.latest_message or {}).get("entities") or []
        values = [e.get("value") for e in entities if isinstance(e, dict) and e.get("entity") == "csat"]
        score = csat_score(values[-1]) if values else _typed_score(str((tracker.latest_message or {}).get("text") or ""))
        if score is None:
            dispatcher.utter_message(response="utter_csat_invalid")
            return []
        dispatcher.utter_message(response="utter_csat_thanks")
        return [SlotSet("csat", score), SlotSet("csat_asked", True)]
