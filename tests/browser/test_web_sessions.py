"""Web chat sessions cannot be hijacked with a session id, and staff never see one (issue 9, item 2).

Against real servers:

- the live stack's real Rasa (``chat_site``): a victim logged in as a customer asks for the balance; sockets
  that name the victim's session id without its secret, with a wrong one, or with the secret but another
  customer's token each get a NEW session and none of the victim's replies; the victim's own reload (id,
  secret, a fresh token of the same customer) rejoins the conversation;
- a real Sanic + python-socketio server running only our channel (``tests/fakes/socketio_server.py`` in the
  Rasa environment): with ``ENVIRONMENT=production`` a client without ``Origin`` (or with a foreign one) is
  refused at the handshake, in development it is accepted; with Redis two such processes share the sessions;
- the staff API and pages for the victim's customer, after the feed linked the conversation and a hand-off
  was opened in it: the raw session id appears in none of them (the opaque ``conversation_ref`` does).
"""

from __future__ import annotations

import asyncio
import importlib
import os
import subprocess
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any

import pytest
import yaml
from fastapi.testclient import TestClient
from sqlalchemy import select

from profiles.conversation_ref import conversation_ref
from profiles.db import session_scope
from profiles.models import ConversationLink, HandoffRequest
from profiles.settings import get_settings
from profiles.staff import issue_staff_token
from tests.browser.conftest import ROOT, ChatSite, _free_port

socketio = pytest.importorskip("socketio") if not os.environ.get("CI") else importlib.import_module("socketio")

VICTIM = 3  # seeded customers no other stack test writes to in a way that matters here
OTHER = 4
REPLY_S = 60.0
GREETING = yaml.safe_load((ROOT / "domain.yml").read_text())["responses"]["utter_greet"][0]["text"]
RASA_PY = ROOT / ".venv-rasa" / "bin" / "python"


class Socket:
    """One python-socketio client: its ``session_confirm`` answers and bot messages, in order."""

    def __init__(self) -> None:
        self.client = socketio.AsyncClient(reconnection=False)
        self.confirmed: asyncio.Queue[Any] = asyncio.Queue()
        self.bot: list[str] = []
        self.errors: list[Any] = []
        self.client.on("session_confirm", self.confirmed.put)
        self.client.on("bot_uttered", lambda m: self.bot.append(str(m.get("text") or "")))
        self.client.on("error", self.errors.append)

    async def start(self, url: str, origin: str | None, **request: Any) -> dict[str, str]:
        """Connect (with ``origin`` as the Origin header, or none) and send ``session_request``."""
        headers = {"Origin": origin} if origin else {}
        await self.client.connect(url, headers=headers, transports=["websocket"], wait_timeout=10)
        await self.client.emit("session_request", request)
        confirmed: Any = await asyncio.wait_for(self.confirmed.get(), 10)
        if isinstance(confirmed, str):  # Rasa's own channel confirms with the bare id (and no secret)
            return {"session_id": confirmed, "session_secret": ""}
        return dict(confirmed)

    async def ask(self, session_id: str, text: str) -> list[str]:
        """Send ``text`` in ``session_id`` and wait for the turn's replies."""
        before = len(self.bot)
        await self.client.emit("user_uttered", {"message": text, "session_id": session_id})
        deadline = time.monotonic() + REPLY_S
        while len(self.bot) == before:
            assert time.monotonic() < deadline, f"no reply to {text!r}; errors: {self.errors}"
            await asyncio.sleep(0.1)
        await asyncio.sleep(1.0)  # the turn's other replies
        return self.bot[before:]

    async def before_round_trip(self, session_id: str) -> list[str]:
        """Say hello in this socket's own ``session_id`` and wait for the greeting: what the socket received
        before it (everything sent to it before the greeting, in order)."""
        before = len(self.bot)
        await self.client.emit("user_uttered", {"message": "hello", "session_id": session_id})
        deadline = time.monotonic() + REPLY_S
        while GREETING not in self.bot[before:]:
            assert time.monotonic() < deadline, f"no greeting in {session_id}; errors: {self.errors}"
            await asyncio.sleep(0.05)
        return self.bot[:before + self.bot[before:].index(GREETING)]


def run(coro: Any) -> Any:
    """Run a coroutine in its own thread (Playwright's sync API may hold this thread's event loop)."""
    with ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, coro).result()


