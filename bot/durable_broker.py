"""A RabbitMQ event broker that loses no event: a local outbox first, RabbitMQ when it is there.

Loaded by Rasa from ``bot/endpoints.redis.yml`` (``type: bot.durable_broker.OutboxPikaEventBroker``; the keys of
Rasa's ``type: pika`` broker: ``url`` (host), ``port``, ``username``, ``password``, ``queues``, plus ``outbox``,
the SQLite file, default ``var/outbox-<queue>.db`` relative to the directory Rasa runs in; the environment
variable ``EVENT_OUTBOX`` overrides both).

Why: Rasa 3.6's ``PikaEventBroker`` refuses to start while RabbitMQ is down, and while it is up but its
connection is lost it keeps unsent events in process memory only: a Rasa restart during a RabbitMQ outage lost
154 events (issue 12 item 5). Here :meth:`OutboxPikaEventBroker.publish` appends the event to the table
``outbox`` (SQLite, WAL, committed before it returns; a killed Rasa process loses nothing, only a power cut
could take the last commits with ``synchronous=NORMAL``, the ``synchronous`` key makes it ``FULL``), and a
drainer task on Rasa's event loop publishes the rows in ``id`` order to the fanout exchange (``exchange``, Rasa's
``rasa-exchange`` by default)
with publisher confirms, deleting each row only after RabbitMQ confirmed it (persistent message, durable
queue: confirmed = on RabbitMQ's disk). A lost connection is retried with back-off (1 s doubling to 30 s);
rows wait on disk, across restarts, and are sent first when RabbitMQ is back. Rasa starts with RabbitMQ down.

Delivery is at least once (a connection lost between RabbitMQ's confirm and the row's delete sends that one
event again); the feed consumer is idempotent (``event_key``). Several Rasa processes may share one outbox file:
only the holder of ``<outbox>.lock`` (``flock``) drains, so the order stays the file's order.
Message bodies hold customer data: they are never logged. Imports only Rasa's own packages.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import json
import logging
import os
import sqlite3
from pathlib import Path
from typing import Any

from rasa.core.brokers.broker import EventBroker

log = logging.getLogger(__name__)

RASA_EXCHANGE = "rasa-exchange"  # rasa.core.brokers.pika.RABBITMQ_EXCHANGE; the feed binds its queue to it


def default_outbox(queues: list[str] | None) -> str:
    """``var/outbox-<first queue>.db``: one file per queue, so stacks on different queues (tests) never share."""
    name = "".join(c if c.isalnum() or c in "-_" else "_" for c in (queues or ["events"])[0])
    return f"var/outbox-{name}.db"

BATCH = 100  # rows read per drain step
MAX_BACKOFF_S = 30.0
LOCK_RETRY_S = 5.0  # another process holds the drain lock: look again this often


class OutboxPikaEventBroker(EventBroker):
    """Rasa event broker: SQLite outbox on local disk, drained in order to RabbitMQ with publisher confirms.

    Args:
        host: RabbitMQ host name; ``port``, ``username``, ``password`` as for pika (5672, guest, guest).
        queues: durable queues bound to the exchange (declared on every connect, as Rasa's own broker
            does: a fanout exchange without a bound queue would drop a confirmed message).
        outbox: path of the SQLite outbox file (created with its directory, mode 0600).
        synchronous: SQLite ``synchronous`` for the outbox, ``NORMAL`` (default) or ``FULL``.
        exchange: the fanout exchange published to (``rasa-exchange``, Rasa's; key ``exchange``, from
            ``EVENT_EXCHANGE`` via scripts/run.sh), so copies sharing one RabbitMQ keep their events apart.

    Raises:
        ValueError: no queue, or ``synchronous`` not NORMAL/FULL.
    """

    def __init__(
        self,
        host: str,
        *,
        port: int = 5672,
        username: str = "guest",
        password: str = "guest",
        queues: list[str] | None = None,
        outbox: str = "var/outbox-events.db",
        synchronous: str = "NORMAL",
        exchange: str = RASA_EXCHANGE,
    ) -> None:
        if not queues:
            raise ValueError("OutboxPikaEventBroker needs at least one queue (key `queues`)")
        if synchronous.upper() not in ("NORMAL", "FULL"):
            raise ValueError("synchronous must be NORMAL or FULL")
        self.host = host
        self.port = int(port)
        self.username = username
        self.password = password
        self.queues = [str(q) for q in queues]
        self.exchange_name = exchange or RASA_EXCHANGE
        self.outbox_path = Path(outbox)
        self.outbox_path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        if not self.outbox_path.exists():
            self.outbox_path.touch(mode=0o600)
        self._db = sqlite3.connect(str(self.outbox_path), timeout=15, isolation_level=None)
        # Several Rasa workers start at once on one new outbox: two connections switching it to WAL together get
        # "database is locked" at once (SQLite does not wait there), so the setup runs one process at a time.
        setup_lock = os.open(f"{self.outbox_path}.setup.lock", os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(setup_lock, fcntl.LOCK_EX)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute(
                "CREATE TABLE IF NOT EXISTS outbox (id INTEGER PRIMARY KEY AUTOINCREMENT, body BLOB NOT NULL)"
            )
        finally:
            os.close(setup_lock)  # closing releases the lock
        self._db.execute(f"PRAGMA synchronous={synchronous.upper()}")
        self._wake: asyncio.Event | None = None
        self._task: asyncio.Task[None] | None = None
        self._lock_fd: int | None = None
        self._connection: Any = None
        self._exchange: Any = None
        self.published = 0  # events confirmed by RabbitMQ since start (tests, logs)

    @classmethod
    async def from_endpoint_config(
        cls, broker_config: Any, event_loop: asyncio.AbstractEventLoop | None = None
    ) -> OutboxPikaEventBroker | None:
        """Rasa's factory (``type: bot.durable_broker.OutboxPikaEventBroker`` in endpoints): never connects
        here, so Rasa starts while RabbitMQ is down; the drainer starts on the running loop."""
        if broker_config is None:
            return None
        kwargs = dict(broker_config.kwargs)
        queues = kwargs.pop("queues", None) or ([kwargs.pop("queue")] if kwargs.get("queue") else None)
        if isinstance(queues, str):
            queues = [queues]
        broker = cls(
            broker_config.url,
            port=int(kwargs.get("port") or 5672),
            username=str(kwargs.get("username") or "guest"),
            password=str(kwargs.get("password") or "guest"),
            queues=queues,
            outbox=str(os.environ.get("EVENT_OUTBOX") or kwargs.get("outbox") or default_outbox(queues)),
            synchronous=str(kwargs.get("synchronous") or "NORMAL"),
            exchange=str(kwargs.get("exchange") or RASA_EXCHANGE),
        )
        broker.start()
        return broker

    # --- Rasa's side: append -------------------------------------------------------------------------------
    def publish(self, event: dict[str, Any]) -> None:
        """Append ``event`` (a Rasa event dict, JSON-serialisable) to the outbox; returns once it is committed.

        Raises:
            sqlite3.Error: the outbox cannot be written (disk full, file removed): Rasa logs it as a failed
                publish; the event is then lost, as with any broker that refuses it.
        """
        body = json.dumps(event).encode("utf-8")
        self._db.execute("INSERT INTO outbox (body) VALUES (?)", (body,))
        if self._wake is not None:
            self._wake.set()

    def publish_many(self, events: list[dict[str, Any]]) -> None:
        """Append ``events`` in order in one transaction (one commit per turn instead of one per event); as
        :meth:`publish` otherwise. Raises sqlite3.Error as :meth:`publish` does (nothing is appended then)."""
        if not events:
            return
        bodies = [(json.dumps(event).encode("utf-8"),) for event in events]
        with self._db:  # BEGIN ... COMMIT, ROLLBACK on error
            self._db.execute("BEGIN")
            self._db.executemany("INSERT INTO outbox (body) VALUES (?)", bodies)
        if self._wake is not None:
            self._wake.set()

    def pending(self) -> int:
        """Events in the outbox, not yet confirmed by RabbitMQ."""
        return int(self._db.execute("SELECT count(*) FROM outbox").fetchone()[0])

    def is_ready(self) -> bool:
        """Always ready: events are accepted into the outbox whether RabbitMQ is up or not."""
        return True

    # --- the drainer ---------------------------------------------------------------------------------------
    def start(self) -> None:
        """Start the drainer task on the running event loop (called by :meth:`from_endpoint_config`)."""
        if self._task is None:
            self._wake = asyncio.Event()
            self._wake.set()  # rows left by a previous run go first
            self._task = asyncio.get_running_loop().create_task(self._drain_forever())

    def _take_drain_lock(self) -> bool:
        if self._lock_fd is not None:
            return True
        fd = os.open(f"{self.outbox_path}.lock", os.O_CREAT | os.O_RDWR, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            os.close(fd)
            return False
        self._lock_fd = fd
        return True

    async def _connect(self) -> None:
        import aio_pika  # type: ignore[import-not-found]  # .venv-rasa only (mypy runs in .venv)

        self._connection = await aio_pika.connect(
            host=self.host, port=self.port, login=self.username, password=self.password, timeout=10
        )
        channel = await self._connection.channel(publisher_confirms=True)
        self._exchange = await channel.declare_exchange(self.exchange_name, aio_pika.ExchangeType.FANOUT)
        for name in self.queues:
            queue = await channel.declare_queue(name, durable=True)
            await queue.bind(self._exchange, "")

    async def _disconnect(self) -> None:
        connection, self._connection, self._exchange = self._connection, None, None
        if connection is not None:
            with contextlib.suppress(Exception):  # already broken: nothing to keep
                await asyncio.wait_for(connection.close(), 5)

    async def _drain_once(self) -> int:
        """Publish the oldest rows in order, each deleted once RabbitMQ confirmed it; the number sent."""
        import aio_pika  # type: ignore[import-not-found]  # .venv-rasa only (mypy runs in .venv)

        rows = self._db.execute("SELECT id, body FROM outbox ORDER BY id LIMIT ?", (BATCH,)).fetchall()
        for row_id, body in rows:
            message = aio_pika.Message(
                body=bytes(body), delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
                app_id=os.environ.get("RASA_ENVIRONMENT"),
            )
            await asyncio.wait_for(self._exchange.publish(message, routing_key=""), 30)
            self._db.execute("DELETE FROM outbox WHERE id = ?", (row_id,))
            self.published += 1
        return len(rows)

    async def _drain_forever(self) -> None:
        assert self._wake is not None
        backoff = 1.0
        while True:
            try:
                if not self._take_drain_lock():
                    await asyncio.sleep(LOCK_RETRY_S)
                    continue
                if self._exchange is None:
                    await self._connect()
                    if backoff > 1.0:
                        log.info("outbox broker: RabbitMQ %s:%d reachable again, %d events waiting",
                                 self.host, self.port, self.pending())
                    backoff = 1.0
                self._wake.clear()
                if await self._drain_once() == BATCH:
                    continue  # more waiting: no sleep
                # A periodic look too: another process sharing the file may have appended rows.
                with contextlib.suppress(asyncio.TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), LOCK_RETRY_S)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 - any broker/network error: keep the rows, retry later
                # The exception type and text only (connection errors), never an event body.
                log.warning("outbox broker: RabbitMQ %s:%d unavailable (%s: %s); %d events kept on disk, "
                            "retrying in %.0f s", self.host, self.port, type(exc).__name__, str(exc)[:200],
                            self.pending(), backoff)
                await self._disconnect()
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, MAX_BACKOFF_S)

    async def close(self) -> None:
        """Stop the drainer (rows not yet confirmed stay in the outbox for the next start) and disconnect."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._task
            self._task = None
        await self._disconnect()
        if self._lock_fd is not None:
            os.close(self._lock_fd)
            self._lock_fd = None
