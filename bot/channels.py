"""Custom Rasa input channels (listed in credentials.yml by module path).

- ``NovaRestInput``: Rasa's REST channel plus 400 for malformed requests.
- ``NovaTelegramInput`` / ``NovaFacebookInput``: Rasa's Telegram and Messenger channels, configured from the
  environment (the variables profiles/settings.py reads), inert when their credentials are unset, with the
  webhook checks Rasa 3.6 lacks or gets wrong, outbound calls to a configurable base URL, and no crash or
  500 on odd updates. See docs/MESSENGERS.md.

This module runs inside the Rasa process: it imports Rasa's own packages only, never ours.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import os
import re
from collections.abc import Awaitable, Callable
from typing import Any

import requests
from aiogram import Bot
from aiogram.bot.api import TelegramAPIServer
from aiogram.types import Update
from rasa.core.channels.channel import InputChannel, UserMessage
from rasa.core.channels.facebook import FacebookInput, Messenger, MessengerBot
from rasa.core.channels.rest import RestInput
from rasa.core.channels.telegram import TelegramOutput
from sanic import Blueprint, response
from sanic.request import Request
from sanic.response import HTTPResponse

from bot import identity_claim
from bot.rate_limit import SLOW_DOWN, from_environment
from bot.reliability import install, never_silent

install()  # tracker store fails closed, bounded action-server calls (bot/reliability.py)
logger = logging.getLogger(__name__)

MAX_SENDER_LENGTH = 256
# A chat message longer than this is refused before the NLU sees it (one 5 MB message took 16 s of the event
# loop every conversation shares); the socket.io channel has the same limit.
MAX_MESSAGE_CHARS = 5000
MAX_BODY_BYTES = 64 * 1024
# Telegram chat ids and Messenger PSIDs are (optionally negative) integers, and they are those channels' Rasa
# sender ids: a REST or socket.io conversation under such an id would share that messenger user's tracker.
MESSENGER_SHAPED_ID = re.compile(r"-?[0-9]+")


def messenger_shaped(sender_id: str) -> bool:
    """Is ``sender_id`` in the messengers' id space (digits, optional leading ``-``)? Such ids are refused on
    the REST and socket.io channels, so a web conversation never shares a messenger user's tracker."""
    return MESSENGER_SHAPED_ID.fullmatch(sender_id.strip()) is not None


def _bad_request(error: str) -> HTTPResponse:
    return response.json({"error": error}, status=400)


def validation_error(body: bytes) -> str | None:
    """Why a REST webhook body is unusable, or None when it is a valid message.

    Valid: a JSON object with ``sender`` (a non-empty string), ``message`` (a string; empty and
    whitespace-only are allowed, the NLU fallback answers them) and optional ``metadata`` (an object or null)
    nested at most ``bot.json_limits.MAX_JSON_DEPTH`` levels (deeper ones made Rasa answer 500).
    """
    from bot.json_limits import MAX_JSON_DEPTH, too_deep  # (local: this function is the only user here)
    from bot.push_payloads import push_payload_error

    if len(body) > MAX_BODY_BYTES:
        return f"the request body is larger than {MAX_BODY_BYTES // 1024} kB"
    if not body or not body.strip():
        return "empty request body: send a JSON object {\"sender\": ..., \"message\": ..., \"metadata\": {...}}"
    try:
        payload: Any = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        return "the request body is not valid JSON"
    except RecursionError:  # json.loads itself gives up on ~1,000+ levels of nesting
        return "the request body is nested too deeply"
    if not isinstance(payload, dict):
        return f"the request body must be a JSON object, not {type(payload).__name__}"
    sender = payload.get("sender")
    if not isinstance(sender, str) or not sender.strip():
        return "\"sender\" is required and must be a non-empty string"
    if len(sender) > MAX_SENDER_LENGTH:
        return f"\"sender\" must be at most {MAX_SENDER_LENGTH} characters"
    if not sender.isprintable() or any("\ud800" <= ch <= "\udfff" for ch in sender):
        # a lone surrogate cannot be stored (the tracker store's encode fails on every later turn)
        return "\"sender\" must be printable text (no control characters or lone surrogates)"
    if messenger_shaped(sender):
        return "\"sender\" must not be only digits (that id space belongs to Telegram and Messenger): e.g. prefix it"
    if "message" not in payload or payload["message"] is None:
        return "\"message\" is required (a string)"
    if not isinstance(payload["message"], str):
        return "\"message\" must be a string"
    if len(payload["message"]) > MAX_MESSAGE_CHARS:
        return f"\"message\" must be at most {MAX_MESSAGE_CHARS} characters"
    if refused := push_payload_error(payload["message"]):
        return refused
    metadata = payload.get("metadata")
    if metadata is not None and not isinstance(metadata, dict):
        return "\"metadata\" must be a JSON object"
    return too_deep(metadata) or too_deep(payload, "the request body", MAX_JSON_DEPTH + 1)


