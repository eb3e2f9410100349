"""Scale-out (issue 12 item 7): two Rasa workers and two action-server workers on one private Redis serve one
conversation consistently, and the web chat (socket.io) works across the workers.

A private production-mode stack, as scripts/run.sh starts it with ``RASA_WORKERS=2 ACTION_WORKERS=2``: its own
``redis-server`` on a free port (tracker store, lock store, web chat sessions and python-socketio's client
manager, ``WEB_CHAT_REDIS_URL``), the action server with ``ACTION_SERVER_SANIC_WORKERS=2``, Rasa with
``SANIC_WORKERS=2`` and ``WEB_CHAT_TRANSPORTS=websocket``, RabbitMQ on a private queue.

Which worker serves a request is the kernel's choice (the workers share one listening socket), so the tests
choose it: a worker stopped with SIGSTOP accepts nothing, and the next new connection goes to the other one.
"""

from __future__ import annotations

import asyncio
import os
import secrets
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest
import socketio

from tests.e2e.conftest import (
    DEFAULT_RABBITMQ_URL,
    MODELS,
    RASA_BIN,
    ROOT,
    TEMPLATE_ACTION_URL,
    _delete_queue,
    _free_port,
    _fresh_database,
    _redis_env,
    _start,
    _stop,
    _tail,
    _wait_healthy,
    use_database,
)

pytestmark = pytest.mark.e2e

SEED_LIMIT = 60
WORKERS = 2
REPLY_S = 60.0


@dataclass
class ScaledStack:
    """The private stack: Rasa's main process (its workers are its children) and how to reach it."""

    rasa_url: str
    rasa_token: str
    redis_port: int
    database_url: str
    logs: dict[str, Path]
    procs: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)

    def rasa_workers(self) -> list[int]:
        """PIDs of Rasa's Sanic workers (forked children of the main process), sorted."""
        pid = self.procs["rasa"].pid
        children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
        return sorted(int(c) for c in children)

    @contextmanager
    def only(self, worker: int) -> Iterator[None]:
        """Every other Rasa worker is stopped (SIGSTOP) inside the block: new connections go to ``worker``."""
        others = [w for w in self.rasa_workers() if w != worker]
        for w in others:
            os.kill(w, signal.SIGSTOP)
        try:
            yield
        finally:
            for w in others:
                os.kill(w, signal.SIGCONT)

    def chat(self, sender: str, text: str, token: str | None = None) -> list[dict[str, Any]]:
        """One REST message on a new connection (so the kernel picks a worker for it); the replies."""
        payload: dict[str, Any] = {"sender": sender, "message": text}
        if token is not None:
            payload["metadata"] = {"token": token}
        response = httpx.post(f"{self.rasa_url}/webhooks/rest/webhook", json=payload, timeout=120)
        assert response.status_code == 200, response.text
        replies: list[dict[str, Any]] = response.json()
        return replies

    def tracker(self, sender: str) -> dict[str, Any]:
        """The conversation as Rasa's HTTP API shows it."""
        response = httpx.get(f"{self.rasa_url}/conversations/{sender}/tracker", params={"token": self.rasa_token},
                             timeout=60)
        response.raise_for_status()
        tracker: dict[str, Any] = response.json()
        return tracker


