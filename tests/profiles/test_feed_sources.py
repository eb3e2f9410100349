"""The feed consumer's two sources against the real things: Rasa's SQL broker table in a SQLite file, and a
RabbitMQ queue bound to Rasa's fanout exchange (skipped when RabbitMQ is unreachable, except under CI)."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine

from profiles.feed.consumer import RabbitMQSource, SQLBrokerSource, run
from profiles.models import ConversationEvent, Interaction
from tests.profiles.conftest import Built
from tests.profiles.test_feed import captured, rows

RABBITMQ_URL = os.environ.get("RABBITMQ_URL") or "amqp://guest:guest@127.0.0.1:5672/%2F"


def rasa_insert(path: Path, events: list[dict[str, Any]]) -> None:
    """What Rasa's SQLEventBroker.publish does: one row (sender_id, JSON) per event, committed."""
    conn = sqlite3.connect(path)
    with conn:
        conn.executemany(
            "INSERT INTO events (sender_id, data) VALUES (?, ?)", [(e["sender_id"], json.dumps(e)) for e in events]
        )
    conn.close()


def test_sql_broker_table_is_drained_in_order_and_rows_are_deleted_after_commit(alice: Built, tmp_path: Path) -> None:
    events_db = tmp_path / "events.db"
    source = SQLBrokerSource(f"sqlite:///{events_db}")  # creates Rasa's table (WAL) before Rasa starts
    events = captured(alice.customer_id)
    rasa_insert(events_db, events[:60])

    total = run(source, poll_seconds=0.01, batch_size=25, once=True)
    assert (total.events, total.stored) == (60, 60)
    assert source.pending() == 0  # acknowledged = deleted
    # The table is empty now, so SQLite hands out ids from 1 again: the consumer must still see the rest.
    rasa_insert(events_db, events[60:])
    total = run(source, poll_seconds=0.01, batch_size=25, once=True)
    assert (total.events, total.stored, total.duplicates) == (40, 40, 0)
    assert len(rows(ConversationEvent)) == 100
    assert sqlite3.connect(events_db).execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    source.close()


def test_sql_broker_consumer_follows_live_inserts(alice: Built, tmp_path: Path) -> None:
    """The consumer running in a thread picks up rows written while it polls (what run.sh starts)."""
    events_db = tmp_path / "events.db"
    source = SQLBrokerSource(f"sqlite:///{events_db}")
    stop = threading.Event()
    worker = threading.Thread(target=run, args=(source,), kwargs={"poll_seconds": 0.05, "stop": stop})
    worker.start()
    try:
        events = captured(alice.customer_id)
        for start in range(0, 100, 20):
            rasa_insert(events_db, events[start:start + 20])
            time.sleep(0.05)
        deadline = time.monotonic() + 10
        while len(rows(ConversationEvent)) < 100 and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        stop.set()
        worker.join(timeout=10)
    assert len(rows(ConversationEvent)) == 100
    assert source.pending() == 0
    source.close()


@pytest.fixture
def rabbit_queue() -> Any:
    pika = pytest.importorskip("pika")
    try:
        connection = pika.BlockingConnection(pika.URLParameters(RABBITMQ_URL))
    except Exception as exc:  # noqa: BLE001 - unreachable in any way
        if os.environ.get("CI"):
            pytest.fail(f"RabbitMQ unreachable at {RABBITMQ_URL}: {exc}")
        pytest.skip(f"RabbitMQ unreachable at {RABBITMQ_URL}: {exc}")
    queue = f"test_feed_{uuid.uuid4().hex[:10]}"
    channel = connection.channel()
    yield queue, channel
    channel.queue_delete(queue)
    channel.exchange_delete(_exchange(queue))
    connection.close()


def _exchange(queue: str) -> str:
    """The test's own fanout exchange: a queue bound to Rasa's default one also gets the events of any Rasa
    running on this machine's RabbitMQ (another copy's CI run, a benchmark)."""
    return f"{queue}.exchange"


def _publish(channel: Any, queue: str, events: list[dict[str, Any]]) -> None:
    """Publish like Rasa's PikaEventBroker: JSON body to the fanout exchange."""
    for e in events:
        channel.basic_publish(_exchange(queue), "", json.dumps(e).encode())


def test_rabbitmq_queue_is_consumed_and_acknowledged_after_commit(alice: Built, rabbit_queue: Any, db: Engine) -> None:
    queue, channel = rabbit_queue
    source = RabbitMQSource(RABBITMQ_URL, queue, prefetch=30, exchange=_exchange(queue))
    assert source.fetch(10, 0.1) == []  # connects, declares the exchange and the queue (as Rasa does), binds
    events = captured(alice.customer_id)
    _publish(channel, queue, events)

    # A consumer that dies before acknowledging: RabbitMQ gives the messages to the next one.
    first = source.fetch(30, 2.0)
    assert len(first) == 30
    source.close()
    time.sleep(0.3)

    source = RabbitMQSource(RABBITMQ_URL, queue, prefetch=30, exchange=_exchange(queue))
    total = run(source, poll_seconds=0.5, batch_size=30, once=True)
    source.close()
    assert (total.events, total.stored) == (100, 100)
    assert len(rows(ConversationEvent)) == 100
    assert len(rows(Interaction, customer_id=alice.customer_id, kind="life_event")) == 3
    assert channel.queue_declare(queue, passive=True).method.message_count == 0  # all acknowledged

    _publish(channel, queue, events[:10])  # redelivered by a broker: recognised, nothing written twice
    source = RabbitMQSource(RABBITMQ_URL, queue, prefetch=30, exchange=_exchange(queue))
    again = run(source, poll_seconds=0.5, batch_size=30, once=True)
    source.close()
    assert (again.events, again.duplicates) == (10, 10)
    assert len(rows(ConversationEvent)) == 100


def test_nothing_is_acknowledged_while_the_crm_is_unreachable(
    tmp_path: Path, override_settings: Callable[..., None]
) -> None:
    events_db = tmp_path / "events.db"
    source = SQLBrokerSource(f"sqlite:///{events_db}")
    rasa_insert(events_db, captured(1)[:10])
    override_settings(database_url="postgresql+psycopg://postgres@127.0.0.1:1/nowhere")  # nothing listens there
    stop = threading.Event()
    threading.Timer(1.5, stop.set).start()

    total = run(source, poll_seconds=0.05, stop=stop)

    assert total.events == 0
    assert source.pending() == 10  # still waiting for the CRM, in order
    source.close()


def test_command_line_drains_the_broker_table_once(sqlite_db: Engine, tmp_path: Path) -> None:
    from tests.profiles.conftest import build_customer

    cid = build_customer().customer_id
    events_db = tmp_path / "events.db"
    SQLBrokerSource(f"sqlite:///{events_db}").close()
    rasa_insert(events_db, captured(cid))
    env = {**os.environ, "DATABASE_URL": str(sqlite_db.url), "EVENTS_DB_URL": f"sqlite:///{events_db}",
           "FEED_POLL_SECONDS": "0.05"}
    env.pop("RABBITMQ_URL", None)
    done = subprocess.run([sys.executable, "-m", "profiles.feed", "--once"], env=env, capture_output=True, text=True,
                          timeout=120, cwd=Path(__file__).resolve().parents[2])
    assert done.returncode == 0, done.stdout + done.stderr
    assert "stopped after 100 events (100 new" in done.stdout
    assert len(rows(ConversationEvent)) == 100
    assert sqlite3.connect(events_db).execute("SELECT count(*) FROM events").fetchone()[0] == 0
