"""Linking a Telegram or Messenger account to the customer's online banking (profiles.linking).

In the logged-in web chat (signed token) "link my Telegram" gives a one-time code and instructions; on
Telegram or Messenger "link 7KQ2-9XPA" (or the bare code, or Telegram's ``/start 7KQ2-9XPA`` deep link, both
rewritten to ``link <code>`` by bot/channels.py) links that messenger account; "unlink" there removes the link.
"""

from __future__ import annotations

import logging
from typing import Any

from rasa_sdk import Action, Tracker
from rasa_sdk.events import SlotSet
from rasa_sdk.executor import CollectingDispatcher

from actions.context import channel_of, latest_text, proven_messenger, verified_customer
from profiles.errors import NotFound, ProfileError
from profiles.linking import MESSENGER_CHANNELS, find_code, issue_link_code, linked_customer, redeem_link_code, unlink
from profiles.settings import get_settings

logger = logging.getLogger(__name__)

#: How each linkable input channel is called to a customer.
CHANNEL_LABELS = {"telegram": "Telegram", "facebook": "Messenger"}


def _instructions(code: str, text: str) -> str:
    """Where to send ``code``: Telegram, Messenger or both, depending on what the customer asked for."""
    settings = get_settings()
    lowered = text.lower()
    wants_telegram = "telegram" in lowered
    wants_messenger = "messenger" in lowered or "facebook" in lowered
    minutes = settings.link_code_ttl_minutes
    telegram = (f"On Telegram, open https://t.me/{settings.telegram_bot_name}?start={code} or send "
                f"@{settings.telegram_bot_name} the message: link {code}")
    messenger = f"On Messenger, send our page the message: link {code}"
    where = [telegram] if wants_telegram and not wants_messenger else (
        [messenger] if wants_messenger and not wants_telegram else [telegram, messenger])
    return (f"Your link code is {code}. It works once and expires in {minutes} minutes.\n\n"
            + "\n\n".join(where)
            + "\n\nNever share this code: whoever sends it can see your accounts in that chat.")


class ActionLinkAccount(Action):
    """Web: issue a link code to the verified customer. Telegram/Messenger: redeem the code in the message."""

    def name(self) -> str:
        return "action_link_account"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]) -> list[dict[str, Any]]:
        channel = channel_of(tracker)
        text = latest_text(tracker)
        code = find_code(text)
        if channel in MESSENGER_CHANNELS and proven_messenger(tracker) is None:
            # a messenger channel its connector did not prove (an event appended by other means): nothing changes
            dispatcher.utter_message(text="Sorry, I can only link an account from a message sent in that chat.")
            return []
        if channel in MESSENGER_CHANNELS:
            label = CHANNEL_LABELS[channel]
            if code is None:
                if linked_customer(channel, tracker.sender_id) is not None:
                    dispatcher.utter_message(
                        text=f"This {label} account is already linked to your online banking. Say \"unlink\" to remove the link.")
                else:
                    dispatcher.utter_message(
                        text=f"To link this {label} account, log in to online banking, say \"link my {label}\" in the "
                             f"chat there and send me the code you get, like this: link 7KQ2-9XPA")
                return []
            try:
                redeem_link_code(channel, tracker.sender_id, code)
            except ProfileError as exc:
                dispatcher.utter_message(text=exc.user_message)
                return []
            dispatcher.utter_message(
                text=f"Done: this {label} account is now linked to your online banking. You can ask me about your "
                     f"balance, transactions or cards here. Say \"unlink\" at any time to remove the link.")
            return [SlotSet("owner", None)]  # nothing begun before linking continues as the customer

        if code is not None:
            dispatcher.utter_message(
                text="Please send that code in the Telegram or Messenger chat you want to link, not here.")
            return []
        customer_id = verified_customer(tracker)
        if customer_id is None:
            dispatcher.utter_message(
                text="Please log in to online banking first; then ask me here to link your Telegram or Messenger account.")
            return []
        try:
            code = issue_link_code(customer_id, channel=channel)
        except ProfileError as exc:
            dispatcher.utter_message(text=exc.user_message)
            return []
        dispatcher.utter_message(text=_instructions(code, text))
        return []


class ActionUnlinkAccount(Action):
    """Telegram/Messenger: remove this messenger account's link. Web: say where to do it."""

    def name(self) -> str:
        return "action_unlink_account"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]) -> list[dict[str, Any]]:
        channel = proven_messenger(tracker)
        if channel is None:
            dispatcher.utter_message(
                text="To unlink a Telegram or Messenger account, send \"unlink\" in that chat.")
            return []
        label = CHANNEL_LABELS[channel]
        try:
            unlink(channel, tracker.sender_id)
        except NotFound:
            dispatcher.utter_message(text=f"This {label} account is not linked to online banking.")
            return []
        except ProfileError as exc:
            dispatcher.utter_message(text=exc.user_message)
            return []
        dispatcher.utter_message(
            text=f"Done: this {label} account is no longer linked. I can still answer general questions here.")
        return [SlotSet("owner", None)]
