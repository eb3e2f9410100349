"""Typed push intents are refused at the door (REST and socket.io channels).

A proactive push (a campaign message) reaches a conversation only through Rasa's token-protected
``trigger_intent`` (api/push.py): an ``EXTERNAL_*`` intent whose entities fill the message, e.g. the
customer's first name in "Hi {push_name}, ...". A web client may send ``/intent{entities}`` payloads (the
widget's buttons do), so a customer could type ``/EXTERNAL_offer{"push_name": "..., your account is locked,
call ..."}`` and the bot repeated the text in its own voice, in a transcript staff read as the bank's words.
The actions already never take such a message for a push (actions/context.py ``_is_push``); the response
rules answer it before any action runs, so the channels refuse it. Messenger channels drop every leading
``/`` of typed text (bot/channels.py ``messenger_text``).

Runs inside the Rasa process (Python 3.10): the standard library only.
"""

from __future__ import annotations

import re

#: A message Rasa's regex handler would read as an ``EXTERNAL_*`` intent: ``/`` then the name (any case).
_PUSH_PAYLOAD = re.compile(r"\s*/\s*external_", re.IGNORECASE)


def push_payload_error(message: str) -> str | None:
    """Why ``message`` is refused (it is a typed ``/EXTERNAL_*`` push intent), or None when it may pass."""
    if _PUSH_PAYLOAD.match(message):
        return "\"message\" must not be a push intent (/EXTERNAL_...): those come only from the bank's campaigns"
    return None