async def _hijack(rasa_url: str, origin: str, victim_token: str, victim_token_again: str,
                  other_token: str) -> dict[str, Any]:
    seen: dict[str, Any] = {}
    victim = Socket()
    victim_session = await victim.start(rasa_url, origin, session_id=None, token=victim_token)
    seen["victim"] = victim_session
    sid = victim_session["session_id"]
    seen["victim_first"] = await victim.ask(sid, "what's my balance?")

    thieves = {
        "no_secret_no_origin": (None, {"session_id": sid}),
        "no_secret": (origin, {"session_id": sid, "token": other_token}),
        "wrong_secret": (origin, {"session_id": sid, "session_secret": "x" * 43, "token": victim_token_again}),
        "other_customer": (origin, {"session_id": sid, "session_secret": victim_session["session_secret"],
                                    "token": other_token}),
        "anonymous_with_secret": (origin, {"session_id": sid, "session_secret": victim_session["session_secret"]}),
    }
    sockets: dict[str, Socket] = {}
    for name, (their_origin, request) in thieves.items():
        sockets[name] = Socket()
        seen[f"{name}_session"] = await sockets[name].start(rasa_url, their_origin, **request)
        # what a thief says goes to its own new conversation, never into the victim's
        await sockets[name].client.emit("user_uttered", {"message": "what's my balance?", "session_id": sid})
    await asyncio.sleep(1.0)
    for socket in sockets.values():
        socket.bot.clear()

    seen["victim_second"] = await victim.ask(sid, "what's my balance?")
    # the signal that a leak would have arrived by now: each thief's own round trip (a greeting in its own
    # session) after the victim's turn; one socket's messages arrive in order, so a leaked reply comes first
    seen["leaked"] = {name: await s.before_round_trip(seen[f"{name}_session"]["session_id"])
                      for name, s in sockets.items()}
    seen["thief_errors"] = {name: list(s.errors) for name, s in sockets.items()}

    # the victim's own reload: same id and secret, a fresh token of the same customer -> same conversation
    reload = Socket()
    seen["reload"] = await reload.start(rasa_url, origin, session_id=sid,
                                        session_secret=victim_session["session_secret"], token=victim_token_again)
    seen["reload_replies"] = await reload.ask(sid, "what's my balance?")
    for socket in (victim, reload, *sockets.values()):
        await socket.client.disconnect()
    return seen


@pytest.fixture(scope="module")
def hijack(chat_site: ChatSite) -> dict[str, Any]:
    stack = chat_site.stack
    seen = run(_hijack(stack.rasa_url, chat_site.base_url, stack.token_for(VICTIM), stack.token_for(VICTIM),
                       stack.token_for(OTHER)))
    stack.senders.add(seen["victim"]["session_id"])
    return seen


def test_a_stolen_session_id_gets_a_new_session_and_none_of_the_victims_replies(hijack: dict[str, Any]) -> None:
    victim_id = hijack["victim"]["session_id"]
    assert any("€" in t for t in hijack["victim_first"]), hijack["victim_first"]  # a verified balance (an amount)
    names = ("no_secret_no_origin", "no_secret", "wrong_secret", "other_customer", "anonymous_with_secret")
    leaks = {name: hijack["leaked"][name] for name in names if hijack["leaked"][name]}
    assert leaks == {}, f"sockets with the stolen session id received the victim's replies: {leaks}"
    assert any("€" in t for t in hijack["victim_second"]), hijack["victim_second"]
    assert len(hijack["victim"]["session_secret"]) >= 40
    for name in names:
        theirs = hijack[f"{name}_session"]
        assert theirs["session_id"] != victim_id, name
        assert theirs["session_secret"] != hijack["victim"]["session_secret"], name
        # speaking into the victim's session by naming its id is refused
        assert any("the session this socket joined" in str(e) for e in hijack["thief_errors"][name]), name
    assert hijack["reload"]["session_id"] == victim_id
    assert any("€" in t for t in hijack["reload_replies"]), hijack["reload_replies"]


def _wait_for_link(sender: str, customer: int) -> None:
    deadline = time.monotonic() + 30
    while True:
        with session_scope() as s:
            link = s.get(ConversationLink, sender)
            handoff = s.scalars(select(HandoffRequest).where(HandoffRequest.sender_id == sender)).first()
            if link is not None and link.customer_id == customer and handoff is not None:
                return
        assert time.monotonic() < deadline, f"the feed did not link {sender} to customer {customer} (or no hand-off)"
        time.sleep(0.3)


async def _handoff(rasa_url: str, origin: str, session: dict[str, str], token: str) -> list[str]:
    socket = Socket()
    await socket.start(rasa_url, origin, session_id=session["session_id"], session_secret=session["session_secret"],
                       token=token)
    replies = await socket.ask(session["session_id"], "talk to a human")
    await socket.client.disconnect()
    return replies


def test_staff_api_and_pages_never_show_the_session_id(
    hijack: dict[str, Any], chat_database: ChatSite, monkeypatch: pytest.MonkeyPatch
) -> None:
    stack = chat_database.stack
    session = hijack["victim"]
    sender = session["session_id"]
    run(_handoff(stack.rasa_url, chat_database.base_url, session, stack.token_for(VICTIM)))
    _wait_for_link(sender, VICTIM)
    ref = conversation_ref(sender)

    from api.main import app

    staff = {"Authorization": f"Bearer {issue_staff_token('ref-staff', 'staff')}"}
    admin = {"Authorization": f"Bearer {issue_staff_token('ref-admin', 'admin')}"}
    get_settings.cache_clear()
    with TestClient(app) as client:
        answers = {
            "360": client.get(f"/customers/{VICTIM}", headers=staff),
            "timeline": client.get(f"/customers/{VICTIM}/timeline?limit=100", headers=staff),
            "handoffs": client.get("/handoffs?status=all&limit=500", headers=staff),
            "export": client.get(f"/customers/{VICTIM}/export", headers=admin),
        }
        client.cookies.set("nova_staff", staff["Authorization"][len("Bearer "):])  # as after /staff/sign-in
        answers["staff page"] = client.get(f"/staff/customers/{VICTIM}")
    for name, response in answers.items():
        assert response.status_code == 200, (name, response.status_code, response.text[:300])
        assert sender not in response.text, f"{name} shows the raw session id"
    # staff can still tell which conversation: the opaque id, the same in the timeline and the hand-off queue
    timeline = answers["timeline"].json()["items"]
    assert ref in {i["conversation"] for i in timeline}
    assert ref in {h["conversation"] for h in answers["handoffs"].json() if h["customer_id"] == VICTIM}
    assert ref in answers["export"].text
    assert ref in answers["staff page"].text


