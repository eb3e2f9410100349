"""The web chat widget's socket.io channel: Rasa's SocketIOInput with origins, identity and bad input handled.

Listed in ``bot/credentials.yml`` as ``bot.socketio_channel.NovaSocketIOInput``; its name stays ``socketio``
(same URL ``/socket.io``, same events ``user_uttered`` / ``bot_uttered`` / ``session_request`` /
``session_confirm``, so any Rasa socket.io client works). What it changes:

- **Origins.** Rasa's channel turns python-socketio's origin check off (``cors_allowed_origins=[]``). Here the
  allowed browser origins come from the credential ``cors_allowed_origins`` (a list, or ``"*"``), replaced by
  the environment variable ``WEB_CHAT_ORIGINS`` (comma-separated) when it is set. A browser on another origin
  is refused at the handshake (HTTP 400). A client that sends no ``Origin`` is refused too when
  ``ENVIRONMENT`` is not ``development`` (a ``connect_error``); in development it is accepted (tests, tools).
- **Sessions.** The channel mints every session (``bot/web_sessions.py``): ``session_confirm`` answers
  ``{"session_id": ..., "session_secret": ...}``. A ``session_request`` rejoins an existing session only with
  its ``session_secret`` and a token of the same customer (same ``sub``; no token for an anonymous one);
  otherwise, whatever session id it names, it gets a new session. So a session id seen somewhere (a log, a
  screen) is no key to the conversation: only the browser that started it holds the secret.
- **Identity.** The page sends the logged-in customer's signed token once, in ``session_request``
  (``{"session_id": ..., "token": ...}``); the channel checks its signature there (bot/identity_claim.py),
  keeps only its subject and expiry for that socket (dropped on disconnect) and puts in every message's
  metadata the identity claim sealed to the conversation, which the action server checks (expiry, customer:
  ``profiles.identity.resolve_message_customer``). A ``token`` or ``identity`` a client puts in a message's
  own metadata is removed: a socket speaks for one identity, the one it declared when the session started.
  No token, or one that is not ours: an anonymous visitor.
- **Bad input gets an answer, never a crash or silence.** A ``session_request`` or message that is not a
  JSON object, a message without a string ``message``, a message too long, metadata that is not an object,
  a missing or malformed ``session_id`` (with session persistence) each get an ``error`` event
  ``{"error": "..."}`` on that socket and nothing reaches the dialogue. A ``session_request`` the session store
  cannot answer (Redis down) gets the apology with a reference as a bot message (bot/reliability.py), not a
  page waiting forever for ``session_confirm``.
- **Output channel for external events (proactive push)**: ``get_output_channel`` (what Rasa's
  ``trigger_intent?output_channel=socketio`` uses) sends to the room named after the conversation's
  ``sender_id`` (the session id, whose room only sockets that proved the session's secret join) and refuses, with
  ``NoOpenPage`` (whose message starts with ``NO_OPEN_PAGE``), to send to a conversation no socket is
  connected to: Rasa then answers 500 before it stores anything, and the API reports ``no_channel`` instead
  of a push nobody saw (docs/PUSH.md). With several Rasa workers or replicas (``WEB_CHAT_REDIS_URL``,
  bot/web_chat_scale.py) a socket in another worker counts too: the open pages are recorded in Redis and the
  message goes through python-socketio's Redis client manager to the worker holding the socket.
  The same output carries a staff member's messages of a live hand-off (api/live_handoff.py appends them as
  bot events): their ``handoff`` metadata becomes ``agent`` (the name shown) and ``handoff`` (taken, message,
  closed) in the ``bot_uttered`` payload.

No token in the tracker store: Rasa stores a message's metadata with its ``user`` event and publishes it to
the event broker, so the token stops here; only the claim (useless outside its conversation) is stored.

Rasa 3.6's own ``session_request`` handler calls python-socketio 5's ``enter_room`` (a coroutine) without
awaiting it, so with session persistence the socket never joins its session's room and the bot's replies,
sent to that room, never arrive; here it is awaited.

Runs inside the Rasa process (Python 3.10): imports Rasa's packages only, never ours.
"""

from __future__ import annotations

import json
import logging
import os
import re
from collections.abc import Awaitable, Callable
from typing import Any

from rasa.core.channels.channel import UserMessage
from rasa.core.channels.socketio import SocketBlueprint, SocketIOInput, SocketIOOutput
from sanic import Blueprint, response
from sanic.request import Request
from sanic.response import HTTPResponse
from socketio import AsyncServer
from socketio.exceptions import ConnectionRefusedError as Refused

from bot import identity_claim, web_chat_scale
from bot.json_limits import too_deep
from bot.push_payloads import push_payload_error
from bot.rate_limit import SLOW_DOWN, from_environment
from bot.reliability import apology, install, never_silent, new_reference
from bot.web_sessions import WebSessions, session_store

