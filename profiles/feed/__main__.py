"""``python -m profiles.feed``: consume Rasa's event broker into the CRM until SIGINT/SIGTERM.

The source follows the settings: ``RABBITMQ_URL`` set -> the RabbitMQ queue ``EVENT_QUEUE``; unset -> Rasa's
SQL event broker table in ``EVENTS_DB_URL`` (default ``var/events.db``). ``--once`` drains what is waiting and
exits (exit status 0), e.g. after a batch import or in a cron job.
"""

from __future__ import annotations

import argparse
import logging
import signal
import sys
import threading
from types import FrameType

from profiles.feed.consumer import DEFAULT_BATCH, run, source_from_settings
from profiles.feed.translate import FeedStats
from profiles.settings import get_settings


def main(argv: list[str] | None = None) -> int:
    """Run the consumer; returns the process exit status."""
    parser = argparse.ArgumentParser(prog="python -m profiles.feed", description=__doc__.splitlines()[0])
    parser.add_argument("--once", action="store_true", help="drain the waiting events, then exit")
    parser.add_argument("--batch-size", type=int, default=DEFAULT_BATCH, help="events per CRM transaction")
    parser.add_argument("-v", "--verbose", action="store_true", help="log every batch")
    args = parser.parse_args(argv)
    if args.batch_size < 1:
        parser.error("--batch-size must be at least 1")
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s - %(message)s",
        stream=sys.stdout,
    )
    logging.getLogger("pika").setLevel(logging.WARNING)
    settings = get_settings()
    stop = threading.Event()

    def _stop(signum: int, _frame: FrameType | None) -> None:
        logging.getLogger(__name__).info("feed: signal %d, stopping after the current batch", signum)
        stop.set()

    signal.signal(signal.SIGINT, _stop)
    signal.signal(signal.SIGTERM, _stop)
    source = source_from_settings(settings)
    where = f"queue {settings.event_queue}" if source.name == "rabbitmq" else getattr(source, "url", "")
    logging.getLogger(__name__).info("feed: started (source %s, %s)", source.name, where)
    try:
        total: FeedStats = run(
            source, poll_seconds=settings.feed_poll_seconds, batch_size=args.batch_size, stop=stop, once=args.once
        )
    finally:
        source.close()
    logging.getLogger(__name__).info(
        "feed: stopped after %d events (%d new, %d duplicates, %d invalid; %d timeline items, %d links, "
        "%d profile changes)",
        total.events, total.stored, total.duplicates, total.invalid, total.interactions, total.links,
        total.profile_changes,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