@pytest.fixture(scope="module")
def scaled_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ScaledStack]:
    """The private two-worker stack (module docstring); stopped and cleaned up afterwards."""
    if not any(MODELS.glob("*.tar.gz")):
        pytest.fail(f"no trained Rasa model in {MODELS}: run `make train` first")
    tmp = tmp_path_factory.mktemp("scale")
    database = _fresh_database(tmp)
    rabbitmq_url = os.environ.get("RABBITMQ_URL") or DEFAULT_RABBITMQ_URL
    queue = f"scale_events_{os.getpid()}_{uuid.uuid4().hex[:8]}"
    redis_port, action_port, rasa_port = _free_port(), _free_port(), _free_port()
    redis_url = f"redis://127.0.0.1:{redis_port}/0"
    rasa_token = secrets.token_hex(16)
    env = dict(os.environ)
    env.update(
        DATABASE_URL=database.url, RASA_TELEMETRY_ENABLED="false", TF_CPP_MIN_LOG_LEVEL="2",
        SQLALCHEMY_SILENCE_UBER_WARNING="1", PYTHONUNBUFFERED="1", ACTION_SERVER_TOKEN=secrets.token_hex(16),
        RABBITMQ_URL=rabbitmq_url, EVENT_QUEUE=queue, EVENT_OUTBOX=str(tmp / "outbox.db"),
        SANIC_ACCESS_LOG="false",
        # as scripts/run.sh with RASA_WORKERS=2 (bot/web_chat_scale.py)
        WEB_CHAT_REDIS_URL=redis_url, WEB_CHAT_TRANSPORTS="websocket",
    )
    env.update(_redis_env(redis_url, rabbitmq_url, queue))
    endpoints = tmp / "endpoints.yml"
    endpoints.write_text((ROOT / "bot" / "endpoints.redis.yml").read_text().replace(
        TEMPLATE_ACTION_URL, f"http://127.0.0.1:{action_port}/webhook"))
    logs = {name: tmp / f"{name}.log" for name in ("redis", "actions", "rasa")}
    stack = ScaledStack(rasa_url=f"http://127.0.0.1:{rasa_port}", rasa_token=rasa_token, redis_port=redis_port,
                        database_url=database.url, logs=logs)
    try:
        seed = subprocess.run([sys.executable, "-m", "profiles.seed", "--limit", str(SEED_LIMIT), "--quiet"],
                              cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
        if seed.returncode != 0:
            pytest.fail(f"seeding failed:\n{seed.stdout}\n{seed.stderr}")
        stack.procs["redis"] = _start(["redis-server", "--port", str(redis_port), "--bind", "127.0.0.1",
                                       "--save", "", "--appendonly", "no", "--dir", str(tmp)], logs["redis"], env)
        stack.procs["actions"] = _start(
            [sys.executable, "-m", "actions.server", "--actions", "actions", "--port", str(action_port)],
            logs["actions"], {**env, "SANIC_HOST": "127.0.0.1", "ACTION_SERVER_SANIC_WORKERS": str(WORKERS)})
        stack.procs["rasa"] = _start(
            [str(RASA_BIN.with_name("python")), "-m", "bot.serve", "run", "--enable-api", "-m", str(MODELS),
             "--endpoints", str(endpoints), "--credentials", str(ROOT / "bot" / "credentials.yml"),
             "-i", "127.0.0.1", "-p", str(rasa_port)],
            logs["rasa"], {**env, "RASA_TOKEN": rasa_token, "SANIC_WORKERS": str(WORKERS)})
        _wait_healthy("action server", f"http://127.0.0.1:{action_port}/health", stack.procs["actions"],
                      logs["actions"], lambda r: r.json().get("status") == "ok")
        # every worker has loaded the model: each answers /status (stop the others to ask each one)
        _wait_healthy("Rasa server", f"{stack.rasa_url}/status?token={rasa_token}", stack.procs["rasa"], logs["rasa"],
                      lambda r: bool(r.json().get("model_file")))
        deadline = time.monotonic() + 300
        while len(stack.rasa_workers()) < WORKERS:
            assert time.monotonic() < deadline, f"Rasa has fewer than {WORKERS} workers:\n{_tail(logs['rasa'], 40)}"
            time.sleep(0.5)
        for worker in stack.rasa_workers():
            with stack.only(worker):
                _wait_healthy(f"Rasa worker {worker}", f"{stack.rasa_url}/status?token={rasa_token}",
                              stack.procs["rasa"], logs["rasa"], lambda r: bool(r.json().get("model_file")))
        yield stack
    finally:
        for proc in reversed(list(stack.procs.values())):
            with suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGCONT)
            _stop(proc)
        _delete_queue(rabbitmq_url, queue)
        if database.drop is not None:
            database.drop()


@pytest.fixture
def stack_database(scaled_stack: ScaledStack, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Point this process's settings (and ``profiles``' engine) at the stack's database."""
    yield from use_database(scaled_stack.database_url, monkeypatch)


def _said(replies: list[dict[str, Any]]) -> str:
    return "\n".join(str(r.get("text", "")) for r in replies)


def _buttons(replies: list[dict[str, Any]]) -> list[dict[str, str]]:
    return [b for r in replies for b in r.get("buttons", [])]


def test_two_workers_serve_one_conversation_consistently(scaled_stack: ScaledStack, stack_database: None) -> None:
    """A transfer whose turns alternate between the two Rasa workers: each turn sees the slots the other
    worker's turn set (amount, accounts, the pending confirmation), and the money moves once."""
    from profiles import issue_token, list_accounts

    stack = scaled_stack
    first, second = stack.rasa_workers()
    cid = next(c for c in range(6, 60) if {"current", "savings"} <= {a.kind for a in list_accounts(c)}
               and sum(a.kind == "current" for a in list_accounts(c)) == 1
               and next(a for a in list_accounts(c) if a.kind == "current").balance >= 100)
    accounts = {a.kind: a for a in list_accounts(cid)}
    token, sender = issue_token(cid), f"scale-{uuid.uuid4().hex[:12]}"
    before = {k: a.balance for k, a in accounts.items()}

    with stack.only(first):
        assert "How much" in _said(stack.chat(sender, "I want to transfer money", token=token))
    with stack.only(second):
        replies = stack.chat(sender, "12.50", token=token)
    assert stack.tracker(sender)["slots"]["amount"] in (12.5, "12.50", "12.5")
    with stack.only(first):
        if "Which account" in _said(replies):
            source = next(b["payload"] for b in _buttons(replies) if accounts["current"].masked_number in b["payload"])
            replies = stack.chat(sender, source, token=token)
        target = next(b["payload"] for b in _buttons(replies) if accounts["savings"].masked_number in b["payload"])
        question = _said(stack.chat(sender, target, token=token))
    assert "confirm" in question and "12.50" in question
    with stack.only(second):
        done = _said(stack.chat(sender, "yes", token=token))
    assert "Done" in done, done

    after = {a.kind: a.balance for a in list_accounts(cid)}
    assert after["current"] == before["current"] - Decimal("12.50")
    assert after["savings"] == before["savings"] + Decimal("12.50")
    slots = stack.tracker(sender)["slots"]
    assert slots["requested_slot"] is None and slots["transfer_confirmed"] is None