install()  # tracker store fails closed, bounded action-server calls (bot/reliability.py)

logger = logging.getLogger(__name__)

ORIGINS_ENV = "WEB_CHAT_ORIGINS"
MAX_SECRET_CHARS = 128
MAX_MESSAGE_CHARS = 5000
MAX_TOKEN_CHARS = 4096
# A session id is the Rasa sender_id of the conversation: hex from uuid4 (ours) or any 8-64 safe characters,
# but not only digits: that is the Telegram/Messenger sender id space (bot/channels.py messenger_shaped).
SESSION_ID = re.compile(r"(?!-?[0-9]+$)[A-Za-z0-9_.:-]{8,64}")

Origins = str | list[str]
# Start of the error a push to a closed web chat page ends in; api/push.py (WEB_PAGE_CLOSED) matches it.
NO_OPEN_PAGE = "no open web chat page"


class NoOpenPage(RuntimeError):
    """A proactive message for a web chat conversation whose page is not open (no socket in its room)."""


class RoomCheckedSocketIOOutput(SocketIOOutput):
    """Rasa's socket.io output for external events: emits to the room ``recipient_id`` (the conversation's
    sender id) only while at least one socket is in it, in this process or, with ``open_pages``
    (bot/web_chat_scale.py, several workers), in any; else raises ``NoOpenPage`` (nothing is sent). A Redis
    error of ``open_pages`` is raised as is (Rasa answers 500: the API reports ``channel_error``)."""

    def __init__(self, sio: AsyncServer, bot_message_evt: str, namespace: str | None,
                 open_pages: web_chat_scale.OpenPages | None = None) -> None:
        super().__init__(sio, bot_message_evt)
        self.namespace = namespace or "/"
        self.open_pages = open_pages

    async def _send_message(self, socket_id: str, response: Any) -> None:
        if next(iter(self.sio.manager.get_participants(self.namespace, socket_id)), None) is None and not (
            self.open_pages is not None and await self.open_pages.is_open(socket_id)
        ):
            raise NoOpenPage(f"{NO_OPEN_PAGE} for conversation {socket_id}: nothing was sent")
        await super()._send_message(socket_id, response)

    async def send_text_message(self, recipient_id: str, text: str, **kwargs: Any) -> None:
        """Rasa's text message, plus ``agent`` and ``handoff`` for a staff member's message (live hand-off)."""
        extra = handoff_fields(kwargs.get(HANDOFF_METADATA_KEY))
        for part in text.strip().split("\n\n"):
            await self._send_message(recipient_id, {"text": part, **extra})


HANDOFF_METADATA_KEY = "handoff"  # profiles/live_handoff.py METADATA_KEY: bot events staff send carry it
HANDOFF_STATES = ("taken", "message", "closed")


def handoff_fields(raw: Any) -> dict[str, str]:
    """What the widget needs of a staff message's hand-off metadata (``{"agent_name", "state"}``, written by
    api/live_handoff.py): ``{"agent": "Ana", "handoff": "taken"|"message"|"closed"}``; {} for anything else.
    The widget shows ``agent`` as the sender's name and stops waiting for Nova while a person answers."""
    if not isinstance(raw, dict):
        return {}
    out: dict[str, str] = {}
    name, state = raw.get("agent_name"), raw.get("state")
    if isinstance(name, str) and 0 < len(name) <= 40 and name.isprintable():
        out["agent"] = name
    if state in HANDOFF_STATES:
        out["handoff"] = state
    return out


def allowed_origins(configured: Any, environ: dict[str, str] | None = None) -> Origins:
    """The browser origins to accept: ``WEB_CHAT_ORIGINS`` (comma-separated) if set, else ``configured``.

    ``configured`` is the credential's value: a list of origins (``"http://localhost:8000"``), a single string,
    ``"*"`` (any origin) or nothing (no browser origin at all; clients without an ``Origin`` header still
    connect). Returns ``"*"`` or a list of origins without trailing slashes.
    """
    env = os.environ if environ is None else environ
    raw: Any = env.get(ORIGINS_ENV) or configured
    if raw is None:
        return []
    items = list(raw.split(",")) if isinstance(raw, str) else [str(p) for p in raw]
    origins = [p.strip().rstrip("/") for p in items if p and p.strip()]
    return "*" if "*" in origins else origins


