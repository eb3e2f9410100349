"""The real stack for end-to-end tests: our action server, the Rasa server and the feed consumer, started as
subprocesses.

``live_stack`` (session scope) needs a trained model in ``models/`` (``make train``; ``make test`` trains
first). It seeds a fresh CRM database (300 customers), starts the feed consumer (``python -m profiles.feed``),
the action server and the Rasa server on free ports with the environment passed through, waits until all are
up and yields a :class:`LiveStack`:

    def test_hello(live_stack):
        replies = live_stack.chat(live_stack.new_sender(), "hello")

The mode follows the environment, like ``make run``:

- embedded (nothing set): a SQLite file in a temporary folder, Rasa's in-memory tracker and lock store, its
  SQL event broker writing to ``events.db`` in the same folder;
- production: ``DATABASE_URL`` on PostgreSQL gets a private schema on that server (dropped afterwards),
  ``REDIS_URL`` switches Rasa to ``bot/endpoints.redis.yml`` (Redis tracker and lock store, RabbitMQ event
  broker): ``RABBITMQ_URL`` (default ``amqp://guest:guest@127.0.0.1:5672/%2F`` when unset) with a private
  queue per session (deleted afterwards).

While an e2e test runs, this process's own settings point at the same database (autouse fixture
``_stack_database``), so a test can check what a conversation wrote through ``profiles`` directly. When a test
fails, the tails of both servers' logs are attached to its report.
"""

from __future__ import annotations

import os
import secrets
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Generator, Iterator
from contextlib import suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

import httpx
import pytest

ROOT = Path(__file__).resolve().parents[2]
MODELS = ROOT / "models"
RASA_BIN = ROOT / ".venv-rasa" / "bin" / "rasa"
SEED_LIMIT = 300
STARTUP_TIMEOUT_S = float(os.environ.get("E2E_STARTUP_TIMEOUT", "300"))
TEMPLATE_ACTION_URL = "http://127.0.0.1:5055/webhook"
TEMPLATE_EVENTS_DB = "db: var/events.db"
DEFAULT_RABBITMQ_URL = "amqp://guest:guest@127.0.0.1:5672/%2F"
LOG_TAIL_LINES = 60


@dataclass
class LiveStack:
    """Handles on the running servers."""

    rasa_url: str
    action_url: str
    database_url: str
    rasa_token: str
    redis_url: str | None
    logs: dict[str, Path]
    action_token: str = ""  # the secret Rasa sends the action server (ACTION_SERVER_TOKEN)
    rabbitmq_url: str | None = None
    event_queue: str | None = None
    events_db_url: str | None = None
    web_port: int | None = None  # the port a web chat page may be served on: its origin is allowed by Rasa's socket.io
    messenger_cloud: Any = None  # tests/fakes/messenger_cloud.MessengerCloud: Telegram and Graph API fakes Rasa talks to
    senders: set[str] = field(default_factory=set)
    _http: httpx.Client = field(default_factory=lambda: httpx.Client(timeout=120))

    def chat(self, sender: str, text: str, token: str | None = None) -> list[dict[str, Any]]:
        """Send one message over the REST channel; return the bot's replies (``[{"text": ...}, ...]``)."""
        payload: dict[str, Any] = {"sender": sender, "message": text}
        if token is not None:
            payload["metadata"] = {"token": token}
        self.senders.add(sender)
        response = self._http.post(f"{self.rasa_url}/webhooks/rest/webhook", json=payload)
        response.raise_for_status()
        replies: list[dict[str, Any]] = response.json()
        return replies

    def post_raw(self, body: dict[str, Any] | bytes | str, content_type: str = "application/json") -> httpx.Response:
        """POST anything to the REST webhook and return the response as is (no status check): for bad input."""
        if isinstance(body, dict):
            if "sender" in body:
                self.senders.add(str(body["sender"]))
            return self._http.post(f"{self.rasa_url}/webhooks/rest/webhook", json=body)
        return self._http.post(
            f"{self.rasa_url}/webhooks/rest/webhook", content=body, headers={"Content-Type": content_type}
        )

    def texts(self, sender: str, text: str, token: str | None = None) -> list[str]:
        """Like :meth:`chat`, only the reply texts."""
        return [r["text"] for r in self.chat(sender, text, token) if r.get("text")]

    def tracker(self, sender: str) -> dict[str, Any]:
        """The conversation's tracker from Rasa's HTTP API (events, slots, latest message)."""
        response = self._http.get(
            f"{self.rasa_url}/conversations/{sender}/tracker", params={"token": self.rasa_token}
        )
        response.raise_for_status()
        tracker: dict[str, Any] = response.json()
        return tracker

    def wait_feed_drained(self, deadline_s: float = 60.0) -> None:
        """Return once the feed consumer has processed every event Rasa published before this call (the
        signal before asserting that the feed wrote nothing more): a marker message in a new conversation, then
        wait until the feed has stored it. One queue (or the SQL broker's table, read in id order) and one
        consumer: whatever was published before the marker is processed before it."""
        from sqlalchemy import select

        from profiles.db import session_scope
        from profiles.models import ConversationEvent

        marker = self.new_sender("drained")
        self.chat(marker, "hello")
        t0 = time.monotonic()
        while True:
            with session_scope() as s:
                if s.scalar(select(ConversationEvent.id).where(ConversationEvent.sender_id == marker,
                                                               ConversationEvent.event_type == "user").limit(1)):
                    return
            if time.monotonic() - t0 > deadline_s:
                pytest.fail(f"the feed did not store the marker message within {deadline_s:.0f} s")
            time.sleep(0.1)

    def new_sender(self, prefix: str = "e2e") -> str:
        """A sender id no other test uses."""
        return f"{prefix}-{uuid.uuid4().hex[:12]}"

    def token_for(self, customer_id: int) -> str:
        """A valid signed token for a customer of the stack's database (same secret as the servers)."""
        from profiles.identity import issue_token

        return issue_token(customer_id)

    def log_tails(self, lines: int = LOG_TAIL_LINES) -> str:
        return "\n".join(f"--- last {lines} lines of {path} ---\n{_tail(path, lines)}" for path in self.logs.values())


