"""Never silent on every channel (issue 12 item 2): with the action server killed or the tracker store's Redis
down, a customer on the web chat (socket.io), Telegram and Messenger gets the apology with a reference on that
channel, as on REST (tests/faults/test_never_silent.py). Real Rasa with bot/channels.py and
bot/socketio_channel.py; Telegram's Bot API and the Graph API are the local fake (tests/fakes/messenger_cloud.py)
that Rasa's connectors send to, with the real update formats and signatures (tests/channels/conftest.py).
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest
import socketio

from tests.channels.conftest import facebook_say, new_id, telegram_say
from tests.faults.conftest import FaultStack
from tests.faults.test_never_silent import APOLOGY, FAQ

pytestmark = pytest.mark.e2e

BALANCE = "what's my balance?"  # a custom action answers it, also for a customer who is not signed in
REPLY_S = 60.0


async def _web_chat(url: str, texts: list[str]) -> list[list[str]]:
    """Open a web-chat socket (as widget.js does: ``session_request``, then ``user_uttered``) and send ``texts``
    one by one; the bot messages received for each. When the chat cannot start a session, the first element is
    what the socket received instead of ``session_confirm`` (and nothing is sent)."""
    client = socketio.AsyncClient(reconnection=False)
    received: list[str] = []
    confirmed: asyncio.Queue[Any] = asyncio.Queue()
    client.on("bot_uttered", lambda m: received.append(str(m.get("text") or "")))
    client.on("session_confirm", confirmed.put)
    await client.connect(url, transports=["websocket"], wait_timeout=10)
    try:
        await client.emit("session_request", {"session_id": None})
        deadline = time.monotonic() + REPLY_S
        while confirmed.empty():
            if received:
                return [list(received)]
            assert time.monotonic() < deadline, "silence on the web chat: no session_confirm and no message"
            await asyncio.sleep(0.1)
        session = confirmed.get_nowait()
        session_id = session if isinstance(session, str) else session["session_id"]
        turns = []
        for text in texts:
            before = len(received)
            await client.emit("user_uttered", {"message": text, "session_id": session_id})
            deadline = time.monotonic() + REPLY_S
            while len(received) == before:
                assert time.monotonic() < deadline, f"silence on the web chat after {text!r}"
                await asyncio.sleep(0.1)
            turns.append(received[before:])
        return turns
    finally:
        await client.disconnect()


def _is_apology(texts: list[str]) -> bool:
    return bool(texts) and bool(APOLOGY.match(texts[-1]))


def test_web_chat_gets_the_apology_when_the_action_server_is_down(fault_stack: FaultStack) -> None:
    fault_stack.kill_actions()
    try:
        [turn] = asyncio.run(_web_chat(fault_stack.rasa_url, [BALANCE]))
    finally:
        fault_stack.start_actions()
    assert _is_apology(turn), turn
    [after] = asyncio.run(_web_chat(fault_stack.rasa_url, [BALANCE]))
    assert not _is_apology(after), after  # the same question works again once the server is back


def test_web_chat_gets_the_apology_when_redis_is_down(fault_stack: FaultStack, tracker_redis_down: None) -> None:
    """Redis holds the web sessions and the trackers: opening the chat gets the apology, not a page waiting for
    ``session_confirm`` forever."""
    [turn] = asyncio.run(_web_chat(fault_stack.rasa_url, [FAQ]))
    assert _is_apology(turn), turn


def test_telegram_gets_the_apology_when_the_action_server_is_down(fault_stack: FaultStack) -> None:
    chat = new_id()
    fault_stack.kill_actions()
    try:
        turn = telegram_say(fault_stack, chat, BALANCE)  # type: ignore[arg-type]
    finally:
        fault_stack.start_actions()
    assert _is_apology(turn), turn
    assert not _is_apology(telegram_say(fault_stack, chat, BALANCE))  # type: ignore[arg-type]


def test_messenger_gets_the_apology_when_the_action_server_is_down(fault_stack: FaultStack) -> None:
    psid = str(new_id())
    fault_stack.kill_actions()
    try:
        turn = facebook_say(fault_stack, psid, BALANCE)  # type: ignore[arg-type]
    finally:
        fault_stack.start_actions()
    assert _is_apology(turn), turn
    assert not _is_apology(facebook_say(fault_stack, psid, BALANCE))  # type: ignore[arg-type]


def test_telegram_gets_the_apology_when_the_tracker_store_is_down(fault_stack: FaultStack,
                                                                  tracker_redis_down: None) -> None:
    assert _is_apology(telegram_say(fault_stack, new_id(), FAQ))  # type: ignore[arg-type]
