"""bot/channels.py's Telegram and Messenger connectors without credentials: they stay off (health ``off``,
webhooks 404) instead of failing Rasa's start-up. Runs the real connector classes in a Sanic server of the
Rasa environment (Python 3.10), without a model, so no live stack is needed."""

from __future__ import annotations

import textwrap
from collections.abc import Iterator

import httpx
import pytest

from tests.channels.sanic_server import sanic_server

SERVER = textwrap.dedent("""
    import sys
    from sanic import Sanic
    from bot.channels import NovaFacebookInput, NovaRestInput, NovaTelegramInput

    app = Sanic("channels_off")
    async def handler(message):
        raise AssertionError("no message may reach Rasa")
    for channel in (NovaTelegramInput.from_credentials(None), NovaFacebookInput.from_credentials(None)):
        assert channel.get_output_channel() is None
        app.blueprint(channel.blueprint(handler), url_prefix=f"/webhooks/{channel.name()}")
    async def echo_channel(message):  # the REST channel answers with the channel Rasa would be told
        await message.output_channel.send_text_message(message.sender_id, message.input_channel)
    app.blueprint(NovaRestInput().blueprint(echo_channel), url_prefix="/webhooks/rest")
    app.run(host="127.0.0.1", port=int(sys.argv[1]), access_log=False)
""")


@pytest.fixture
def _stack_database() -> None:
    """No live stack here (overrides tests/channels/conftest.py's autouse fixture)."""


@pytest.fixture
def channels_off() -> Iterator[str]:
    yield from sanic_server(SERVER, "/webhooks/telegram/")


def test_channels_without_credentials_are_off(channels_off: str) -> None:
    for channel in ("telegram", "facebook"):
        assert httpx.get(f"{channels_off}/webhooks/{channel}/").json() == {"status": "off"}
        response = httpx.post(f"{channels_off}/webhooks/{channel}/webhook", json={"update_id": 1})
        assert response.status_code == 404 and "is off" in response.json()["error"], response.text
    subscribe = httpx.get(f"{channels_off}/webhooks/facebook/webhook",
                          params={"hub.mode": "subscribe", "hub.verify_token": "", "hub.challenge": "1"})
    assert subscribe.status_code == 403


def test_rest_channel_reports_rest_whatever_the_body_claims(channels_off: str) -> None:
    """With both messenger channels off, a REST body claiming one is still a REST message, and a sender id
    in the messengers' id space is refused."""
    url = f"{channels_off}/webhooks/rest/webhook"
    for claimed in ("telegram", "facebook", "socketio", None):
        body = {"sender": "web-visitor", "message": "hi", **({"input_channel": claimed} if claimed else {})}
        response = httpx.post(url, json=body)
        assert response.status_code == 200 and [m["text"] for m in response.json()] == ["rest"], response.text
    for sender in ("123456789", "-1001234567890", " 42 "):
        response = httpx.post(url, json={"sender": sender, "message": "hi", "input_channel": "telegram"})
        assert response.status_code == 400 and "sender" in response.json()["error"], response.text