_STACK: LiveStack | None = None


def _tail(path: Path, lines: int) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError as exc:
        return f"(cannot read: {exc})"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def _redis_env(redis_url: str, rabbitmq_url: str | None = None, event_queue: str = "rasa_events") -> dict[str, str]:
    """Every variable bot/endpoints.redis.yml interpolates (as scripts/run.sh sets them): the Redis stores' from
    REDIS_URL, and the RabbitMQ event broker's from ``rabbitmq_url`` (default: RABBITMQ_URL, else the local
    guest account) and ``event_queue``."""
    from profiles.feed.consumer import rasa_broker_env

    # A stack's own queue is bound to its own exchange: every queue bound to Rasa's default exchange gets the
    # events of every Rasa on this machine's RabbitMQ (another copy's run, a benchmark), not only this stack's.
    exchange = "rasa-exchange" if event_queue == "rasa_events" else f"{event_queue}.exchange"
    broker = rasa_broker_env(rabbitmq_url or os.environ.get("RABBITMQ_URL") or DEFAULT_RABBITMQ_URL, event_queue,
                             exchange)
    u = urlsplit(redis_url)
    return broker | {
        "EVENT_EXCHANGE": exchange,  # the feed consumer's side of the same exchange
        "REDIS_HOST": u.hostname or "127.0.0.1",
        "REDIS_PORT": str(u.port or 6379),
        "REDIS_DB": (u.path or "/0").lstrip("/") or "0",
        "REDIS_PASSWORD": unquote(u.password or ""),
        # Rasa interpolates strings and redis-py takes any non-empty one as true: "" is plain TCP.
        "REDIS_USE_SSL": "true" if u.scheme == "rediss" else "",
    }


@dataclass
class _Database:
    url: str
    drop: Any = None  # callable that removes it, or None