def test_concurrent_messages_on_two_workers_never_lose_a_turn(scaled_stack: ScaledStack) -> None:
    """Both workers at once on one conversation (a customer double-sending): the lock store queues the turns
    (bot/lock_store.py: Rasa's own RedisLockStore lost a ticket across two processes here and answered one
    message with a LockError), no reply is empty or an apology, and every message is in the tracker."""
    stack = scaled_stack
    sender = f"scale-lock-{uuid.uuid4().hex[:12]}"
    messages = [f"hello {i}" for i in range(12)]

    async def send_all() -> list[httpx.Response]:
        async with httpx.AsyncClient(timeout=120, limits=httpx.Limits(max_keepalive_connections=0)) as client:
            return await asyncio.gather(*(client.post(f"{stack.rasa_url}/webhooks/rest/webhook",
                                                      json={"sender": sender, "message": m}) for m in messages))

    responses = asyncio.run(send_all())
    texts = [r.text for r in responses]
    assert all(r.status_code == 200 and r.json() for r in responses), texts
    assert not any("something went wrong" in t.lower() for t in texts), texts  # a LockError's apology
    users = [e["text"] for e in stack.tracker(sender)["events"] if e["event"] == "user"]
    assert sorted(users) == sorted(messages), texts
    assert "could not acquire lock" not in stack.logs["rasa"].read_text(errors="replace").lower()


async def _open_page(url: str, received: list[dict[str, Any]]) -> tuple[socketio.AsyncClient, str]:
    """A web chat socket as widget.js opens it (websocket, ``session_request``); the client and session id."""
    client = socketio.AsyncClient(reconnection=False)
    confirmed: asyncio.Queue[Any] = asyncio.Queue()
    client.on("bot_uttered", received.append)
    client.on("session_confirm", confirmed.put)
    await client.connect(url, transports=["websocket"], wait_timeout=10)
    await client.emit("session_request", {"session_id": None})
    session = await asyncio.wait_for(confirmed.get(), REPLY_S)
    return client, session["session_id"]


async def _wait_for(received: list[dict[str, Any]], count: int) -> None:
    deadline = time.monotonic() + REPLY_S
    while len(received) < count:
        assert time.monotonic() < deadline, f"no bot message on the web chat (got {received})"
        await asyncio.sleep(0.1)


def test_web_chat_with_two_workers(scaled_stack: ScaledStack) -> None:
    """The web chat works with two workers: a message gets the bot's reply on the socket, and a proactive push
    handled by the OTHER worker (the one without the socket) reaches the page through Redis, while a push to a
    conversation without an open page is still refused (the open-page check sees every worker)."""
    stack = scaled_stack
    first, second = stack.rasa_workers()

    async def scenario() -> None:
        received: list[dict[str, Any]] = []
        with stack.only(first):  # the socket lives on the first worker
            client, session_id = await _open_page(stack.rasa_url, received)
            await client.emit("user_uttered", {"message": "hello", "session_id": session_id})
            await _wait_for(received, 1)
        try:
            pushed = len(received)
            async with httpx.AsyncClient(timeout=60, limits=httpx.Limits(max_keepalive_connections=0)) as http:
                with stack.only(second):  # the push request can only reach the second worker
                    response = await http.post(
                        f"{stack.rasa_url}/conversations/{session_id}/trigger_intent",
                        params={"token": stack.rasa_token, "output_channel": "socketio"},
                        json={"name": "EXTERNAL_reminder",
                              "entities": {"push_name": "Ana", "push_template": "card_expiry"}})
                    assert response.status_code == 200, response.text
                    closed = await http.post(
                        f"{stack.rasa_url}/conversations/w{uuid.uuid4().hex}/trigger_intent",
                        params={"token": stack.rasa_token, "output_channel": "socketio"},
                        json={"name": "EXTERNAL_reminder",
                              "entities": {"push_name": "Ana", "push_template": "card_expiry"}})
                    assert closed.status_code == 500 and "no open web chat page" in closed.text, closed.text
            await _wait_for(received, pushed + 1)  # delivered by the first worker once it runs again
        finally:
            await client.disconnect()

    asyncio.run(scenario())