class NovaRestInput(RestInput):
    """Rasa's REST channel (same URL, /webhooks/rest/webhook) that answers 400 for a malformed request.

    Rasa's own channel answers 500 for an empty body, a JSON body that is not an object or metadata that is
    not an object, and passes a missing or non-string message on to the pipeline. Here each gets
    ``400 {"error": "..."}`` before anything reaches Rasa; valid requests are handled by RestInput as before.
    A turn that fails or produces no reply answers the apology with a reference (bot/reliability.py), not ``[]``.

    Identity: every message is reported as channel ``rest`` (Rasa 3.6's RestInput takes ``input_channel``
    from the body, so a client could claim ``telegram`` and be treated as the linked messenger user), and a
    ``sender`` shaped like a messenger id (:func:`messenger_shaped`) is refused with 400.
    """

    @classmethod
    def name(cls) -> str:
        return "rest"

    def _extract_input_channel(self, req: Request) -> str:
        """Always ``rest``: the connector that received the message says which channel it came in on."""
        return self.name()

    def get_metadata(self, request: Request) -> dict[str, Any] | None:
        """The body's metadata with the customer token exchanged for the conversation's identity claim
        (bot/identity_claim.py): no bearer token reaches the tracker store, the event broker or a log."""
        body = request.json if isinstance(request.json, dict) else {}
        return identity_claim.exchange(body.get("metadata"), str(body.get("sender") or "default"))

    def blueprint(self, on_new_message: Callable[[UserMessage], Awaitable[None]]) -> Blueprint:
        self.rate_limit = from_environment()  # every message, per sender: bot/rate_limit.py
        webhook = super().blueprint(never_silent(on_new_message, self.name()))

        @webhook.middleware("request")
        async def validate(request: Request) -> HTTPResponse | None:
            if request.method != "POST" or not request.path.rstrip("/").endswith("/webhook"):
                return None
            error = validation_error(request.body)
            if error:
                return _bad_request(error)
            sender = json.loads(request.body)["sender"]
            if not self.rate_limit.hit(sender):  # 429 with the reply the customer sees, in the webhook's format
                return response.json([{"recipient_id": sender, "text": SLOW_DOWN}], status=429,
                                     headers={"Retry-After": str(int(self.rate_limit.window_s))})
            return None

        return webhook


# --- Telegram and Facebook Messenger ------------------------------------------------------------------------

#: A one-time link code as profiles/linking.py issues it (8 symbols without 0/O/1/I/L, optional separator).
_CODE = r"[2-9A-HJKMNP-Za-hjkmnp-z]{4}[\s-]?[2-9A-HJKMNP-Za-hjkmnp-z]{4}"
_BARE_CODE = re.compile(rf"\s*({_CODE})\s*")
_LINK_CODE = re.compile(rf"\s*(?:link|code|link code)\s*:?\s*({_CODE})\s*", re.IGNORECASE)
_START = re.compile(r"\s*/start(?:@\w+)?(?:\s+(\S+))?\s*", re.IGNORECASE)
HTTP_TIMEOUT_S = 10.0


def setting(credentials: dict[str, Any] | None, key: str, env: str, default: str | None = None) -> str | None:
    """A channel setting: credentials.yml's ``key`` if given (non-empty), else the environment variable ``env``
    (the same names profiles/settings.py reads), else ``default``."""
    value = (credentials or {}).get(key)
    if value is None or str(value).strip() == "":
        value = os.environ.get(env, "").strip() or default
    return None if value is None else str(value)


def _canonical(code: str) -> str:
    plain = re.sub(r"[\s-]", "", code).upper()
    return f"{plain[:4]}-{plain[4:]}"


