"""Fault benchmark (issue 14 §6): SIGKILL the real campaign worker in the middle of a 10,000-recipient campaign,
restart it, and count the delivery log against the audience: 0 lost, 0 duplicates.

It runs the suite's own kill test (tests/api/test_campaign_worker.py, 2,000 recipients in CI) at the issue's
size through ``CAMPAIGN_KILL_N``; every assertion is the test's (one row per recipient, every treated recipient
``delivered`` exactly once, the control group untouched).

    .venv/bin/python benchmarks/campaign_kill.py [--backend sqlite]   # SQLite (and PostgreSQL) + SqliteHuey
    DATABASE_URL=postgresql+psycopg://postgres@127.0.0.1:5432/test REDIS_URL=redis://127.0.0.1:6379/0 \\
        .venv/bin/python benchmarks/campaign_kill.py                  # production: PostgreSQL + RedisHuey

Prints the test's line ("killed at N delivered; final {...}") and the wall time; the exit status is pytest's.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def main(argv: list[str] | None = None) -> int:
    """Run the kill test with ``--n`` recipients; returns pytest's exit status."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=10_000, help="recipients (default 10,000)")
    parser.add_argument("--backend", choices=("sqlite", "postgresql"), help="one database only (default: both)")
    args = parser.parse_args(argv)
    only = ["-k", args.backend] if args.backend else []
    t0 = time.monotonic()
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "tests/api/test_campaign_worker.py", "-q", "-s", "-p", "no:cacheprovider", *only],
        cwd=ROOT, env=os.environ | {"CAMPAIGN_KILL_N": str(args.n)}, check=False)
    print(f"campaign kill benchmark, {args.n} recipients: exit {done.returncode} in {time.monotonic() - t0:.0f} s")
    return done.returncode


if __name__ == "__main__":
    sys.exit(main())
