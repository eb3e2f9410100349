"""The web chat (socket.io) across several Rasa workers or replicas: python-socketio's Redis client manager and a
shared record of which conversations have a page open.

One Rasa process keeps its sockets, their rooms and python-socketio's client manager in memory. With several
Sanic workers (``SANIC_WORKERS``, scripts/run.sh ``RASA_WORKERS``) or replicas, a message to a room must reach
the worker that holds the socket, and "is a page open for this conversation?" (bot/socketio_channel.py
``RoomCheckedSocketIOOutput``, a proactive push) must be answered for every worker, not only the one that got
the push request. Both go through Redis when ``WEB_CHAT_REDIS_URL`` is set (scripts/run.sh sets it to
``REDIS_URL`` when ``RASA_WORKERS`` > 1):

- **Client manager.** :func:`server_options` gives ``socketio.AsyncServer`` an ``AsyncRedisManager`` on
  that URL (pub/sub channel :data:`PUBSUB_CHANNEL`): every ``emit`` to a room is delivered by the worker that
  holds the socket, whichever worker produced it.
- **Transports.** Long-polling needs every HTTP request of one client on the same worker (sticky sessions);
  the workers of one Rasa share one listening socket, so there is no stickiness. ``WEB_CHAT_TRANSPORTS``
  (comma-separated, ``websocket`` and/or ``polling``; scripts/run.sh: ``websocket`` with several workers)
  limits what the server accepts; the widget (api/static/chat/widget.js) tries the websocket first.
- **Open pages.** :class:`OpenPages` keeps, per conversation (socket.io room), the set of socket ids whose
  page joined it (Redis set ``nova:webchat:open:<room>``, expiring :data:`OPEN_TTL_S` after the last join),
  removed on leave and disconnect. A worker that is killed cannot remove its sockets: their entries stay
  until the expiry, and a push to such a conversation is reported sent although nobody saw it.

Without ``WEB_CHAT_REDIS_URL`` nothing changes: python-socketio's in-memory manager, both transports, and the
room check of this process only (one worker, as in embedded mode).

Runs inside the Rasa process (Python 3.10): imports Rasa's dependencies only, never ours.
"""

from __future__ import annotations

import logging
import os
import uuid
from collections.abc import Mapping
from typing import Any

logger = logging.getLogger(__name__)

REDIS_URL_ENV = "WEB_CHAT_REDIS_URL"
TRANSPORTS_ENV = "WEB_CHAT_TRANSPORTS"
TRANSPORTS = ("websocket", "polling")
PUBSUB_CHANNEL = "nova-socketio"
OPEN_PREFIX = "nova:webchat:open:"
OPEN_TTL_S = 24 * 3600  # a set of open pages lives a day after its last join (a killed worker's stale entries)
REDIS_TIMEOUT_S = 5.0


def transports(environ: Mapping[str, str] | None = None) -> list[str] | None:
    """The engine.io transports to accept from ``WEB_CHAT_TRANSPORTS`` (``"websocket"``, ``"polling"`` or
    both, comma-separated), or None (python-socketio's default: both) when unset or empty.

    Raises:
        ValueError: a value other than ``websocket`` or ``polling``.
    """
    env = os.environ if environ is None else environ
    raw = (env.get(TRANSPORTS_ENV) or "").strip()
    if not raw:
        return None
    items = [t.strip() for t in raw.split(",") if t.strip()]
    unknown = [t for t in items if t not in TRANSPORTS]
    if unknown or not items:
        raise ValueError(f"{TRANSPORTS_ENV}={raw!r}: give websocket and/or polling, comma-separated")
    return items


def redis_url(environ: Mapping[str, str] | None = None) -> str | None:
    """``WEB_CHAT_REDIS_URL`` (redis:// or rediss://), or None when unset or empty.

    Raises:
        ValueError: a URL that is neither redis:// nor rediss://.
    """
    env = os.environ if environ is None else environ
    url = (env.get(REDIS_URL_ENV) or "").strip()
    if not url:
        return None
    if not url.startswith(("redis://", "rediss://")):
        raise ValueError(f"{REDIS_URL_ENV} must be a redis:// or rediss:// URL")
    return url


