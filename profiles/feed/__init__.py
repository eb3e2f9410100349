"""The real-time profile feed: Rasa's event broker -> transcript store, conversation links, timeline, profile.

Rasa publishes every tracker event to its event broker (``bot/endpoints.yml``: the SQL broker, a SQLite file;
``bot/endpoints.redis.yml``: RabbitMQ); ``python -m profiles.feed`` is a separate process that consumes it, so
the bot never waits on it. ``profiles.feed.translate`` turns events into rows (idempotently),
``profiles.feed.consumer`` reads the broker and acknowledges after each committed batch. docs/FEED.md
describes the events, the tables and the guarantees.
"""

from profiles.feed.consumer import RabbitMQSource, SQLBrokerSource, process_batch, run, source_from_settings
from profiles.feed.translate import FeedStats, InvalidEvent, apply_event, event_key, parse_event, strip_credentials

__all__ = [
    "FeedStats",
    "InvalidEvent",
    "RabbitMQSource",
    "SQLBrokerSource",
    "apply_event",
    "event_key",
    "parse_event",
    "process_batch",
    "run",
    "source_from_settings",
    "strip_credentials",
]
