"""The campaign worker process: ``python -m api.campaign_worker`` (huey consumer of ``api.campaign_queue``).

It first makes sure the schema is current, runs one sweep at once (batches a killed worker left behind are
queued again, scheduled campaigns whose time came are planned), then consumes the queue with
``--workers`` threads (default 2) until SIGINT/SIGTERM. Several workers may run at once: the delivery key and
the conditional claim keep every recipient at most once.
"""

from __future__ import annotations

import argparse
import logging

from huey.consumer import Consumer

from api.campaign_queue import get_queue, sweep
from profiles.db import init_db


def main(argv: list[str] | None = None) -> None:
    """Run the worker until stopped."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--workers", type=int, default=2, help="consumer threads")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    init_db()
    huey = get_queue()
    logging.getLogger(__name__).info("startup sweep: %s", sweep(min_age_minutes=0))
    Consumer(huey, workers=max(1, args.workers), worker_type="thread").run()


if __name__ == "__main__":
    main()
