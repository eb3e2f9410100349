"""The feed consumer: reads Rasa's event broker and writes each batch of events through ``translate``.

Two sources, chosen by ``settings.rabbitmq_url`` (see :func:`source_from_settings`):

- :class:`SQLBrokerSource` (embedded mode): Rasa's SQL event broker appends every event to the table
  ``events(id, sender_id, data)`` of ``settings.events_db_url`` (``var/events.db``). The table is used as a
  queue: the consumer reads the oldest rows (by ``id``), commits their translation to the CRM, then deletes
  exactly those rows (its acknowledgement), so the table only ever holds events not yet in the CRM and a
  restart resumes where the last commit ended. A crash between the commit and the delete re-delivers those
  rows, which the event keys make harmless.
- :class:`RabbitMQSource` (production mode): the durable queue ``settings.event_queue`` bound to Rasa's
  fanout exchange ``rasa-exchange``; messages are acknowledged (``basic_ack``, multiple) only after the
  batch's CRM transaction committed; a lost connection is re-opened with back-off and the unacknowledged
  messages are redelivered by RabbitMQ.

Delivery is at least once; the translation is idempotent (``event_key``), so the CRM sees each event once.
A batch is one CRM transaction; when it fails for a reason other than the database being unreachable, its
events are retried one by one and an event that still fails is logged and skipped (never blocks the feed).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from contextlib import suppress
from dataclasses import dataclass
from typing import Any, Protocol

from sqlalchemy import (
    Column,
    Engine,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    delete,
    event,
    func,
    select,
)
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError, OperationalError

from profiles.db import new_engine, private_sqlite_file, session_scope
from profiles.feed.translate import FeedStats, InvalidEvent, apply_event, parse_event, refresh_preferred_channels
from profiles.settings import Settings, get_settings

log = logging.getLogger(__name__)

RASA_EXCHANGE = "rasa-exchange"  # rasa.core.brokers.pika.RABBITMQ_EXCHANGE (a fanout exchange)
DEFAULT_BATCH = 200
MAX_BACKOFF_S = 30.0
BATCH_GAP_S = 0.02  # RabbitMQ: a batch ends after this long without a message (one turn's events come together)

# Rasa's SQL event broker table (rasa.core.brokers.sql.SQLEventBroker.SQLBrokerEvent), declared identically
# so the consumer can create it when it starts before Rasa.
_metadata = MetaData()
BROKER_EVENTS = Table(
    "events",
    _metadata,
    Column("id", Integer, primary_key=True),
    Column("sender_id", String(255)),
    Column("data", Text),
)


@dataclass(frozen=True)
class Delivery:
    """One message from the broker: an opaque acknowledgement handle and the raw payload (JSON)."""

    tag: int
    payload: bytes | str


class Source(Protocol):
    """Where events come from: :meth:`fetch` up to ``limit`` deliveries (waiting at most ``wait`` seconds
    for the first), :meth:`ack` them after their translation committed."""

    name: str

    def fetch(self, limit: int, wait: float) -> list[Delivery]: ...

    def ack(self, deliveries: Sequence[Delivery]) -> None: ...

    def close(self) -> None: ...


def process_batch(deliveries: Sequence[Delivery]) -> FeedStats:
    """Translate ``deliveries`` into the CRM in one transaction (see the module docstring for failures).

    Returns:
        The batch's counts. Payloads that are not Rasa events are counted in ``invalid`` and skipped.

    Raises:
        sqlalchemy.exc.OperationalError / DBAPIError with a lost connection: the CRM is unreachable; nothing
            of the batch is written and the caller must not acknowledge it.
    """
    events: list[dict[str, Any]] = []
    stats = FeedStats()
    for delivery in deliveries:
        try:
            events.append(parse_event(delivery.payload))
        except InvalidEvent as exc:
            stats.invalid += 1
            log.error("feed: skipping a broker message that is not a Rasa event (%s): %.200r", exc, delivery.payload)
    if not events:
        return stats
    try:
        batch = FeedStats()
        with session_scope(write=True) as session:
            for item in events:
                apply_event(session, item, batch)
            refresh_preferred_channels(session, batch.touched_customers)
        batch.invalid = stats.invalid
        return batch
    except (OperationalError, DBAPIError) as exc:
        if _unreachable(exc):
            raise
        # the class only: a database error's text carries the statement's parameters (a customer's words)
        log.warning("feed: batch of %d events failed (%s); retrying them one by one", len(events), type(exc).__name__)
    except Exception as exc:  # noqa: BLE001 - one bad event must not stop the feed; retried singly below
        log.warning("feed: batch of %d events failed (%s); retrying them one by one", len(events), type(exc).__name__)
    for item in events:
        one = FeedStats()
        try:
            with session_scope(write=True) as session:
                apply_event(session, item, one)
                refresh_preferred_channels(session, one.touched_customers)
        except (OperationalError, DBAPIError) as exc:
            if _unreachable(exc):
                raise
            _log_dropped(item, exc)
            continue
        except Exception as exc:  # noqa: BLE001
            _log_dropped(item, exc)
            continue
        stats.add(one)
    return stats


def _log_dropped(item: dict[str, Any], exc: BaseException) -> None:
    """One line with the reason for an event the CRM refused; the traceback only at DEBUG level (a
    RecursionError's ran to thousands of lines). A database error is named by its driver error class only:
    its text holds the statement's parameters (message texts, e-mails)."""
    if isinstance(exc, DBAPIError):
        reason = f"database error {type(exc.orig).__name__}"
    else:
        reason = f"{type(exc).__name__}: {str(exc)[:200]}"
    log.error("feed: dropping event %s of sender %s: %s", item.get("event"), item.get("sender_id"), reason)
    log.debug("feed: traceback of the dropped event", exc_info=exc)


def _unreachable(exc: DBAPIError) -> bool:
    """True when the error means the database cannot be reached (retry later), not a bad event."""
    if exc.connection_invalidated:
        return True
    text = str(exc).lower()
    return any(
        s in text
        for s in ("could not connect", "connection refused", "server closed the connection", "database is locked",
                  "terminating connection", "connection timed out", "unable to open database")
    )


# --- SQL broker (embedded) ------------------------------------------------------------------------------
class SQLBrokerSource:
    """Rasa's SQL event broker table as a queue (see the module docstring).

    ``url`` is an SQLAlchemy URL (``sqlite:///var/events.db``); on SQLite the file is switched to WAL so that
    Rasa's inserts and the consumer's reads never block each other, and the table is created if Rasa has not
    started yet.
    """

    name = "sql"

    def __init__(self, url: str) -> None:
        parsed = make_url(url)
        self.url = parsed.render_as_string(hide_password=True)
        self.engine: Engine
        if parsed.get_backend_name() == "sqlite":
            if parsed.database and parsed.database != ":memory:":
                private_sqlite_file(parsed.database)  # 0600 (its -wal/-shm follow), new directories 0700
            self.engine = new_engine(url, connect_args={"timeout": 15})

            @event.listens_for(self.engine, "connect")
            def _on_connect(dbapi_connection: Any, _record: Any) -> None:
                cursor = dbapi_connection.cursor()
                cursor.execute("PRAGMA journal_mode=WAL")  # persistent: Rasa's connections use it too
                cursor.execute("PRAGMA busy_timeout=15000")
                cursor.close()
        else:
            self.engine = new_engine(url, pool_pre_ping=True)
        _metadata.create_all(self.engine)

    def fetch(self, limit: int, wait: float) -> list[Delivery]:
        """The oldest ``limit`` rows; when there are none, sleeps ``wait`` seconds and looks once more."""
        for attempt in range(2):
            with self.engine.connect() as conn:
                rows = conn.execute(
                    select(BROKER_EVENTS.c.id, BROKER_EVENTS.c.data).order_by(BROKER_EVENTS.c.id).limit(limit)
                ).all()
            if rows or attempt or wait <= 0:
                return [Delivery(int(r[0]), r[1] or "") for r in rows]
            time.sleep(wait)
        return []

    def ack(self, deliveries: Sequence[Delivery]) -> None:
        """Delete the rows just committed to the CRM."""
        ids = [d.tag for d in deliveries]
        with self.engine.begin() as conn:
            for start in range(0, len(ids), 500):
                conn.execute(delete(BROKER_EVENTS).where(BROKER_EVENTS.c.id.in_(ids[start:start + 500])))

    def pending(self) -> int:
        """How many events wait in the table (not yet in the CRM)."""
        with self.engine.connect() as conn:
            return int(conn.execute(select(func.count()).select_from(BROKER_EVENTS)).scalar_one())

    def close(self) -> None:
        self.engine.dispose()


# --- RabbitMQ (production) ------------------------------------------------------------------------------
class RabbitMQSource:
    """The durable queue ``queue`` on RabbitMQ at ``url`` (``amqp://user:password@host:port/vhost``), bound to
    Rasa's fanout exchange (``exchange``, setting ``event_exchange``). Declares both exactly as Rasa 3.6 does (exchange not durable, queue durable), so
    either process may start first. Reconnects on any connection error (the unacknowledged messages come
    back); :meth:`fetch` raises nothing but a stop."""

    name = "rabbitmq"

    def __init__(self, url: str, queue: str, *, prefetch: int = DEFAULT_BATCH, exchange: str = RASA_EXCHANGE) -> None:
        import pika  # type: ignore[import-untyped]

        self._pika = pika
        self.url = url
        self.queue = queue
        self.exchange = exchange
        self.prefetch = prefetch
        self._connection: Any = None
        self._channel: Any = None
        self._backoff = 1.0

    def _connect(self) -> None:
        pika = self._pika
        params = pika.URLParameters(self.url)
        params.heartbeat = 30
        params.blocked_connection_timeout = 60
        params.connection_attempts = 1
        self._connection = pika.BlockingConnection(params)
        channel = self._connection.channel()
        channel.exchange_declare(self.exchange, exchange_type="fanout", durable=False)
        channel.queue_declare(self.queue, durable=True)
        channel.queue_bind(self.queue, self.exchange)
        channel.basic_qos(prefetch_count=self.prefetch)
        self._channel = channel
        self._backoff = 1.0
        log.info("feed: consuming RabbitMQ queue %s on %s", self.queue, params.host)

    def _drop_connection(self) -> None:
        with suppress(Exception):
            if self._channel is not None and self._channel.is_open:
                self._channel.cancel()
        with suppress(Exception):
            if self._connection is not None and self._connection.is_open:
                self._connection.close()
        self._connection = self._channel = None

    def fetch(self, limit: int, wait: float) -> list[Delivery]:
        """Up to ``limit`` messages: waits up to ``wait`` s for the first, then takes what arrives within
        ``BATCH_GAP_S`` of the previous one. On a connection error: reconnects (with back-off) and returns []."""
        pika = self._pika
        try:
            if self._channel is None:
                self._connect()
            out: list[Delivery] = []
            give_up = time.monotonic() + max(wait, 0.0)
            # One generator per channel (pika keeps it between calls); it yields (None, None, None) after
            # BATCH_GAP_S without a message: the end of a batch, or another turn of waiting for the first one.
            for method, _props, body in self._channel.consume(self.queue, inactivity_timeout=BATCH_GAP_S):
                if method is None:
                    if out or time.monotonic() >= give_up:
                        break
                    continue
                out.append(Delivery(int(method.delivery_tag), body))
                if len(out) >= limit:
                    break
            return out
        except (pika.exceptions.AMQPError, OSError) as exc:
            log.warning("feed: RabbitMQ connection lost (%s); reconnecting in %.0f s", exc, self._backoff)
            self._drop_connection()
            time.sleep(self._backoff)
            self._backoff = min(self._backoff * 2, MAX_BACKOFF_S)
            return []

    def ack(self, deliveries: Sequence[Delivery]) -> None:
        """Acknowledge every message up to the last one (they arrive and are acked in order)."""
        if deliveries and self._channel is not None:
            self._channel.basic_ack(delivery_tag=max(d.tag for d in deliveries), multiple=True)

    def requeue(self) -> None:
        """Give every unacknowledged message back (the CRM was unreachable): reconnecting does that."""
        self._drop_connection()

    def close(self) -> None:
        self._drop_connection()


def source_from_settings(settings: Settings | None = None) -> SQLBrokerSource | RabbitMQSource:
    """RabbitMQ when ``settings.rabbitmq_url`` is set, else the SQL broker table at ``settings.events_db_url``."""
    settings = settings or get_settings()
    if settings.rabbitmq_url:
        return RabbitMQSource(settings.rabbitmq_url, settings.event_queue, exchange=settings.event_exchange)
    return SQLBrokerSource(settings.events_db_url)


def run(
    source: SQLBrokerSource | RabbitMQSource,
    *,
    poll_seconds: float,
    batch_size: int = DEFAULT_BATCH,
    stop: threading.Event | None = None,
    once: bool = False,
    on_batch: Callable[[FeedStats], None] | None = None,
) -> FeedStats:
    """Consume ``source`` until ``stop`` is set (or, with ``once``, until it has nothing more).

    Waits ``poll_seconds`` when there is nothing to read; when the CRM is unreachable, leaves the batch
    unacknowledged and retries with back-off (1 s doubling to 30 s).

    Returns:
        The counts over the whole run.
    """
    stop = stop or threading.Event()
    total = FeedStats()
    backoff = 1.0
    while not stop.is_set():
        try:
            deliveries = source.fetch(batch_size, poll_seconds)
        except (OperationalError, DBAPIError) as exc:
            log.warning("feed: cannot read the broker table (%s); retrying in %.0f s", exc, backoff)
            stop.wait(backoff)
            backoff = min(backoff * 2, MAX_BACKOFF_S)
            continue
        if not deliveries:
            if once:
                break
            continue
        try:
            stats = process_batch(deliveries)
        except (OperationalError, DBAPIError) as exc:
            log.warning("feed: CRM database unreachable (%s); retrying in %.0f s", exc, backoff)
            if isinstance(source, RabbitMQSource):
                source.requeue()
            stop.wait(backoff)
            backoff = min(backoff * 2, MAX_BACKOFF_S)
            continue
        backoff = 1.0
        try:
            source.ack(deliveries)
        except (OperationalError, DBAPIError) as exc:
            # Committed but not acknowledged: these events come again and are recognised as duplicates.
            log.warning("feed: could not acknowledge %d events (%s); they will be seen again", len(deliveries), exc)
        total.add(stats)
        if on_batch is not None:
            on_batch(stats)
        log.debug(
            "feed: %d events (%d new, %d duplicates, %d invalid), %d timeline items, %d links, %d profile changes",
            stats.events, stats.stored, stats.duplicates, stats.invalid, stats.interactions, stats.links,
            stats.profile_changes,
        )
    return total


def rasa_broker_env(rabbitmq_url: str, queue: str, exchange: str = RASA_EXCHANGE) -> dict[str, str]:
    """The variables ``bot/endpoints.redis.yml`` interpolates for Rasa's pika broker, from ``RABBITMQ_URL``.

    ``amqp://user:password@host:port/vhost`` -> ``RABBITMQ_HOST``, ``RABBITMQ_PORT`` (5672 when absent),
    ``RABBITMQ_USERNAME``, ``RABBITMQ_PASSWORD`` (``guest``/``guest`` when absent, as pika assumes) and
    ``RABBITMQ_QUEUE`` (= ``queue``, the consumer's ``EVENT_QUEUE``), ``RABBITMQ_EXCHANGE`` (= ``exchange``, the
    consumer's ``EVENT_EXCHANGE``).

    Raises:
        ValueError: not ``amqp://``, no host, or a virtual host other than ``/`` (Rasa 3.6's broker given a
            host name always uses ``/``; ``amqps://`` needs client certificates it reads from its own
            variables), or an empty queue name.
    """
    from urllib.parse import unquote, urlsplit

    u = urlsplit(rabbitmq_url)
    if u.scheme != "amqp" or not u.hostname:
        raise ValueError("RABBITMQ_URL must look like amqp://user:password@host:5672/%2F (amqps:// is not supported)")
    vhost = unquote(u.path[1:]) if u.path.startswith("/") else unquote(u.path)
    if vhost not in ("", "/"):
        raise ValueError(f"RABBITMQ_URL's virtual host must be / (written %2F), not {vhost!r}: Rasa 3.6 uses / only")
    if not queue.strip():
        raise ValueError("EVENT_QUEUE must not be empty")
    if not exchange.strip():
        raise ValueError("EVENT_EXCHANGE must not be empty")
    return {
        "RABBITMQ_HOST": u.hostname,
        "RABBITMQ_PORT": str(u.port or 5672),
        "RABBITMQ_USERNAME": unquote(u.username) if u.username else "guest",
        "RABBITMQ_PASSWORD": unquote(u.password) if u.password is not None else "guest",
        "RABBITMQ_QUEUE": queue,
        "RABBITMQ_EXCHANGE": exchange,
    }