def messenger_text(text: str) -> str:
    """What a typed messenger message means to the NLU.

    - Telegram's ``/start`` (``/start <code>`` from a https://t.me/<bot>?start=<code> link): ``link <code>``,
      or ``hello`` without one;
    - a message that is only a link code (with at least one digit, so no ordinary word): ``link <code>``;
    - any other leading ``/`` is dropped: a typed message never reaches Rasa as ``/intent{entities}``
      (buttons' payloads are not typed text and are passed on unchanged by the channels).
    """
    start = _START.fullmatch(text)
    if start:
        payload = start.group(1) or ""
        return f"link {_canonical(payload)}" if re.fullmatch(_CODE, payload) else "hello"
    bare = _BARE_CODE.fullmatch(text)
    if bare and any(ch.isdigit() for ch in bare.group(1)):
        return f"link {_canonical(bare.group(1))}"
    linked = _LINK_CODE.fullmatch(text)
    if linked:  # "link 7kq29xpa" -> "link 7KQ2-9XPA", the form the NLU is trained on
        return f"link {_canonical(linked.group(1))}"
    return text.lstrip().lstrip("/")


def _json_error(status: int, error: str) -> HTTPResponse:
    return response.json({"error": error}, status=status)


def _json_object(body: bytes) -> tuple[dict[str, Any] | None, str | None]:
    """(the body as a JSON object, None) or (None, why it is unusable)."""
    try:
        payload = json.loads(body or b"")
    except (ValueError, UnicodeDecodeError):
        return None, "the request body is not valid JSON"
    if not isinstance(payload, dict):
        return None, "the request body must be a JSON object"
    return payload, None


class NovaTelegramOutput(TelegramOutput):
    """Rasa's Telegram output channel (aiogram ``Bot``) talking to ``api_url`` (Bot API base URL) instead of
    always https://api.telegram.org."""

    def __init__(self, access_token: str, api_url: str = "https://api.telegram.org") -> None:
        Bot.__init__(self, access_token, server=TelegramAPIServer.from_base(api_url), timeout=HTTP_TIMEOUT_S)