def _fresh_database(tmp: Path) -> _Database:
    """A SQLite file in ``tmp``, or a private schema on DATABASE_URL's PostgreSQL server."""
    configured = os.environ.get("DATABASE_URL", "")
    if not configured.startswith("postgresql"):
        return _Database(f"sqlite:///{tmp / 'crm.db'}")
    from sqlalchemy import create_engine, make_url, text

    admin = create_engine(configured, connect_args={"connect_timeout": 5})
    schema = f"e2e_{os.getpid()}_{uuid.uuid4().hex[:8]}"
    try:
        with admin.begin() as conn:
            conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    except Exception as exc:
        admin.dispose()
        pytest.fail(f"cannot create a schema on DATABASE_URL's PostgreSQL server: {exc}")

    def drop() -> None:
        with admin.begin() as conn:
            conn.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
        admin.dispose()

    url = make_url(configured).update_query_dict({"options": f"-csearch_path={schema}"})
    return _Database(url.render_as_string(hide_password=False), drop)


def _start(cmd: list[str], log: Path, env: dict[str, str]) -> subprocess.Popen[bytes]:
    with log.open("wb") as out:
        return subprocess.Popen(
            cmd, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            start_new_session=True,  # its own process group: stopping it stops its children too
        )


def _stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is not None:
        return
    try:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=20)
    except (ProcessLookupError, subprocess.TimeoutExpired):
        with suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)


def _wait_healthy(name: str, url: str, proc: subprocess.Popen[bytes], log: Path, ok: Any) -> float:
    """Poll ``url`` until ``ok(response)``; fail with the log's tail if the process dies or time runs out."""
    t0 = time.monotonic()
    with httpx.Client(timeout=5) as client:
        while True:
            if proc.poll() is not None:
                pytest.fail(f"{name} exited with {proc.returncode} during start-up; {log}:\n{_tail(log, LOG_TAIL_LINES)}")
            try:
                response = client.get(url)
                if response.status_code == 200 and ok(response):
                    return time.monotonic() - t0
            except httpx.HTTPError:
                pass
            if time.monotonic() - t0 > STARTUP_TIMEOUT_S:
                pytest.fail(
                    f"{name} not healthy after {STARTUP_TIMEOUT_S:.0f} s ({url}); {log}:\n{_tail(log, LOG_TAIL_LINES)}"
                )
            time.sleep(0.5)