def message_error(data: Any, session_persistence: bool, metadata_key: str = "metadata") -> str | None:
    """Why a ``user_uttered`` payload is unusable, or None when it is a valid message.

    Valid: a JSON object with ``message`` (a string of at most MAX_MESSAGE_CHARS), ``session_id`` (matching
    SESSION_ID; required when session persistence is on) and optional metadata (an object, or a string
    holding a JSON object, as Rasa's channel accepts).
    """
    if not isinstance(data, dict):
        return "a message must be a JSON object {\"message\": ..., \"session_id\": ...}"
    message = data.get("message")
    if not isinstance(message, str):
        return "\"message\" is required and must be a string"
    if len(message) > MAX_MESSAGE_CHARS:
        return f"\"message\" must be at most {MAX_MESSAGE_CHARS} characters"
    if refused := push_payload_error(message):
        return refused
    session_id = data.get("session_id")
    if (session_persistence or session_id is not None) and (
        not isinstance(session_id, str) or not SESSION_ID.fullmatch(session_id)
    ):
        return "\"session_id\" is required: the id from session_confirm (8-64 letters, digits, _.:-)"
    if _metadata(data.get(metadata_key)) is None:
        return f"\"{metadata_key}\" must be a JSON object"
    return too_deep(data.get(metadata_key), f"\"{metadata_key}\"")


def _metadata(raw: Any) -> dict[str, Any] | None:
    """The message metadata as a dict ({} when absent), or None when it is not an object."""
    if raw is None:
        return {}
    if isinstance(raw, str):
        try:
            raw = json.loads(raw)
        except ValueError:
            return None
    return dict(raw) if isinstance(raw, dict) else None


