"""Durable events (issue 12 item 5): no event is lost while RabbitMQ is down, also across a Rasa restart, and
Rasa starts while it is down (bot/durable_broker.py, results in docs/RELIABILITY.md).

A private stack: a ``redis-server`` (tracker store: the expected events are what Rasa saved), Rasa with
``bot/endpoints.redis.yml``'s broker pointed at a :class:`FaultProxy` in front of the shared RabbitMQ (cut =
outage; the shared RabbitMQ is never stopped) and a private queue. The test reads the queue itself, as the feed
does, and counts: every event of every conversation, in the tracker's order, exactly once.
"""

from __future__ import annotations

import json
import os
import secrets
import signal
import sqlite3
import subprocess
import time
import uuid
from collections.abc import Iterator
from contextlib import suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest

from tests.e2e.conftest import (
    DEFAULT_RABBITMQ_URL,
    MODELS,
    RASA_BIN,
    ROOT,
    TEMPLATE_ACTION_URL,
    _delete_queue,
    _free_port,
    _redis_env,
    _start,
    _stop,
    _wait_healthy,
)
from tests.faults.proxy import FaultProxy

pytestmark = pytest.mark.e2e

MESSAGES = ("hello", "how long does it take for my card to arrive?", "thanks, bye")


@dataclass
class EventStack:
    rasa_url: str
    rasa_port: int
    rasa_token: str
    endpoints: Path
    outbox: Path
    queue: str
    rabbitmq_url: str
    proxy: FaultProxy
    env: dict[str, str]
    logs: dict[str, Path]
    procs: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)
    http: httpx.Client = field(default_factory=lambda: httpx.Client(timeout=120))

    def start_rasa(self) -> float:
        """Start Rasa; the seconds until its /status answered with a model."""
        log = self.logs["rasa"]
        with log.open("a") as out:
            out.write("\n--- (re)start ---\n")
        with log.open("ab") as out:
            self.procs["rasa"] = subprocess.Popen(
                [str(RASA_BIN.with_name("python")), "-m", "bot.serve", "run", "--enable-api", "-m", str(MODELS),
                 "--endpoints", str(self.endpoints), "--credentials", str(ROOT / "bot" / "credentials.yml"),
                 "-i", "127.0.0.1", "-p", str(self.rasa_port)],
                cwd=ROOT, env={**self.env, "RASA_TOKEN": self.rasa_token}, stdout=out, stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL, start_new_session=True,
            )
        return _wait_healthy("Rasa server", f"{self.rasa_url}/status?token={self.rasa_token}", self.procs["rasa"],
                             log, lambda r: bool(r.json().get("model_file")))

    def kill_rasa(self) -> None:
        """SIGKILL: no chance to flush anything held in memory."""
        proc = self.procs["rasa"]
        with suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)

    def chat(self, sender: str, text: str) -> None:
        response = self.http.post(f"{self.rasa_url}/webhooks/rest/webhook", json={"sender": sender, "message": text})
        assert response.status_code == 200, response.text

    def tracker_events(self, sender: str) -> list[dict[str, Any]]:
        response = self.http.get(f"{self.rasa_url}/conversations/{sender}/tracker",
                                 params={"token": self.rasa_token, "include_events": "ALL"})
        assert response.status_code == 200, response.text
        events: list[dict[str, Any]] = response.json()["events"]
        return events

    def pending(self) -> int:
        """Rows waiting in the outbox file (read by another connection: they are on disk)."""
        with sqlite3.connect(self.outbox) as db:
            return int(db.execute("SELECT count(*) FROM outbox").fetchone()[0])


@pytest.fixture(scope="module")
def event_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EventStack]:
    if not any(MODELS.glob("*.tar.gz")):
        pytest.fail(f"no trained Rasa model in {MODELS}: run `make train` first")
    tmp = tmp_path_factory.mktemp("durable")
    rabbitmq_url = os.environ.get("RABBITMQ_URL") or DEFAULT_RABBITMQ_URL
    upstream = urlsplit(rabbitmq_url)
    proxy = FaultProxy(upstream.port or 5672, upstream.hostname or "127.0.0.1")  # not listening yet: "down"
    queue = f"durable_events_{os.getpid()}_{uuid.uuid4().hex[:8]}"
    redis_port, rasa_port = _free_port(), _free_port()
    proxied = f"amqp://{upstream.username or 'guest'}:{upstream.password or 'guest'}@127.0.0.1:{proxy.port}/%2F"
    env = dict(os.environ)
    env.update(RASA_TELEMETRY_ENABLED="false", TF_CPP_MIN_LOG_LEVEL="2", SQLALCHEMY_SILENCE_UBER_WARNING="1",
               PYTHONUNBUFFERED="1", ACTION_SERVER_TOKEN=secrets.token_hex(16), SANIC_ACCESS_LOG="false",
               EVENT_OUTBOX=str(tmp / "outbox.db"))
    env.update(_redis_env(f"redis://127.0.0.1:{redis_port}/0", proxied, queue))
    endpoints = tmp / "endpoints.yml"
    # No action server: the flows used here need none (an action call would fail into the apology, still events).
    endpoints.write_text((ROOT / "bot" / "endpoints.redis.yml").read_text().replace(
        TEMPLATE_ACTION_URL, f"http://127.0.0.1:{_free_port()}/webhook"))
    logs = {"redis": tmp / "redis.log", "rasa": tmp / "rasa.log"}
    stack = EventStack(rasa_url=f"http://127.0.0.1:{rasa_port}", rasa_port=rasa_port, rasa_token=secrets.token_hex(16),
                       endpoints=endpoints, outbox=tmp / "outbox.db", queue=queue, rabbitmq_url=rabbitmq_url,
                       proxy=proxy, env=env, logs=logs)
    try:
        stack.procs["redis"] = _start(
            ["redis-server", "--port", str(redis_port), "--bind", "127.0.0.1", "--save", "", "--dir", str(tmp)],
            logs["redis"], env)
        yield stack
    finally:
        proxy.cut()
        for proc in stack.procs.values():
            _stop(proc)
        stack.http.close()
        _delete_queue(rabbitmq_url, queue)