class NovaTelegramInput(InputChannel):
    """Telegram webhook at ``/webhooks/telegram/webhook`` (POST, a Bot API ``Update`` as JSON).

    Settings (credentials.yml keys, else environment): ``access_token`` / TELEGRAM_TOKEN (the channel is off
    without it: the webhook answers 404), ``verify`` / TELEGRAM_BOT_NAME (the bot's username, checked once with
    getMe at start-up), ``secret_token`` / TELEGRAM_SECRET_TOKEN, ``webhook_url`` / TELEGRAM_WEBHOOK_URL
    (public URL of the webhook; setWebhook is called at start-up only when set), ``api_url`` /
    TELEGRAM_API_URL (Bot API base, default https://api.telegram.org).

    Differences from Rasa 3.6's TelegramInput:
    - with a secret token, an update without the right ``X-Telegram-Bot-Api-Secret-Token`` header is refused
      (403); setWebhook passes the secret to Telegram; without one, updates are accepted only when
      ``ENVIRONMENT`` is ``development`` (403 otherwise: an unsigned update could name any Telegram user);
    - ``get_output_channel`` does not call setWebhook through ``asyncio.run`` (Rasa's does, which fails inside
      the running loop whenever Rasa asks for the output channel of an external event: RasaHQ/rasa#10666);
      setWebhook runs once, in the server's loop, after start-up;
    - getMe is called once at start-up, not for every update;
    - only private chats are answered (a group chat id must never act as one customer's messenger account);
      edited messages, joins, stickers etc. are acknowledged and ignored; a body that is not an update is a
      400; a failure while answering is logged and acknowledged with 200 (Telegram would otherwise resend
      the same update again and again), never a 500.
    """

    @classmethod
    def name(cls) -> str:
        return "telegram"

    @classmethod
    def from_credentials(cls, credentials: dict[str, Any] | None) -> InputChannel:
        return cls(
            access_token=setting(credentials, "access_token", "TELEGRAM_TOKEN"),
            verify=setting(credentials, "verify", "TELEGRAM_BOT_NAME"),
            webhook_url=setting(credentials, "webhook_url", "TELEGRAM_WEBHOOK_URL"),
            secret_token=setting(credentials, "secret_token", "TELEGRAM_SECRET_TOKEN"),
            api_url=setting(credentials, "api_url", "TELEGRAM_API_URL", "https://api.telegram.org"),
        )

    def __init__(
        self,
        access_token: str | None,
        verify: str | None = None,
        webhook_url: str | None = None,
        secret_token: str | None = None,
        api_url: str | None = None,
    ) -> None:
        self.access_token = access_token
        self.verify = verify
        self.webhook_url = webhook_url
        self.secret_token = secret_token
        self.api_url = api_url or "https://api.telegram.org"
        self._output: NovaTelegramOutput | None = None
        # Without a secret token anyone can post an update naming any Telegram user id, i.e. act as a linked
        # customer: accepted in development only (a local bot without a public webhook), refused elsewhere.
        self.unsigned_allowed = os.environ.get("ENVIRONMENT", "development") == "development"
        if not access_token:
            logger.info("telegram channel off: TELEGRAM_TOKEN is not set")
        elif not secret_token and self.unsigned_allowed:
            logger.warning("telegram: TELEGRAM_SECRET_TOKEN is not set: the webhook accepts updates from anyone "
                           "(development only)")
        elif not secret_token:
            logger.error("telegram: TELEGRAM_SECRET_TOKEN is not set: every update is refused outside development")

    @property
    def enabled(self) -> bool:
        return bool(self.access_token)

    def get_output_channel(self) -> NovaTelegramOutput | None:  # type: ignore[override]
        """The bot that sends replies (one per process; no network call here)."""
        if not self.enabled:
            return None
        if self._output is None:
            self._output = NovaTelegramOutput(str(self.access_token), self.api_url)
        return self._output

    async def _start_up(self) -> None:
        """getMe (is the token this bot's?) and, with a webhook URL, setWebhook; failures are logged only."""
        bot = self.get_output_channel()
        if bot is None:
            return
        try:
            me = await bot.get_me()
            if self.verify and me.username != self.verify:
                logger.error("telegram: the token belongs to @%s, not to TELEGRAM_BOT_NAME @%s", me.username, self.verify)
        except Exception as exc:  # noqa: BLE001 - start-up must not fail on Telegram being unreachable
            logger.error("telegram: getMe failed: %s", exc)
        if not self.webhook_url:
            return
        data: dict[str, Any] = {"url": self.webhook_url}
        if self.secret_token:
            data["secret_token"] = self.secret_token
        try:
            await bot.request("setWebhook", data)
            logger.info("telegram: webhook set to %s", self.webhook_url)
        except Exception as exc:  # noqa: BLE001
            logger.error("telegram: setWebhook failed: %s", exc)

    @staticmethod
    def _incoming(update: Update) -> tuple[Any | None, str | None, str | None]:
        """(message, text for Rasa, why it is ignored)."""
        if update.callback_query is not None and update.callback_query.message is not None:
            return update.callback_query.message, update.callback_query.data, None  # a button's payload
        msg = update.message
        if msg is None:
            return None, None, "not a new message (edited message, channel post, membership change ...)"
        if msg.text is not None:
            return msg, messenger_text(msg.text), None
        if msg.location is not None:
            return msg, f'{{"lng":{msg.location.longitude}, "lat":{msg.location.latitude}}}', None
        return None, None, "a message without text"

    def blueprint(self, on_new_message: Callable[[UserMessage], Awaitable[Any]]) -> Blueprint:
        webhook = Blueprint("nova_telegram_webhook", __name__)
        on_new_message = never_silent(on_new_message, self.name())

        @webhook.listener("after_server_start")
        async def start_up(app: Any, loop: Any) -> None:
            await self._start_up()

        @webhook.route("/", methods=["GET"])
        async def health(_: Request) -> HTTPResponse:
            return response.json({"status": "ok" if self.enabled else "off"})

        @webhook.route("/webhook", methods=["POST"])
        async def message(request: Request) -> HTTPResponse:
            if not self.enabled:
                return _json_error(404, "the Telegram channel is off: TELEGRAM_TOKEN is not set")
            if not self.secret_token and not self.unsigned_allowed:
                return _json_error(403, "TELEGRAM_SECRET_TOKEN is not set: updates are refused outside development")
            if self.secret_token:
                given = request.headers.get("X-Telegram-Bot-Api-Secret-Token") or ""
                if not hmac.compare_digest(given.encode(), self.secret_token.encode()):
                    logger.warning("telegram: update refused: wrong or missing X-Telegram-Bot-Api-Secret-Token")
                    return _json_error(403, "wrong or missing X-Telegram-Bot-Api-Secret-Token")
            payload, error = _json_object(request.body)
            if payload is None:
                return _json_error(400, error or "bad request")
            try:
                update = Update(**payload)
                msg, text, ignored = self._incoming(update)
                chat = msg.chat if msg is not None else None
            except Exception as exc:  # noqa: BLE001 - aiogram raises assorted errors on malformed updates
                return _json_error(400, f"not a Telegram update: {exc}")
            if ignored or msg is None or text is None:
                return response.json({"status": "ignored", "reason": ignored or "no text"})
            if chat is None or chat.id is None:
                return _json_error(400, "not a Telegram update: the message has no chat")
            if chat.type != "private":
                return response.json({"status": "ignored", "reason": "only private chats are answered"})
            try:
                await on_new_message(UserMessage(
                    text, self.get_output_channel(), str(chat.id), input_channel=self.name(),
                    metadata=identity_claim.messenger_metadata(self.get_metadata(request), self.name(), str(chat.id)),
                ))
            except Exception:  # noqa: BLE001
                logger.exception("telegram: could not answer update %s", payload.get("update_id"))
                return response.json({"status": "error", "reason": "the reply could not be produced or delivered"})
            return response.json({"status": "ok"})

        return webhook