def server_options(environ: Mapping[str, str] | None = None) -> dict[str, Any]:
    """Keyword arguments for ``socketio.AsyncServer``: ``client_manager`` (an ``AsyncRedisManager`` when
    ``WEB_CHAT_REDIS_URL`` is set) and ``transports`` (when ``WEB_CHAT_TRANSPORTS`` is set); {} otherwise.

    The manager connects lazily (on the first emit, or the first socket of a worker), so it may be created
    before Sanic forks its workers. Raises ValueError as :func:`redis_url` and :func:`transports`."""
    options: dict[str, Any] = {}
    url = redis_url(environ)
    if url:
        options["client_manager"] = fork_safe_redis_manager()(
            url, channel=PUBSUB_CHANNEL,
            # no socket_timeout: the subscriber waits for messages for as long as the chat is quiet
            redis_options={"socket_connect_timeout": REDIS_TIMEOUT_S},
        )
    allowed = transports(environ)
    if allowed:
        options["transports"] = allowed
    return options


def fork_safe_redis_manager() -> type:
    """python-socketio's ``AsyncRedisManager`` with a ``host_id`` of its own in every process.

    The manager tags what it publishes with ``host_id`` and ignores messages carrying its own (it has already
    delivered them locally). It draws the id once, in ``__init__``; Rasa creates the channel (and so the
    manager) before Sanic forks its workers, so every worker would carry the same id and drop every message
    published by another worker: a reply or push produced on worker B for a socket on worker A would never
    arrive. Here the id is drawn again in each process (on first use after a fork)."""
    from socketio import AsyncRedisManager

    class ForkSafeRedisManager(AsyncRedisManager):  # type: ignore[misc]
        """``AsyncRedisManager`` whose ``host_id`` is unique per process (see :func:`fork_safe_redis_manager`)."""

        _own_host_id = ""
        _host_pid = 0

        @property  # type: ignore[override]
        def host_id(self) -> str:
            if self._host_pid != os.getpid():
                self._own_host_id, self._host_pid = uuid.uuid4().hex, os.getpid()
            return self._own_host_id

        @host_id.setter
        def host_id(self, value: str) -> None:
            self._own_host_id, self._host_pid = value, os.getpid()

    return ForkSafeRedisManager


class OpenPages:
    """Which socket ids have joined a conversation's room, in Redis, for every worker (module docstring).

    ``url`` is a redis:// or rediss:// URL. The client is made per process (on first use after a fork), so an
    instance created before Sanic forks its workers is safe to use in each."""

    def __init__(self, url: str, ttl_s: int = OPEN_TTL_S) -> None:
        self.url, self.ttl_s = url, ttl_s
        self._client: Any = None
        self._pid = 0

    def _redis(self) -> Any:
        if self._client is None or self._pid != os.getpid():
            import redis.asyncio as aioredis

            self._client = aioredis.Redis.from_url(
                self.url, socket_timeout=REDIS_TIMEOUT_S, socket_connect_timeout=REDIS_TIMEOUT_S)
            self._pid = os.getpid()
        return self._client

    async def joined(self, room: str, sid: str) -> None:
        """Record that socket ``sid`` joined ``room`` (renews the set's expiry). Raises redis errors."""
        key = OPEN_PREFIX + room
        client = self._redis()
        async with client.pipeline(transaction=True) as pipe:
            await pipe.sadd(key, sid).expire(key, self.ttl_s).execute()

    async def left(self, room: str, sid: str) -> None:
        """Record that socket ``sid`` left ``room`` (leave or disconnect). Raises redis errors."""
        await self._redis().srem(OPEN_PREFIX + room, sid)

    async def is_open(self, room: str) -> bool:
        """Whether any socket, on any worker, is in ``room``. Raises redis errors."""
        return bool(await self._redis().scard(OPEN_PREFIX + room))


def open_pages(environ: Mapping[str, str] | None = None) -> OpenPages | None:
    """An :class:`OpenPages` on ``WEB_CHAT_REDIS_URL``, or None when it is not set (one worker: the room check
    of this process is the whole truth). Raises ValueError as :func:`redis_url`."""
    url = redis_url(environ)
    return OpenPages(url) if url else None
