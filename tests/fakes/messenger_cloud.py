"""A local stand-in for the Telegram Bot API and Facebook's Graph API send endpoint, for tests.

``MessengerCloud`` is a real HTTP server (the standard library's ``ThreadingHTTPServer`` on a free port of
127.0.0.1, in a background thread) that answers the subset Rasa's clients call:

- Telegram Bot API, ``/bot<token>/<method>`` (aiogram 2 posts form fields; JSON and query strings work too):
  ``getMe`` (the bot's username), ``sendMessage`` (echoes a Message), ``setWebhook`` / ``deleteWebhook`` /
  ``sendChatAction`` (true); another method -> 404 like Telegram; a wrong token -> 401 ``Unauthorized``.
- Graph API, ``POST /v<version>/me/messages?access_token=...`` (fbmessenger posts JSON): messages and sender
  actions -> ``{"recipient_id", "message_id"}``; a wrong page token -> 400 OAuthException code 190.

Every request is recorded (``requests``: service, method, path, API method, parsed params) whatever its
outcome. ``fail(service, status)`` makes the next sends of a service fail with that HTTP status (to test a
channel that is down). Point Rasa at it with ``rasa_env()`` (TELEGRAM_API_URL, FACEBOOK_API_URL and the
tokens bot/channels.py reads).
"""

from __future__ import annotations

import email.parser
import email.policy
import hashlib
import hmac
import itertools
import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlsplit


@dataclass(frozen=True)
class Recorded:
    """One request the fake received. ``params``: query string, form fields or JSON body merged."""

    service: str  # telegram | facebook | unknown
    http_method: str
    path: str
    api_method: str  # sendMessage, getMe, ... (Telegram); messages (Graph API)
    params: dict[str, Any]
    status: int
    at: float = field(default_factory=time.time)


def _parse_body(content_type: str, body: bytes) -> dict[str, Any]:
    if not body:
        return {}
    if content_type.startswith("application/json"):
        value = json.loads(body)
        return value if isinstance(value, dict) else {"_body": value}
    if content_type.startswith("application/x-www-form-urlencoded"):
        return dict(parse_qsl(body.decode(), keep_blank_values=True))
    if content_type.startswith("multipart/form-data"):
        message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(
            f"Content-Type: {content_type}\r\n\r\n".encode() + body
        )
        parts: dict[str, Any] = {}
        for part in message.iter_parts():
            name = part.get_param("name", header="content-disposition")
            if name:
                parts[str(name)] = part.get_content()
        return parts
    return {"_body": body.decode(errors="replace")}


