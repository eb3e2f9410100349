"""Our two event brokers write a turn's events in one transaction (``publish_many``), as the same rows in the
same order as one ``publish`` per event, in the real Rasa environment: Rasa's SQL broker on SQLite
(bot/event_broker.py, embedded mode) and the RabbitMQ broker's outbox (bot/durable_broker.py, production)."""

from __future__ import annotations

import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RASA_PY = ROOT / ".venv-rasa" / "bin" / "python"

SCRIPT = r"""
import asyncio, json, sqlite3, sys
from pathlib import Path
from bot.event_broker import SQLiteEventBroker
from bot.durable_broker import OutboxPikaEventBroker

tmp = Path(sys.argv[1])
events = [{"sender_id": "s1", "event": "user", "text": f"m{n}", "timestamp": float(n)} for n in range(5)]

sql = SQLiteEventBroker(dialect="sqlite", db=str(tmp / "events.db"))
sql.publish(events[0])
sql.publish_many(events[1:4])
sql.publish_many([])
sql.publish(events[4])
rows = sqlite3.connect(tmp / "events.db").execute("SELECT sender_id, data FROM events ORDER BY id").fetchall()
assert rows == [("s1", json.dumps(e)) for e in events], rows

async def outbox():
    broker = OutboxPikaEventBroker("127.0.0.1", queues=["q"], outbox=str(tmp / "outbox.db"))  # never started
    broker.publish(events[0])
    broker.publish_many(events[1:4])
    broker.publish(events[4])
    assert broker.pending() == 5
    bodies = [json.loads(b) for (b,) in broker._db.execute("SELECT body FROM outbox ORDER BY id")]
    assert bodies == events, bodies
    try:
        broker.publish_many([events[0], {"not json": object()}])
    except TypeError:
        pass
    else:
        raise AssertionError("an unserialisable event must fail the batch")
    assert broker.pending() == 5, "a failed batch appends nothing"
asyncio.run(outbox())
print("ok")
"""


def test_a_batch_writes_the_rows_one_publish_per_event_would(tmp_path: Path) -> None:
    done = subprocess.run([str(RASA_PY), "-c", SCRIPT, str(tmp_path)], cwd=ROOT, capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.strip().endswith("ok"), done.stdout[-2000:]