class NovaSocketIOInput(SocketIOInput):
    """Rasa's socket.io channel for the web chat widget (see the module docstring)."""

    @classmethod
    def name(cls) -> str:
        return "socketio"

    @classmethod
    def from_credentials(cls, credentials: dict[str, Any] | None) -> NovaSocketIOInput:
        credentials = credentials or {}
        channel = cls(
            credentials.get("user_message_evt", "user_uttered"),
            credentials.get("bot_message_evt", "bot_uttered"),
            credentials.get("namespace"),
            credentials.get("session_persistence", False),
            credentials.get("socketio_path", "/socket.io"),
            credentials.get("jwt_key"),
            credentials.get("jwt_method", "HS256"),
            credentials.get("metadata_key", "metadata"),
        )
        channel.cors_allowed_origins = allowed_origins(credentials.get("cors_allowed_origins"))
        channel.require_origin = os.environ.get("ENVIRONMENT", "development") != "development"
        return channel

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.cors_allowed_origins: Origins = []
        self.require_origin = False  # refuse clients without an Origin header (outside development)
        self.web_sessions = WebSessions(session_store())
        # socket id -> (sub, exp) of the customer token verified at session_request; the token itself is dropped
        self.subjects: dict[str, tuple[str, int]] = {}
        # socket id -> the session (conversation) it joined in session_request: a socket speaks only there.
        # Only a socket that proved the session's secret (bot/web_sessions.py) joins its room.
        self.sessions: dict[str, str] = {}
        # several workers: which conversations have a page open, in Redis (bot/web_chat_scale.py); else None
        self.open_pages = web_chat_scale.open_pages()

    def get_output_channel(self) -> RoomCheckedSocketIOOutput | None:
        """The output for external events (module docstring); None (Rasa's warning) without a server."""
        if super().get_output_channel() is None:
            return None
        return RoomCheckedSocketIOOutput(self.sio, self.bot_message_evt, self.namespace, self.open_pages)

    async def _session_for(self, sid: str, session_id: Any, secret: Any, subject: str) -> Any:
        """The web session ``session_id`` if ``secret`` proves it for ``subject``, else a new one
        (bot/web_sessions.py). Raises what the session store raises (Redis down)."""
        session = None
        if session_id:
            session = await self.web_sessions.resume(session_id, secret, subject)
            if session is None:
                logger.info("socket.io %s: session not resumed (unknown, wrong secret or other customer): "
                            "a new one", sid)
        if session is None:
            session = await self.web_sessions.start(subject)
        return session

    def blueprint(self, on_new_message: Callable[[UserMessage], Awaitable[Any]]) -> Blueprint:
        on_new_message = never_silent(on_new_message, self.name())  # an apology, never silence (bot/reliability.py)
        origins = self.cors_allowed_origins
        # several workers: python-socketio's Redis client manager, websocket only (bot/web_chat_scale.py)
        sio = AsyncServer(async_mode="sanic", cors_allowed_origins=origins, **web_chat_scale.server_options())
        webhook = SocketBlueprint(sio, self.socketio_path, "socketio_webhook", __name__)
        self.sio = sio
        namespace = self.namespace
        logger.info("socket.io channel: browser origins allowed: %s", origins or "none (no-Origin clients only)")

        async def refuse(sid: str, error: str) -> None:
            logger.info("socket.io %s: refused: %s", sid, error)
            await sio.emit("error", {"error": error}, room=sid, namespace=namespace)

        @webhook.route("/", methods=["GET"])
        async def health(_: Request) -> HTTPResponse:
            return response.json({"status": "ok"})

        @sio.on("connect", namespace=namespace)
        async def connect(sid: str, environ: dict, auth: dict | None = None) -> bool:
            if self.require_origin and not environ.get("HTTP_ORIGIN"):
                logger.info("socket.io %s: refused: no Origin header (required outside development)", sid)
                raise Refused("an Origin header is required")
            logger.debug("socket.io %s connected", sid)
            return True

        async def page(opened: bool, room: str, sid: str) -> None:
            """Record a socket joining or leaving a conversation for every worker (several workers only); a
            Redis failure is logged: the chat goes on, only a push to that page may be refused."""
            if self.open_pages is None:
                return
            try:
                await (self.open_pages.joined if opened else self.open_pages.left)(room, sid)
            except Exception as exc:  # noqa: BLE001 - the conversation itself does not depend on it
                logger.warning("socket.io %s: open page not recorded (%s)", sid, type(exc).__name__)

        @sio.on("disconnect", namespace=namespace)
        async def disconnect(sid: str, *_: Any) -> None:
            self.subjects.pop(sid, None)
            room = self.sessions.pop(sid, None)
            if room is not None and self.session_persistence:
                await page(False, room, sid)
            logger.debug("socket.io %s disconnected", sid)

        @sio.on("session_request", namespace=namespace)
        async def session_request(sid: str, data: Any = None) -> None:
            if data is None:
                data = {}
            if not isinstance(data, dict):
                await refuse(sid, "session_request takes a JSON object {\"session_id\": ..., \"token\": ...}")
                return
            session_id = data.get("session_id")
            if session_id is not None and session_id != "" and (
                not isinstance(session_id, str) or not SESSION_ID.fullmatch(session_id)
            ):
                await refuse(sid, "\"session_id\" must be 8-64 letters, digits or _.:-, not only digits (or absent for a new one)")
                return
            token = data.get("token")
            if token is not None and (not isinstance(token, str) or len(token) > MAX_TOKEN_CHARS):
                await refuse(sid, "\"token\" must be a string (the signed customer token) or absent")
                return
            secret = data.get("session_secret")
            if secret is not None and (not isinstance(secret, str) or len(secret) > MAX_SECRET_CHARS):
                await refuse(sid, "\"session_secret\" must be the string from session_confirm, or absent")
                return
            verified = identity_claim.verified_subject(token)
            subject = verified[0] if verified else ""
            try:
                session = await self._session_for(sid, session_id, secret, subject)
            except Exception as exc:  # noqa: BLE001 - the session store (Redis) is down: an apology, not a hang
                ref = new_reference()
                logger.error("apology sent (ref %s, channel %s): session_request failed: %s", ref, self.name(),
                             type(exc).__name__)
                await sio.emit(self.bot_message_evt, {"text": apology(ref)}, room=sid, namespace=namespace)
                return
            if verified:
                self.subjects[sid] = verified
            else:
                self.subjects.pop(sid, None)
            previous = self.sessions.get(sid)
            if previous is not None and previous != session.session_id and self.session_persistence:
                await sio.leave_room(sid, previous, namespace=namespace)
                await page(False, previous, sid)
            self.sessions[sid] = session.session_id
            if self.session_persistence:
                await sio.enter_room(sid, session.session_id, namespace=namespace)
                await page(True, session.session_id, sid)
            await sio.emit("session_confirm", {"session_id": session.session_id, "session_secret": session.secret},
                           room=sid, namespace=namespace)

        rate_limit = from_environment()

        @sio.on(self.user_message_evt, namespace=namespace)
        async def handle_message(sid: str, data: Any = None) -> None:
            error = message_error(data, self.session_persistence, self.metadata_key or "metadata")
            if error:
                await refuse(sid, error)
                return
            assert isinstance(data, dict)
            if self.session_persistence and data["session_id"] != self.sessions.get(sid):
                await refuse(sid, "\"session_id\" must be the session this socket joined (session_request first)")
                return
            sender_id = data["session_id"] if self.session_persistence else sid
            # no token in the message: the claim of the one this socket verified (bot/identity_claim.py)
            metadata = identity_claim.exchange(_metadata(data.get(self.metadata_key)) or {}, sender_id,
                                               self.subjects.get(sid), accept_token=False) or {}
            output = SocketIOOutput(sio, self.bot_message_evt)
            if not rate_limit.hit(sender_id):  # every message, per session (bot/rate_limit.py)
                await output.send_text_message(sender_id, SLOW_DOWN)
                return
            await on_new_message(
                UserMessage(data["message"], output, sender_id, input_channel=self.name(), metadata=metadata)
            )

        return webhook

