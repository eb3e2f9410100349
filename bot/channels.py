"""Custom Rasa input channels (listed in credentials.yml by module path)."""

from __future__ import annotations

import json
from typing import Any, Awaitable, Callable, Optional, Text

from sanic import Blueprint, response
from sanic.request import Request
from sanic.response import HTTPResponse

from rasa.core.channels.channel import UserMessage
from rasa.core.channels.rest import RestInput

MAX_SENDER_LENGTH = 256


def _bad_request(error: str) -> HTTPResponse:
    return response.json({"error": error}, status=400)


def validation_error(body: bytes) -> Optional[str]:
    """Why a REST webhook body is unusable, or None when it is a valid message.

    Valid: a JSON object with ``sender`` (a non-empty string), ``message`` (a string; empty and
    whitespace-only are allowed, the NLU fallback answers them) and optional ``metadata`` (an object or null).
    """
    if not body or not body.strip():
        return "empty request body: send a JSON object {\"sender\": ..., \"message\": ..., \"metadata\": {...}}"
    try:
        payload: Any = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        return "the request body is not valid JSON"
    if not isinstance(payload, dict):
        return f"the request body must be a JSON object, not {type(payload).__name__}"
    sender = payload.get("sender")
    if not isinstance(sender, str) or not sender.strip():
        return "\"sender\" is required and must be a non-empty string"
    if len(sender) > MAX_SENDER_LENGTH:
        return f"\"sender\" must be at most {MAX_SENDER_LENGTH} characters"
    if "message" not in payload or payload["message"] is None:
        return "\"message\" is required (a string)"
    if not isinstance(payload["message"], str):
        return "\"message\" must be a string"
    metadata = payload.get("metadata")
    if metadata is not None and not isinstance(metadata, dict):
        return "\"metadata\" must be a JSON object"
    return None


class NovaRestInput(RestInput):
    """Rasa's REST channel (same URL, /webhooks/rest/webhook) that answers 400 for a malformed request.

    Rasa's own channel answers 500 for an empty body, a JSON body that is not an object or metadata that is
    not an object, and passes a missing or non-string message on to the pipeline. Here each gets
    ``400 {"error": "..."}`` before anything reaches Rasa; valid requests are handled by RestInput as before.
    """

    @classmethod
    def name(cls) -> Text:
        return "rest"

    def blueprint(self, on_new_message: Callable[[UserMessage], Awaitable[None]]) -> Blueprint:
        webhook = super().blueprint(on_new_message)

        @webhook.middleware("request")
        async def validate(request: Request) -> Optional[HTTPResponse]:
            if request.method != "POST" or not request.path.rstrip("/").endswith("/webhook"):
                return None
            error = validation_error(request.body)
            return _bad_request(error) if error else None

        return webhook