class MessengerCloud:
    """The fake Telegram + Graph API server (see the module docstring). Use ``with MessengerCloud() as cloud``
    or ``start()`` / ``stop()``."""

    def __init__(
        self,
        *,
        telegram_token: str = "123456789:TEST-telegram-token_for-nova",
        telegram_bot_name: str = "nova_test_bot",
        telegram_secret_token: str = "telegram-secret-for-tests",
        facebook_page_token: str = "EAAB-test-page-token",
        facebook_secret: str = "facebook-app-secret-for-tests",
        facebook_verify: str = "facebook-verify-for-tests",
    ) -> None:
        self.telegram_token = telegram_token
        self.telegram_bot_name = telegram_bot_name
        self.telegram_secret_token = telegram_secret_token
        self.facebook_page_token = facebook_page_token
        self.facebook_secret = facebook_secret
        self.facebook_verify = facebook_verify
        self.requests: list[Recorded] = []
        self._failures: dict[str, int] = {}
        self._lock = threading.Lock()
        self._ids = itertools.count(1000)
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # --- life cycle ------------------------------------------------------------------------------------
    def start(self) -> MessengerCloud:
        cloud = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                cloud._handle(self)

            def do_POST(self) -> None:
                cloud._handle(self)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, name="messenger-cloud", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def __enter__(self) -> MessengerCloud:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def url(self) -> str:
        assert self._server is not None, "MessengerCloud is not started"
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def rasa_env(self) -> dict[str, str]:
        """The environment that turns on bot/channels.py's Telegram and Messenger channels against this fake."""
        return {
            "TELEGRAM_TOKEN": self.telegram_token,
            "TELEGRAM_BOT_NAME": self.telegram_bot_name,
            "TELEGRAM_SECRET_TOKEN": self.telegram_secret_token,
            "TELEGRAM_API_URL": self.url,
            "FACEBOOK_SECRET": self.facebook_secret,
            "FACEBOOK_PAGE_ACCESS_TOKEN": self.facebook_page_token,
            "FACEBOOK_VERIFY": self.facebook_verify,
            "FACEBOOK_API_URL": self.url,
        }

    # --- what tests look at ----------------------------------------------------------------------------
    def fail(self, service: str, status: int | None) -> None:
        """Answer the service's sends with HTTP ``status`` from now on (None: succeed again)."""
        with self._lock:
            if status is None:
                self._failures.pop(service, None)
            else:
                self._failures[service] = status

    def recorded(self, service: str | None = None, api_method: str | None = None) -> list[Recorded]:
        with self._lock:
            return [r for r in self.requests if (service is None or r.service == service)
                    and (api_method is None or r.api_method == api_method)]

    def telegram_texts(self, chat_id: int | str) -> list[str]:
        """Texts sent with sendMessage to ``chat_id``, oldest first."""
        return [str(r.params.get("text")) for r in self.recorded("telegram", "sendMessage")
                if str(r.params.get("chat_id")) == str(chat_id) and r.status == 200]

    def facebook_texts(self, psid: str) -> list[str]:
        """Texts sent to the Messenger user ``psid``, oldest first."""
        texts = []
        for r in self.recorded("facebook", "messages"):
            recipient = r.params.get("recipient") or {}
            message = r.params.get("message") or {}
            if r.status == 200 and isinstance(message, dict) and str(recipient.get("id")) == str(psid):
                text = message.get("text") or (message.get("attachment") or {}).get("payload", {}).get("text")
                if text:
                    texts.append(str(text))
        return texts

    def wait_for(self, condition: Callable[[], Any], timeout: float = 30.0) -> Any:
        """Poll ``condition`` until it is truthy (and return it) or ``timeout`` seconds pass (then raise)."""
        deadline = time.monotonic() + timeout
        while True:
            value = condition()
            if value:
                return value
            if time.monotonic() > deadline:
                raise AssertionError(f"condition not met in {timeout:.0f} s; requests: {self.requests[-5:]}")
            time.sleep(0.1)

    # --- signing helpers (what Facebook / Telegram would send to the webhook) -------------------------------
    def facebook_signature(self, body: bytes, secret: str | None = None) -> str:
        """``X-Hub-Signature-256`` for ``body``: ``sha256=`` + hex HMAC-SHA256 with the app secret."""
        key = (secret if secret is not None else self.facebook_secret).encode()
        return "sha256=" + hmac.new(key, body, hashlib.sha256).hexdigest()

    # --- the server --------------------------------------------------------------------------------------
    def _handle(self, h: BaseHTTPRequestHandler) -> None:
        split = urlsplit(h.path)
        params: dict[str, Any] = dict(parse_qsl(split.query, keep_blank_values=True))
        length = int(h.headers.get("Content-Length") or 0)
        body = h.rfile.read(length) if length else b""
        try:
            params.update(_parse_body(h.headers.get("Content-Type") or "", body))
        except (ValueError, UnicodeDecodeError):
            params["_unparsed"] = body.decode(errors="replace")
        parts = [p for p in split.path.split("/") if p]
        if parts and parts[0].startswith("bot"):
            service, api_method = "telegram", parts[1] if len(parts) > 1 else ""
            status, payload = self._telegram(parts[0][3:], api_method, params)
        elif len(parts) == 3 and parts[0].startswith("v") and parts[1:] == ["me", "messages"]:
            service, api_method = "facebook", "messages"
            status, payload = self._facebook(params)
        else:
            service, api_method, status, payload = "unknown", "", 404, {"error": "not found"}
        with self._lock:
            self.requests.append(Recorded(service, h.command, split.path, api_method, params, status))
        data = json.dumps(payload).encode()
        h.send_response(status)
        h.send_header("Content-Type", "application/json")
        h.send_header("Content-Length", str(len(data)))
        h.end_headers()
        h.wfile.write(data)

    def _telegram(self, token: str, method: str, params: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        if token != self.telegram_token:
            return 401, {"ok": False, "error_code": 401, "description": "Unauthorized"}
        bot = {"id": int(self.telegram_token.split(":")[0]), "is_bot": True, "first_name": "Nova",
               "username": self.telegram_bot_name}
        name = method.lower()
        if name == "getme":
            return 200, {"ok": True, "result": bot}
        if name in ("setwebhook", "deletewebhook", "sendchataction"):
            return 200, {"ok": True, "result": True, "description": "Webhook was set" if name == "setwebhook" else ""}
        if name == "sendmessage":
            failure = self._failures.get("telegram")
            if failure:
                return failure, {"ok": False, "error_code": failure, "description": "Internal Server Error"}
            if not params.get("chat_id") or not params.get("text"):
                return 400, {"ok": False, "error_code": 400, "description": "Bad Request: message text is empty"}
            chat_id = str(params["chat_id"])
            chat: dict[str, Any] = {"id": int(chat_id) if chat_id.lstrip("-").isdigit() else chat_id, "type": "private"}
            return 200, {"ok": True, "result": {"message_id": next(self._ids), "date": int(time.time()), "chat": chat,
                                                "from": bot, "text": params["text"]}}
        return 404, {"ok": False, "error_code": 404, "description": "Not Found: method not found"}

    def _facebook(self, params: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        if params.get("access_token") != self.facebook_page_token:
            return 400, {"error": {"message": "Invalid OAuth access token.", "type": "OAuthException", "code": 190}}
        recipient = params.get("recipient") or {}
        if not isinstance(recipient, dict) or not recipient.get("id"):
            return 400, {"error": {"message": "(#100) The parameter recipient is required", "type": "OAuthException",
                                   "code": 100}}
        failure = self._failures.get("facebook")
        if failure and "message" in params:
            return failure, {"error": {"message": "An unexpected error has occurred.", "type": "OAuthException",
                                       "code": 2, "is_transient": True}}
        return 200, {"recipient_id": str(recipient["id"]), "message_id": f"m_{next(self._ids)}"}
