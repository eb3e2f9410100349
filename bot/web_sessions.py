"""Web chat sessions: which browser may rejoin which socket.io conversation (bot/socketio_channel.py).

The channel mints every session itself: a session id (uuid4 hex, Rasa's ``sender_id``) and a secret
(``secrets.token_urlsafe(32)``, 256 bits) that only the browser that started the session receives. The store
keeps the secret's SHA-256 (never the secret) and the *subject* the session was started for (the ``sub`` claim
of the customer token it was started with, ``""`` for an anonymous visitor). A browser rejoins a session only
with its secret and the same subject; anything else gets a new session.

Stores: ``MemorySessions`` (one Rasa process; sessions die with it, the widget then starts a new one) or
``RedisSessions`` (several Rasa processes share ``nova:websession:<id>``), chosen by ``session_store`` from
the environment: Redis when ``REDIS_HOST`` is set (Redis mode, scripts/run.sh), else memory. Entries expire
``SESSION_TTL_S`` after the last join.

Runs inside the Rasa process (Python 3.10): imports Rasa's dependencies only, never ours.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import secrets
import time
import uuid
from dataclasses import dataclass
from typing import Any, Protocol

SESSION_TTL_S = 30 * 24 * 3600  # a month without a visit: the conversation is not resumed any more
MEMORY_LIMIT = 100_000  # sessions kept by one process; the oldest go first
REDIS_PREFIX = "nova:websession:"


@dataclass(frozen=True)
class WebSession:
    """A session the channel minted: ``session_id`` (the Rasa sender id) and its ``secret`` (the browser's)."""

    session_id: str
    secret: str


def digest(secret: str) -> str:
    """The stored form of a session secret: hex SHA-256 (the secret has 256 bits, no salt needed)."""
    return hashlib.sha256(secret.encode()).hexdigest()


def token_subject(token: str | None) -> str:
    """The ``sub`` claim of a customer token, read WITHOUT checking its signature (``""``: none, unreadable).

    Used only to tie a session to the customer it was started for: a session started with customer A's token
    is never rejoined with customer B's. It decides nothing about identity (the action server verifies the
    token on every turn; a forged ``sub`` gives no access there)."""
    if not token:
        return ""
    try:
        payload = token.split(".")[1]
        claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    except (IndexError, ValueError, TypeError):
        return ""
    sub = claims.get("sub") if isinstance(claims, dict) else None
    return str(sub)[:64] if isinstance(sub, (str, int)) else ""


class SessionStore(Protocol):
    """Where minted sessions are kept: ``(digest, subject)`` per session id."""

    async def put(self, session_id: str, secret_digest: str, subject: str) -> None: ...

    async def get(self, session_id: str) -> tuple[str, str] | None: ...


class MemorySessions:
    """Sessions of this process only (dict, oldest dropped past ``MEMORY_LIMIT``, expired after the TTL)."""

    def __init__(self, ttl_s: float = SESSION_TTL_S, limit: int = MEMORY_LIMIT) -> None:
        self.ttl_s, self.limit = ttl_s, limit
        self._items: dict[str, tuple[str, str, float]] = {}

    async def put(self, session_id: str, secret_digest: str, subject: str) -> None:
        self._items.pop(session_id, None)
        self._items[session_id] = (secret_digest, subject, time.monotonic() + self.ttl_s)
        while len(self._items) > self.limit:
            self._items.pop(next(iter(self._items)))

    async def get(self, session_id: str) -> tuple[str, str] | None:
        item = self._items.get(session_id)
        if item is None or item[2] < time.monotonic():
            self._items.pop(session_id, None)
            return None
        return item[0], item[1]


class RedisSessions:
    """Sessions shared by every Rasa process through Redis (hash ``nova:websession:<id>``, with a TTL)."""

    def __init__(self, client: Any, ttl_s: int = SESSION_TTL_S) -> None:
        self.client, self.ttl_s = client, ttl_s

    async def put(self, session_id: str, secret_digest: str, subject: str) -> None:
        key = REDIS_PREFIX + session_id
        await self.client.hset(key, mapping={"digest": secret_digest, "subject": subject})
        await self.client.expire(key, self.ttl_s)

    async def get(self, session_id: str) -> tuple[str, str] | None:
        item = await self.client.hgetall(REDIS_PREFIX + session_id)
        if not item or b"digest" not in item:
            return None
        return item[b"digest"].decode(), item.get(b"subject", b"").decode()


def session_store(environ: dict[str, str] | None = None) -> SessionStore:
    """Redis (``REDIS_HOST``/``PORT``/``DB``/``PASSWORD``/``USE_SSL``, as endpoints.redis.yml) or memory."""
    env = os.environ if environ is None else environ
    if not env.get("REDIS_HOST"):
        return MemorySessions()
    import redis.asyncio as aioredis

    client = aioredis.Redis(
        host=env["REDIS_HOST"], port=int(env.get("REDIS_PORT") or 6379), db=int(env.get("REDIS_DB") or 0),
        password=env.get("REDIS_PASSWORD") or None, ssl=env.get("REDIS_USE_SSL", "").lower() == "true",
        socket_timeout=5,
    )
    return RedisSessions(client)


class WebSessions:
    """Mint and check web chat sessions over a ``SessionStore`` (see the module docstring)."""

    def __init__(self, store: SessionStore) -> None:
        self.store = store

    async def start(self, subject: str) -> WebSession:
        """A new session for ``subject`` (the token's ``sub``, ``""`` anonymous), stored hashed."""
        session = WebSession(f"w{uuid.uuid4().hex}",  # "w": never all digits (messenger ids)
                              secrets.token_urlsafe(32))
        await self.store.put(session.session_id, digest(session.secret), subject)
        return session

    async def resume(self, session_id: str, secret: Any, subject: str) -> WebSession | None:
        """The session ``session_id`` when ``secret`` is its secret and it was started for ``subject``; else
        None (unknown or expired id, no or wrong secret, another customer). A resume renews the TTL."""
        if not isinstance(secret, str) or not secret or len(secret) > 128:
            return None
        stored = await self.store.get(session_id)
        if stored is None:
            return None
        secret_digest, owner = stored
        if not hmac.compare_digest(secret_digest, digest(secret)) or not hmac.compare_digest(owner, subject):
            return None
        await self.store.put(session_id, secret_digest, owner)
        return WebSession(session_id, secret)
