"""A real Sanic server with only our socket.io channel (bot/socketio_channel.py), for handshake tests.

Run with the Rasa environment (Python 3.10): ``.venv-rasa/bin/python -m tests.fakes.socketio_server PORT``.
It reads the environment as Rasa would (``ENVIRONMENT``, ``WEB_CHAT_ORIGINS``, ``REDIS_HOST`` ...), takes
the channel's entry of bot/credentials.yml, and answers every message with one bot message
``"echo <sender_id>: <text>"`` through the message's output channel (so a socket receives exactly what
Rasa would send to that conversation). Prints ``socketio test server ready`` once listening.
"""

from __future__ import annotations

import sys
from pathlib import Path

import yaml
from rasa.core.channels.channel import UserMessage
from sanic import Sanic

from bot.socketio_channel import NovaSocketIOInput

ROOT = Path(__file__).resolve().parents[2]


def main() -> None:
    port = int(sys.argv[1])
    credentials = yaml.safe_load((ROOT / "bot" / "credentials.yml").read_text())
    channel = NovaSocketIOInput.from_credentials(credentials["bot.socketio_channel.NovaSocketIOInput"])

    async def on_new_message(message: UserMessage) -> None:
        await message.output_channel.send_text_message(message.sender_id, f"echo {message.sender_id}: {message.text}")

    app = Sanic(f"socketio_test_{port}")
    app.blueprint(channel.blueprint(on_new_message))

    @app.listener("after_server_start")
    async def ready(*_: object) -> None:
        print("socketio test server ready", flush=True)

    app.run(host="127.0.0.1", port=port, access_log=False, workers=1)  # Sanic 21.12, as Rasa 3.6 runs


if __name__ == "__main__":
    main()