class _TimeoutSession(requests.Session):
    """requests session with a default timeout: fbmessenger sends without one, and it blocks Rasa's loop."""

    def request(self, method: Any, url: Any, *args: Any, **kwargs: Any) -> requests.Response:  # type: ignore[override]
        if kwargs.get("timeout") is None:
            kwargs["timeout"] = HTTP_TIMEOUT_S
        return super().request(method, url, *args, **kwargs)


def _graph_client(messenger_client: Any, api_url: str, api_version: str) -> Any:
    """Point an fbmessenger ``MessengerClient`` at ``api_url`` (Graph API base) and give it timeouts."""
    messenger_client.graph_url = f"{api_url.rstrip('/')}/v{api_version}"
    messenger_client.session = _TimeoutSession()
    return messenger_client


class NovaMessenger(Messenger):
    """Rasa's Messenger handler with a configurable Graph API base URL; handles every event in a batch
    (Rasa's stops after the first) and rewrites typed text with :func:`messenger_text`."""

    def __init__(self, page_access_token: str, on_new_message: Callable[[UserMessage], Awaitable[Any]],
                 api_url: str, api_version: str) -> None:
        super().__init__(page_access_token, on_new_message)
        _graph_client(self.client, api_url, api_version)

    async def handle(self, payload: dict, metadata: dict[str, Any] | None) -> None:
        for entry in payload.get("entry") or []:
            for event in (entry.get("messaging") or []) if isinstance(entry, dict) else []:
                if not isinstance(event, dict) or not isinstance(event.get("sender"), dict):
                    continue
                self.last_message = event
                # this event's sender passed the batch's X-Hub-Signature-256 check: the connector's proof
                proven = identity_claim.messenger_metadata(metadata, "facebook", str(event["sender"].get("id")))
                if event.get("message"):
                    await self.message(event, proven)
                elif event.get("postback"):
                    await self.postback(event, proven)

    async def message(self, message: dict[str, Any], metadata: dict[str, Any] | None) -> None:
        if self._is_user_message(message) and not self._is_quick_reply_message(message):
            message = {**message, "message": {**message["message"], "text": messenger_text(message["message"]["text"])}}
        await super().message(message, metadata)