def _read_queue(rabbitmq_url: str, queue: str, expected: int, timeout: float) -> list[dict[str, Any]]:
    """Consume (and acknowledge) messages from ``queue`` until ``expected`` arrived or ``timeout`` s passed,
    then 2 s more so that a duplicate would be seen too."""
    import pika  # type: ignore[import-untyped]

    connection = pika.BlockingConnection(pika.URLParameters(rabbitmq_url))
    try:
        channel = connection.channel()
        # As the feed does: the queue may not exist yet when the drainer has not reconnected.
        exchange = f"{queue}.exchange"  # the stack's own (tests/e2e/conftest.py _redis_env)
        channel.exchange_declare(exchange, exchange_type="fanout", durable=False)
        channel.queue_declare(queue, durable=True)
        channel.queue_bind(queue, exchange)
        out: list[dict[str, Any]] = []
        deadline = time.monotonic() + timeout
        extra_until: float | None = None
        while True:
            now = time.monotonic()
            if extra_until is None and (len(out) >= expected or now > deadline):
                extra_until = now + 2
            if extra_until is not None and now > extra_until:
                return out
            method, _props, body = channel.basic_get(queue, auto_ack=True)
            if method is None:
                time.sleep(0.1)
                continue
            out.append(json.loads(body))
    finally:
        connection.close()


def test_no_event_lost_across_an_outage_and_a_rasa_restart(event_stack: EventStack) -> None:
    stack = event_stack
    # 1. RabbitMQ is "down" (the proxy does not listen): Rasa starts anyway.
    startup = stack.start_rasa()
    senders = [f"durable-{uuid.uuid4().hex[:10]}" for _ in range(4)]
    for sender in senders[:2]:
        for text in MESSAGES:
            stack.chat(sender, text)
    before_restart = stack.pending()
    assert before_restart > 0, "no event reached the outbox"
    # 2. Rasa killed during the outage, started again (still down): the outbox file keeps the events.
    stack.kill_rasa()
    restart = stack.start_rasa()
    for sender in senders[1:]:
        for text in MESSAGES:
            stack.chat(sender, text)
    waiting = stack.pending()
    assert waiting > before_restart
    expected = {s: stack.tracker_events(s) for s in senders}
    total = sum(len(v) for v in expected.values())
    assert waiting == total, f"outbox holds {waiting} events, the trackers {total}"
    # 3. RabbitMQ back: everything arrives, in order, once.
    stack.proxy.mend()
    t0 = time.monotonic()
    received = _read_queue(stack.rabbitmq_url, stack.queue, total, timeout=90)
    caught_up = time.monotonic() - t0
    _assert_same(expected, received)
    assert stack.pending() == 0
    # 4. An outage while Rasa runs (connections reset): the events of that time arrive once it is over.
    stack.proxy.cut()
    late = f"durable-{uuid.uuid4().hex[:10]}"
    for text in MESSAGES:
        stack.chat(late, text)
    time.sleep(1)
    assert stack.pending() > 0
    stack.proxy.mend()
    late_events = {late: stack.tracker_events(late)}
    received_late = _read_queue(stack.rabbitmq_url, stack.queue, len(late_events[late]), timeout=90)
    _assert_same(late_events, received_late)
    rasa_log = stack.logs["rasa"].read_text(errors="replace")
    for text in MESSAGES:
        assert text not in rasa_log, "an event body was logged"
    print(f"\ndurable events: {total + len(late_events[late])} events, 0 lost, 0 duplicates; Rasa started with "
          f"RabbitMQ down in {startup:.1f} s, restarted in {restart:.1f} s; {total} waiting events delivered "
          f"{caught_up:.1f} s after RabbitMQ came back (incl. 2 s watching for duplicates)")


def _assert_same(expected: dict[str, list[dict[str, Any]]], received: list[dict[str, Any]]) -> None:
    """Per conversation: the received events are the tracker's, same order, none missing, none twice."""
    by_sender: dict[str, list[dict[str, Any]]] = {}
    for event in received:
        by_sender.setdefault(str(event.get("sender_id")), []).append(event)
    assert set(by_sender) == set(expected), f"senders {sorted(by_sender)} != {sorted(expected)}"
    for sender, events in expected.items():
        want = [(e["event"], e["timestamp"]) for e in events]
        got = [(e["event"], e["timestamp"]) for e in by_sender[sender]]
        lost = len([w for w in want if w not in got])
        duplicates = len(got) - len(set(got))
        assert (lost, duplicates) == (0, 0), f"{sender}: {lost} lost, {duplicates} duplicates"
        assert got == want, f"{sender}: order differs"