@pytest.fixture(scope="session")
def live_stack(tmp_path_factory: pytest.TempPathFactory) -> Generator[LiveStack, None, None]:
    """The real action server and Rasa server on free ports, over a freshly seeded CRM database.

    One stack per test session: tests/browser/conftest.py imports this fixture too, and whichever directory
    asks first starts it; the other gets the same stack."""
    global _STACK
    if _STACK is not None:
        yield _STACK
        return
    if not any(MODELS.glob("*.tar.gz")):
        pytest.fail(f"no trained Rasa model in {MODELS}: run `make train` first (`make test` trains before testing)")
    if not RASA_BIN.exists():
        pytest.fail(f"{RASA_BIN} does not exist: run `make setup`")

    tmp = tmp_path_factory.mktemp("e2e")
    database = _fresh_database(tmp)
    redis_url = os.environ.get("REDIS_URL") or None
    rasa_token = secrets.token_hex(16)
    action_token = secrets.token_hex(16)  # ACTION_SERVER_TOKEN: the action server accepts only Rasa's calls
    action_port, rasa_port = _free_port(), _free_port()
    web_port = _free_port()  # for a page embedding the web chat widget (tests/browser): WEB_CHAT_ORIGINS below
    procs: list[subprocess.Popen[bytes]] = []
    stack: LiveStack | None = None
    logs = {"actions": tmp / "actions.log", "rasa": tmp / "rasa.log", "feed": tmp / "feed.log"}

    env = dict(os.environ)
    env.update(
        DATABASE_URL=database.url,
        RASA_TELEMETRY_ENABLED="false",
        TF_CPP_MIN_LOG_LEVEL="2",
        SQLALCHEMY_SILENCE_UBER_WARNING="1",
        PYTHONUNBUFFERED="1",
        ACTION_SERVER_TOKEN=action_token,  # bot/endpoints*.yml interpolate it; actions/server.py checks it
        WEB_CHAT_ORIGINS=f"http://127.0.0.1:{web_port}",  # bot/socketio_channel.py: browser origins accepted
        SANIC_ACCESS_LOG="false",  # as scripts/run.sh: an access line would carry ?token= of Rasa's HTTP API
        # Hundreds of tests chat as the same few seeded customers within a minute: the per-customer limit
        # (60/minute) refused turns of whichever test came next (CI: "thanks, bye" failed that way). That limit
        # is tested on its own (tests/actions/test_hardening.py); the per-conversation one stays as shipped.
        CHAT_CUSTOMER_RATE_LIMIT="100000/minute",
    )
    # Telegram and Messenger channels on (bot/channels.py), their outbound calls to a local fake (tests/channels).
    from tests.fakes.messenger_cloud import MessengerCloud

    messenger_cloud = MessengerCloud().start()
    env.update(messenger_cloud.rasa_env())
    template = ROOT / "bot" / "endpoints.yml"
    rabbitmq_url = event_queue = events_db_url = None
    if redis_url:
        template = ROOT / "bot" / "endpoints.redis.yml"
        rabbitmq_url = os.environ.get("RABBITMQ_URL") or DEFAULT_RABBITMQ_URL
        event_queue = f"e2e_events_{os.getpid()}_{uuid.uuid4().hex[:8]}"  # this session's own queue
        env.update(RABBITMQ_URL=rabbitmq_url, EVENT_QUEUE=event_queue)
        env["EVENT_OUTBOX"] = str(tmp / "outbox.db")  # bot/durable_broker.py's outbox: this stack's own, not var/
        env.update(_redis_env(redis_url, rabbitmq_url, event_queue))
    else:
        env.pop("RABBITMQ_URL", None)  # embedded mode: Rasa's SQL broker, whatever the outer environment says
        events_db_url = f"sqlite:///{tmp / 'events.db'}"
        env["EVENTS_DB_URL"] = events_db_url
    endpoints = tmp / "endpoints.yml"
    text = template.read_text().replace(TEMPLATE_ACTION_URL, f"http://127.0.0.1:{action_port}/webhook")
    if events_db_url:
        assert TEMPLATE_EVENTS_DB in text, f"{template} no longer has '{TEMPLATE_EVENTS_DB}'"
        text = text.replace(TEMPLATE_EVENTS_DB, f"db: {tmp / 'events.db'}")
    endpoints.write_text(text)

    try:
        t0 = time.monotonic()
        seed = subprocess.run(
            [sys.executable, "-m", "profiles.seed", "--limit", str(SEED_LIMIT), "--quiet"],
            cwd=ROOT, env=env, capture_output=True, text=True, timeout=600,
        )
        if seed.returncode != 0:
            pytest.fail(f"seeding the e2e database failed ({seed.returncode}):\n{seed.stdout}\n{seed.stderr}")
        print(f"\ne2e: seeded {SEED_LIMIT} customers in {time.monotonic() - t0:.1f} s", file=sys.stderr)

        # The feed consumer first (it creates the broker table or declares the queue; Rasa never waits on it).
        procs.append(_start([sys.executable, "-m", "profiles.feed"], logs["feed"], env))
        feed_proc = procs[-1]
        procs.append(_start(
            [sys.executable, "-m", "actions.server", "--actions", "actions", "--port", str(action_port)],
            # rasa_sdk's only host setting; Rasa's HTTP API as scripts/run.sh exports it (actions/multi.py parses
            # each of two requests in one message there)
            logs["actions"], {**env, "SANIC_HOST": "127.0.0.1", "RASA_URL": f"http://127.0.0.1:{rasa_port}",
                              "RASA_TOKEN": rasa_token},
        ))
        procs.append(_start(
            # as scripts/run.sh: bot.serve takes the API token from RASA_TOKEN, never from the command line
            [str(RASA_BIN.with_name("python")), "-m", "bot.serve", "run", "--enable-api", "-m", str(MODELS),
             "--cors", *env["WEB_CHAT_ORIGINS"].split(","),  # as scripts/run.sh: the web chat origins only
             "--endpoints", str(endpoints), "--credentials", str(ROOT / "bot" / "credentials.yml"),
             "-i", "127.0.0.1", "-p", str(rasa_port)],
            logs["rasa"], {**env, "RASA_TOKEN": rasa_token},
        ))
        action_url = f"http://127.0.0.1:{action_port}"
        rasa_url = f"http://127.0.0.1:{rasa_port}"
        took = _wait_for_log("feed consumer", feed_proc, logs["feed"], "feed: started")
        print(f"e2e: feed consumer running after {took:.1f} s", file=sys.stderr)
        took = _wait_healthy("action server", f"{action_url}/health", procs[1], logs["actions"],
                             lambda r: r.json().get("status") == "ok")
        print(f"e2e: action server healthy after {took:.1f} s", file=sys.stderr)
        took = _wait_healthy("Rasa server", f"{rasa_url}/status?token={rasa_token}", procs[2], logs["rasa"],
                             lambda r: bool(r.json().get("model_file")))
        mode = (
            f"Redis tracker store ({env['REDIS_HOST']}:{env['REDIS_PORT']}/{env['REDIS_DB']}), RabbitMQ queue {event_queue}"
            if redis_url else "in-memory tracker store, SQL event broker"
        )
        print(f"e2e: Rasa server healthy after {took:.1f} s ({mode})", file=sys.stderr)

        stack = LiveStack(
            rasa_url=rasa_url, action_url=action_url, database_url=database.url, rasa_token=rasa_token,
            redis_url=redis_url, logs=logs, action_token=action_token, rabbitmq_url=rabbitmq_url, event_queue=event_queue,
            events_db_url=events_db_url, web_port=web_port, messenger_cloud=messenger_cloud,
        )
        _STACK = stack
        yield stack
    finally:
        _STACK = None
        for proc in reversed(procs):
            _stop(proc)
        messenger_cloud.stop()
        if stack is not None:
            stack._http.close()
            _forget_conversations(stack)
        if rabbitmq_url and event_queue:
            _delete_queue(rabbitmq_url, event_queue)
        if database.drop is not None:
            database.drop()


