"""Several Rasa workers (RASA_WORKERS) open one new outbox at the same moment: each must start. Two connections
switching a new SQLite file to WAL together got "database is locked" at once (a CI run lost a 2-worker stack
to it); bot/durable_broker.py now sets the outbox up one process at a time. Real processes, real SQLite."""

from __future__ import annotations

import sqlite3
import subprocess
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RASA_PY = ROOT / ".venv-rasa" / "bin" / "python"

OPEN = r"""
import sys, time
from bot.durable_broker import OutboxPikaEventBroker
start = float(sys.argv[2])
for n in range(30):  # 30 new files, each opened by every process at (nearly) the same instant
    while time.time() < start + 0.2 * n:
        pass
    broker = OutboxPikaEventBroker("127.0.0.1", queues=["q"], outbox=f"{sys.argv[1]}-{n}.db")  # never started
    broker.publish_many([{"sender_id": "s", "event": "user", "text": "hi"}])
print("ok")
"""


def test_workers_opening_one_new_outbox_together_all_start(tmp_path: Path) -> None:
    start = time.time() + 5.0  # after every interpreter has imported Rasa's broker module
    procs = [subprocess.Popen([str(RASA_PY), "-c", OPEN, str(tmp_path / "outbox"), str(start)], cwd=ROOT,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in range(4)]
    results = [p.communicate(timeout=180) for p in procs]
    failed = [err[-800:] for p, (_out, err) in zip(procs, results, strict=True) if p.returncode != 0]
    assert not failed, failed
    for n in range(30):
        with sqlite3.connect(tmp_path / f"outbox-{n}.db") as db:
            assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
            assert db.execute("SELECT count(*) FROM outbox").fetchone()[0] == 4
