"""Fixtures for the Telegram and Messenger channel tests: the e2e ``live_stack`` (real Rasa with
bot/channels.py's channels on, real action server, seeded database; its ``messenger_cloud`` is the local fake
of Telegram's Bot API and the Graph API that Rasa sends replies to) and helpers that post real-format updates.
"""

from __future__ import annotations

import itertools
import json
import time
from typing import Any

import httpx

from tests.e2e.conftest import (  # noqa: F401  (the fixtures, shared with tests/e2e: one stack per session)
    LiveStack,
    _stack_database,
    live_stack,
)

_ids = itertools.count(int(time.time()) % 1_000_000 * 100)


def new_id() -> int:
    """A fresh Telegram chat id / Messenger PSID seed no other test uses."""
    return next(_ids)


def telegram_update(chat_id: int, text: str, *, chat_type: str = "private") -> dict[str, Any]:
    """A Bot API ``Update`` with a text message, as Telegram posts it to the webhook."""
    n = new_id()
    user = {"id": chat_id, "is_bot": False, "first_name": "Ana", "last_name": "Silva", "language_code": "en"}
    chat: dict[str, Any] = {"id": chat_id, "type": chat_type}
    chat.update({"first_name": "Ana", "last_name": "Silva"} if chat_type == "private" else {"title": "Family"})
    return {"update_id": n, "message": {"message_id": n, "from": user, "chat": chat, "date": int(time.time()),
                                        "text": text}}


def post_telegram(stack: LiveStack, update: dict[str, Any] | bytes, secret: str | None = "default") -> httpx.Response:
    """POST an update to Rasa's Telegram webhook with the secret-token header (``secret=None``: no header)."""
    cloud = stack.messenger_cloud
    headers = {"Content-Type": "application/json"}
    if secret is not None:
        headers["X-Telegram-Bot-Api-Secret-Token"] = cloud.telegram_secret_token if secret == "default" else secret
    body = update if isinstance(update, bytes) else json.dumps(update).encode()
    return httpx.post(f"{stack.rasa_url}/webhooks/telegram/webhook", content=body, headers=headers, timeout=120)


def telegram_say(stack: LiveStack, chat_id: int, text: str) -> list[str]:
    """Send ``text`` from the Telegram user ``chat_id``; return the replies the fake received for this turn."""
    before = len(stack.messenger_cloud.telegram_texts(chat_id))
    response = post_telegram(stack, telegram_update(chat_id, text))
    assert response.status_code == 200, response.text
    assert response.json() == {"status": "ok"}, response.text
    return stack.messenger_cloud.telegram_texts(chat_id)[before:]


def facebook_event(psid: str, text: str) -> dict[str, Any]:
    """A Messenger webhook event (``object: page``) with one text message from ``psid``."""
    now = int(time.time() * 1000)
    return {"object": "page", "entry": [{"id": "1010101010", "time": now, "messaging": [{
        "sender": {"id": psid}, "recipient": {"id": "1010101010"}, "timestamp": now,
        "message": {"mid": f"m_{new_id()}", "text": text},
    }]}]}


def post_facebook(stack: LiveStack, event: dict[str, Any] | bytes, signature: str | None = "default",
                  header: str = "X-Hub-Signature-256") -> httpx.Response:
    """POST an event to Rasa's Messenger webhook, signed with the app secret (``signature``: another value
    for the header, or None for none)."""
    body = event if isinstance(event, bytes) else json.dumps(event).encode()
    headers = {"Content-Type": "application/json"}
    if signature is not None:
        headers[header] = stack.messenger_cloud.facebook_signature(body) if signature == "default" else signature
    return httpx.post(f"{stack.rasa_url}/webhooks/facebook/webhook", content=body, headers=headers, timeout=120)


def facebook_say(stack: LiveStack, psid: str, text: str) -> list[str]:
    """Send ``text`` from the Messenger user ``psid``; return the replies the fake received for this turn."""
    before = len(stack.messenger_cloud.facebook_texts(psid))
    response = post_facebook(stack, facebook_event(psid, text))
    assert response.status_code == 200, response.text
    assert response.json() == {"status": "ok"}, response.text
    return stack.messenger_cloud.facebook_texts(psid)[before:]