def _wait_for_log(name: str, proc: subprocess.Popen[bytes], log: Path, text: str) -> float:
    """Wait until ``text`` appears in ``log`` (a process without an HTTP port); fail if it dies first."""
    t0 = time.monotonic()
    while True:
        with suppress(OSError):
            if text in log.read_text(errors="replace"):
                return time.monotonic() - t0
        if proc.poll() is not None:
            pytest.fail(f"{name} exited with {proc.returncode} during start-up; {log}:\n{_tail(log, LOG_TAIL_LINES)}")
        if time.monotonic() - t0 > STARTUP_TIMEOUT_S:
            pytest.fail(f"{name} did not start in {STARTUP_TIMEOUT_S:.0f} s; {log}:\n{_tail(log, LOG_TAIL_LINES)}")
        time.sleep(0.2)


def _delete_queue(rabbitmq_url: str, queue: str) -> None:
    """Remove the session's RabbitMQ queue (production mode)."""
    import pika  # type: ignore[import-untyped]

    with suppress(Exception):
        connection = pika.BlockingConnection(pika.URLParameters(rabbitmq_url))
        channel = connection.channel()
        channel.queue_delete(queue)
        channel.exchange_delete(f"{queue}.exchange")  # _redis_env's per-stack exchange
        connection.close()


def _forget_conversations(stack: LiveStack) -> None:
    """Delete the test conversations from Redis (production mode); in-memory ones died with Rasa."""
    if not stack.redis_url or not stack.senders:
        return
    import redis

    with suppress(redis.RedisError):
        client = redis.Redis.from_url(stack.redis_url, socket_timeout=5)
        client.delete(*(f"nova:tracker:{sender}" for sender in stack.senders))
        client.close()


def use_database(database_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Point this process's settings (and ``profiles``' engine) at ``database_url`` until the generator ends (the
    body of a fixture: ``yield from use_database(...)``)."""
    from profiles.db import reset_engine
    from profiles.settings import get_settings

    monkeypatch.setenv("DATABASE_URL", database_url)
    get_settings.cache_clear()
    reset_engine()
    yield
    reset_engine()
    get_settings.cache_clear()


@pytest.fixture(autouse=True)
def _stack_database(live_stack: LiveStack, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Point this process's settings (and ``profiles``' engine) at the stack's database for one test."""
    yield from use_database(live_stack.database_url, monkeypatch)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Generator[None, Any, None]:
    """Attach the servers' log tails to the report of a failed e2e test."""
    outcome = yield
    report = outcome.get_result()
    if report.failed and _STACK is not None:
        for name, path in _STACK.logs.items():
            report.sections.append((f"{name} server log (last {LOG_TAIL_LINES} lines of {path})",
                                    _tail(path, LOG_TAIL_LINES)))
