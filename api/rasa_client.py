"""Erasing conversations from Rasa's tracker store (the customer's right to erasure).

- Redis tracker store (``settings.redis_url`` set, ``bot/endpoints.redis.yml``): the key
  ``nova:tracker:<sender_id>`` is deleted. Rasa 3.6's ``RedisTrackerStore`` builds its keys as
  ``<key_prefix>:tracker:<sender_id>`` (key_prefix ``nova`` in our endpoints file), and its ``save`` *merges* a
  saved tracker with the stored one, so replacing the events over HTTP would not remove them there.
- Otherwise (in-memory or SQL tracker store): Rasa's HTTP API replaces the conversation's events by none,
  ``PUT {rasa_url}/conversations/{sender_id}/tracker/events`` with ``[]`` (token: Rasa's ``--auth-token``).

A later ``GET .../tracker`` shows a fresh conversation (Rasa starts a new session for an empty tracker): no
user or bot message, no slot of the erased conversation.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Final
from urllib.parse import quote

import httpx
import redis

from profiles.settings import get_settings

log = logging.getLogger(__name__)

REDIS_TRACKER_PREFIX: Final = "nova:tracker:"  # bot/endpoints.redis.yml key_prefix "nova" + Rasa's "tracker:"
DEV_RASA_TOKEN: Final = "dev-rasa-token-change-me"  # scripts/run.sh's development default
TIMEOUT_S: Final = 10.0


@dataclass(frozen=True, slots=True)
class ConversationErasure:
    """Outcome for one conversation: ``erased``, by which ``method`` (``redis`` or ``rasa_api``), or ``error``."""

    sender_id: str
    erased: bool
    method: str | None
    error: str | None


def rasa_token() -> str:
    """Token of Rasa's HTTP API: ``settings.rasa_token`` (``RASA_TOKEN``), the development default otherwise."""
    return get_settings().rasa_token


def _erase_redis(sender_ids: list[str], url: str) -> list[ConversationErasure]:
    try:
        client = redis.Redis.from_url(url, socket_timeout=TIMEOUT_S)
        try:
            for sender in sender_ids:
                client.delete(REDIS_TRACKER_PREFIX + sender)
        finally:
            client.close()
    except redis.RedisError as exc:
        log.warning("erasure: Redis tracker store unreachable (%s)", type(exc).__name__)
        return [ConversationErasure(s, False, "redis", f"Redis tracker store error: {type(exc).__name__}")
                for s in sender_ids]
    return [ConversationErasure(s, True, "redis", None) for s in sender_ids]


def _erase_api(sender_ids: list[str], base: str, token: str) -> list[ConversationErasure]:
    out: list[ConversationErasure] = []
    with httpx.Client(timeout=TIMEOUT_S) as client:
        for sender in sender_ids:
            url = f"{base.rstrip('/')}/conversations/{quote(sender, safe='')}/tracker/events"
            try:
                response = client.put(url, params={"token": token}, json=[])
            except httpx.HTTPError as exc:
                out.append(ConversationErasure(sender, False, "rasa_api", f"Rasa unreachable: {type(exc).__name__}"))
                continue
            if response.status_code == 200:
                out.append(ConversationErasure(sender, True, "rasa_api", None))
            else:
                out.append(ConversationErasure(sender, False, "rasa_api", f"Rasa answered {response.status_code}"))
    return out


def erase_conversations(sender_ids: list[str] | tuple[str, ...]) -> list[ConversationErasure]:
    """Erase each conversation from Rasa's tracker store (see the module docstring); one outcome per sender id,
    in order. Never raises for an unreachable store: the outcome says ``erased=False`` and why."""
    senders = list(dict.fromkeys(sender_ids))
    if not senders:
        return []
    settings = get_settings()
    results = (_erase_redis(senders, settings.redis_url) if settings.redis_url
               else _erase_api(senders, settings.rasa_url, rasa_token()))
    log.info("erasure: %s of %s conversations erased from the tracker store",
             sum(r.erased for r in results), len(results))
    return results
