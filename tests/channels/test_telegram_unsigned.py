"""An unsigned Telegram webhook (no TELEGRAM_SECRET_TOKEN) is refused outside development by the channel
itself, not only by scripts/run.sh: anyone could otherwise post an update naming a linked customer's Telegram
id (issue 9, the messenger side of channel spoofing). Runs the real connector in a Sanic server of the Rasa
environment (Python 3.10) with a handler that records what reaches it; no live stack, no Telegram."""

from __future__ import annotations

import textwrap
from collections.abc import Iterator

import httpx
import pytest

from tests.channels.sanic_server import sanic_server

SERVER = textwrap.dedent("""
    import sys
    from sanic import Sanic, response
    from bot.channels import NovaTelegramInput

    app = Sanic("telegram_unsigned")
    reached = []
    async def handler(message):
        reached.append(message.sender_id)
    # a token but no secret; the Bot API base is a closed port (getMe and replies fail, which is logged only)
    channel = NovaTelegramInput("123:token", secret_token=None, api_url="http://127.0.0.1:9")
    app.blueprint(channel.blueprint(handler), url_prefix="/webhooks/telegram")
    @app.get("/reached")
    async def seen(_):
        return response.json(reached)
    app.run(host="127.0.0.1", port=int(sys.argv[1]), access_log=False)
""")

UPDATE = {"update_id": 7, "message": {"message_id": 1, "date": 1700000000, "text": "what is my balance?",
                                      "chat": {"id": 555000111, "type": "private"},
                                      "from": {"id": 555000111, "is_bot": False, "first_name": "A"}}}


@pytest.fixture
def _stack_database() -> None:
    """No live stack here (overrides tests/channels/conftest.py's autouse fixture)."""


@pytest.fixture
def production() -> Iterator[str]:
    yield from sanic_server(SERVER, "/reached", ENVIRONMENT="production")


@pytest.fixture
def development() -> Iterator[str]:
    yield from sanic_server(SERVER, "/reached", ENVIRONMENT="development")


def test_unsigned_updates_are_refused_outside_development(production: str) -> None:
    response = httpx.post(f"{production}/webhooks/telegram/webhook", json=UPDATE)
    assert response.status_code == 403 and "TELEGRAM_SECRET_TOKEN" in response.json()["error"], response.text
    assert httpx.get(f"{production}/reached").json() == []  # nothing reached the bot


def test_unsigned_updates_reach_the_bot_in_development(development: str) -> None:
    response = httpx.post(f"{development}/webhooks/telegram/webhook", json=UPDATE)
    assert response.status_code == 200, response.text
    assert httpx.get(f"{development}/reached").json() == ["555000111"]