@contextmanager
def channel_server(environment: str, origin: str, **extra: str) -> Iterator[str]:
    """Our socket.io channel alone on a real Sanic server (Rasa's Python) with ``ENVIRONMENT=environment``."""
    if not RASA_PY.exists():
        pytest.fail(f"{RASA_PY} does not exist: run `make setup`")
    port = _free_port()
    env = {**os.environ, "ENVIRONMENT": environment, "WEB_CHAT_ORIGINS": origin, "PYTHONUNBUFFERED": "1", **extra}
    if "REDIS_HOST" not in extra:
        env.pop("REDIS_HOST", None)
    log = Path(f"/tmp/socketio-test-{port}.log")
    with log.open("wb") as out:
        proc = subprocess.Popen([str(RASA_PY), "-m", "tests.fakes.socketio_server", str(port)], cwd=ROOT, env=env,
                                stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 60
        while "socketio test server ready" not in log.read_text(errors="replace"):
            assert proc.poll() is None, log.read_text(errors="replace")[-3000:]
            assert time.monotonic() < deadline, log.read_text(errors="replace")[-3000:]
            time.sleep(0.2)
        yield f"http://127.0.0.1:{port}"
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        with suppress(OSError):
            log.unlink()


async def _handshakes(url: str, origin: str) -> dict[str, str]:
    outcome: dict[str, str] = {}
    for name, headers in {"none": {}, "foreign": {"Origin": "http://evil.example"}, "allowed": {"Origin": origin}}.items():
        client = socketio.AsyncClient(reconnection=False)
        try:
            await client.connect(url, headers=headers, transports=["websocket"], wait_timeout=10)
            outcome[name] = "connected"
        except socketio.exceptions.ConnectionError as exc:
            outcome[name] = f"refused: {exc}"
        finally:
            await client.disconnect()
    # a connected socket gets answers (the refusals are not a broken server)
    socket = Socket()
    session = await socket.start(url, origin)
    outcome["echo"] = (await socket.ask(session["session_id"], "hi"))[0]
    await socket.client.disconnect()
    return outcome


def test_production_refuses_a_missing_or_foreign_origin_development_allows_a_missing_one() -> None:
    origin = "http://127.0.0.1:8000"
    with channel_server("production", origin) as url:
        production = run(_handshakes(url, origin))
    with channel_server("development", origin) as url:
        development = run(_handshakes(url, origin))
    assert production["none"].startswith("refused"), production
    assert production["foreign"].startswith("refused"), production
    assert production["allowed"] == "connected"
    assert production["echo"].startswith("echo ") and production["echo"].endswith(": hi")
    assert development["none"] == "connected"
    assert development["foreign"].startswith("refused")


async def _two_processes(first: str, second: str, origin: str) -> dict[str, Any]:
    a, b, c = Socket(), Socket(), Socket()
    started = await a.start(first, origin, token=None)
    resumed = await b.start(second, origin, session_id=started["session_id"], session_secret=started["session_secret"])
    refused = await c.start(second, origin, session_id=started["session_id"])
    for s in (a, b, c):
        await s.client.disconnect()
    return {"started": started, "resumed": resumed, "refused": refused}


def test_two_rasa_processes_share_web_sessions_through_redis(test_redis_url: str) -> None:
    import redis

    url = test_redis_url
    client = redis.Redis.from_url(url, socket_timeout=3)
    from tests.e2e.conftest import _redis_env

    origin = "http://127.0.0.1:8000"
    env = {k: v for k, v in _redis_env(url).items() if k.startswith("REDIS_")}
    with channel_server("production", origin, **env) as first, channel_server("production", origin, **env) as second:
        seen = run(_two_processes(first, second, origin))
    sid = seen["started"]["session_id"]
    try:
        assert seen["resumed"]["session_id"] == sid  # the other process knew the session and its secret
        assert seen["refused"]["session_id"] != sid  # without the secret: a new session there too
        stored = client.hgetall(f"nova:websession:{sid}")
        assert stored[b"digest"] and seen["started"]["session_secret"].encode() not in b"".join(v for v in stored.values() if isinstance(v, bytes))
        assert 0 < client.ttl(f"nova:websession:{sid}") <= 30 * 24 * 3600
    finally:
        client.delete(*(f"nova:websession:{s['session_id']}" for s in seen.values()))
        client.close()