class NovaFacebookInput(FacebookInput):
    """Facebook Messenger webhook at ``/webhooks/facebook/webhook``.

    Settings (credentials.yml keys, else environment): ``secret`` / FACEBOOK_SECRET (the app secret) and
    ``page-access-token`` / FACEBOOK_PAGE_ACCESS_TOKEN (the channel is off without both: 404), ``verify`` /
    FACEBOOK_VERIFY (the token Facebook echoes when subscribing the webhook), ``api_url`` / FACEBOOK_API_URL
    (Graph API base, default https://graph.facebook.com), ``api_version`` / FACEBOOK_API_VERSION (18.0).

    Differences from Rasa 3.6's FacebookInput:
    - POSTs are checked against ``X-Hub-Signature-256: sha256=<HMAC-SHA256 of the raw body with the app
      secret>`` (what Meta sends today; Rasa checks the legacy SHA-1 ``X-Hub-Signature``) and refused with
      403 when it is missing or wrong (Rasa answers 200 "not validated");
    - GET subscription: ``hub.mode=subscribe`` and the right ``hub.verify_token`` -> the challenge, else 403;
    - a body that is not a page event is a 400; failures while answering are logged and acknowledged (200);
    - ``get_output_channel`` gives a Messenger sender, so Rasa's external events (proactive messages) reach
      the customer (Rasa's returns none).
    """

    @classmethod
    def name(cls) -> str:
        return "facebook"

    @classmethod
    def from_credentials(cls, credentials: dict[str, Any] | None) -> InputChannel:
        return cls(
            setting(credentials, "verify", "FACEBOOK_VERIFY"),
            setting(credentials, "secret", "FACEBOOK_SECRET"),
            setting(credentials, "page-access-token", "FACEBOOK_PAGE_ACCESS_TOKEN"),
            api_url=setting(credentials, "api_url", "FACEBOOK_API_URL", "https://graph.facebook.com"),
            api_version=setting(credentials, "api_version", "FACEBOOK_API_VERSION", "18.0"),
        )

    def __init__(self, fb_verify: str | None, fb_secret: str | None, fb_access_token: str | None,
                 api_url: str | None = None, api_version: str | None = None) -> None:
        super().__init__(fb_verify or "", fb_secret or "", fb_access_token or "")
        self.api_url = api_url or "https://graph.facebook.com"
        self.api_version = api_version or "18.0"
        if not self.enabled:
            logger.info("facebook channel off: FACEBOOK_SECRET or FACEBOOK_PAGE_ACCESS_TOKEN is not set")

    @property
    def enabled(self) -> bool:
        return bool(self.fb_secret and self.fb_access_token)

    @staticmethod
    def signature_ok(secret: str, body: bytes, header: str | None) -> bool:
        """Is ``header`` ``sha256=<hex HMAC-SHA256 of body with secret>``? (constant-time comparison)"""
        if not header or not header.startswith("sha256="):
            return False
        expected = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
        return hmac.compare_digest(header[len("sha256="):].strip().lower(), expected)

    def get_output_channel(self) -> MessengerBot | None:  # type: ignore[override]
        """A Messenger sender for messages Rasa sends on its own (external events), or None when off."""
        if not self.enabled:
            return None
        from fbmessenger import MessengerClient

        return MessengerBot(_graph_client(MessengerClient(self.fb_access_token), self.api_url, self.api_version))

    def blueprint(self, on_new_message: Callable[[UserMessage], Awaitable[Any]]) -> Blueprint:
        webhook = Blueprint("nova_fb_webhook", __name__)
        on_new_message = never_silent(on_new_message, self.name())

        @webhook.route("/", methods=["GET"])
        async def health(_: Request) -> HTTPResponse:
            return response.json({"status": "ok" if self.enabled else "off"})

        @webhook.route("/webhook", methods=["GET"])
        async def subscribe(request: Request) -> HTTPResponse:
            token = request.args.get("hub.verify_token") or ""
            if (self.enabled and self.fb_verify and request.args.get("hub.mode") == "subscribe"
                    and hmac.compare_digest(token.encode(), self.fb_verify.encode())):
                return response.text(request.args.get("hub.challenge") or "")
            logger.warning("facebook: webhook subscription refused (wrong hub.verify_token or channel off)")
            return _json_error(403, "wrong hub.verify_token")

        @webhook.route("/webhook", methods=["POST"])
        async def receive(request: Request) -> HTTPResponse:
            if not self.enabled:
                return _json_error(404, "the Messenger channel is off: FACEBOOK_SECRET or FACEBOOK_PAGE_ACCESS_TOKEN is not set")
            if not self.signature_ok(self.fb_secret, request.body or b"", request.headers.get("X-Hub-Signature-256")):
                logger.warning("facebook: event refused: wrong or missing X-Hub-Signature-256")
                return _json_error(403, "wrong or missing X-Hub-Signature-256")
            payload, error = _json_object(request.body)
            if payload is None:
                return _json_error(400, error or "bad request")
            if payload.get("object") != "page" or not isinstance(payload.get("entry"), list):
                return _json_error(400, "not a Messenger page event: expected {\"object\": \"page\", \"entry\": [...]}")
            messenger = NovaMessenger(self.fb_access_token, on_new_message, self.api_url, self.api_version)
            try:
                await messenger.handle(payload, self.get_metadata(request))
            except Exception:  # noqa: BLE001
                logger.exception("facebook: could not answer an event")
                return response.json({"status": "error", "reason": "the reply could not be produced or delivered"})
            return response.json({"status": "ok"})

        return webhook
