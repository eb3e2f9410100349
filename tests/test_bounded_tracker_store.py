"""bot/tracker_store.py in the real Rasa environment: a long conversation is stored as a bounded window of its
current session that re-creates the same state (slots with their seals, active form and its rejection, hand-off
pause, last action), while the event broker still receives every event exactly once. Run against Rasa's own
in-memory store and against the real Redis (``TEST_REDIS_URL``, default the local one; skipped when none)."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
RASA_PY = ROOT / ".venv-rasa" / "bin" / "python"

SCRIPT = r"""
import asyncio, json, sys, uuid
from rasa.shared.core.domain import Domain
from rasa.shared.core.events import (ActionExecuted, ActionExecutionRejected, ActiveLoop, BotUttered,
    ConversationPaused, SessionStarted, SlotSet, UserUttered)
from rasa.shared.core.trackers import EventVerbosity
from bot.tracker_store import BoundedInMemoryTrackerStore, BoundedRedisTrackerStore, bounded_events

MAX = 30
domain = Domain.load("domain.yml")

class Broker:
    def __init__(self): self.published, self.batches = [], 0
    def publish(self, event): self.published.append(event)

class BatchBroker(Broker):  # as bot/event_broker.py and bot/durable_broker.py: a turn's events in one call
    def publish_many(self, events): self.batches += 1; self.published.extend(events)

def turn(n, extra=()):
    t = 1000.0 + n
    return ([UserUttered(f"message {n}", {"name": "greet", "confidence": 1.0}, timestamp=t),
             ActionExecuted("utter_greet", timestamp=t), BotUttered(f"reply {n}", timestamp=t), *extra,
             ActionExecuted("action_listen", timestamp=t)])

def store_for(kind, broker):
    if kind == "memory":
        return BoundedInMemoryTrackerStore(domain, broker, max_events=MAX, host=None)
    host, port, db = sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
    return BoundedRedisTrackerStore(domain, host=host, port=port, db=db, event_broker=broker, max_events=MAX,
                                    key_prefix="novatest" + uuid.uuid4().hex[:8], record_exp=60)

async def main(kind):
    broker = BatchBroker() if kind == "memory" else Broker()  # both publishing paths
    store = store_for(kind, broker)
    sender = "bounded-" + uuid.uuid4().hex[:8]
    # an earlier session, then the current one
    script = [ActionExecuted("action_session_start", timestamp=1.0), SessionStarted(timestamp=1.0),
              ActionExecuted("action_listen", timestamp=1.0), *turn(-1, [SlotSet("amount", "1.00", timestamp=999)]),
              ActionExecuted("action_session_start", timestamp=999.5), SessionStarted(timestamp=999.5),
              ActionExecuted("action_listen", timestamp=999.5)]
    script += turn(0, [SlotSet("owner", "17.sealed", timestamp=1000.0)])
    script += turn(1, [ActiveLoop("transfer_form", timestamp=1001.0), SlotSet("requested_slot", "amount", timestamp=1001.0)])
    script += turn(2, [ActionExecutionRejected("transfer_form", timestamp=1002.0)])
    script += turn(3, [SlotSet("transfer_confirmed", "abc.sealed", timestamp=1003.0), SlotSet("csat_asked", True, timestamp=1003.0)])
    script += [ConversationPaused(timestamp=1003.5)]
    for n in range(4, 60):
        script += turn(n)
    # played turn by turn, as Rasa does: read, add one turn's events, save
    tracker = await store.get_or_create_tracker(sender, append_action_listen=False)
    cursor, saves = 0, 0
    while cursor < len(script):
        nxt = next((i for i in range(cursor + 1, len(script)) if isinstance(script[i], UserUttered)), len(script))
        for event in script[cursor:nxt]:
            tracker.update(event)
        await store.save(tracker)
        saves += 1
        cursor = nxt
        tracker = await store.retrieve(sender)
    full = await store.retrieve_full_tracker(sender)
    reference = type(tracker).from_events(sender, script, slots=domain.slots)
    assert saves > 60
    # every event reached the broker exactly once, in order
    assert [e["timestamp"] for e in broker.published] == [e.timestamp for e in script], "broker"
    assert [e["event"] for e in broker.published] == [e.type_name for e in script]
    assert all(e["sender_id"] == sender for e in broker.published)
    assert broker.batches >= (saves - 1 if kind == "memory" else 0), (broker.batches, saves)  # one call a save
    # bounded: the window plus the short head, the earlier session gone, the window starts at a user message
    events = list(tracker.events)
    assert len(events) <= MAX + 12, len(events)
    assert len(full.events) == len(events)
    assert sum(isinstance(e, SessionStarted) for e in events) == 1
    first_user = next(i for i, e in enumerate(events) if isinstance(e, UserUttered))
    assert events[first_user:] == script[len(script) - (len(events) - first_user):]
    # the same state as the whole history gives
    assert tracker.current_slot_values() == reference.current_slot_values(), "slots"
    assert tracker.get_slot("amount") is None  # from the earlier session: not carried over (domain setting)
    assert tracker.get_slot("transfer_confirmed") == "abc.sealed" and tracker.get_slot("owner") == "17.sealed"
    assert tracker.active_loop_name == "transfer_form" and tracker.is_active_loop_rejected
    assert tracker.is_paused() and reference.is_paused()
    assert tracker.latest_action_name == "action_listen"
    assert tracker.latest_message.text == "message 59"
    # the action request's size no longer grows with the conversation
    size = len(json.dumps(tracker.current_state(EventVerbosity.ALL)))
    assert size < 0.5 * len(json.dumps(reference.current_state(EventVerbosity.ALL))), size
    again = bounded_events(tracker, MAX) or list(tracker.events)  # cutting a window again: still bounded
    assert len(again) <= MAX + 12
    try:
        bounded_events(tracker, 0)
    except ValueError:
        pass
    else:
        raise AssertionError("max_events 0 accepted")
    if kind == "redis":
        store.red.delete(store.key_prefix + sender)
    print("ok", kind, len(events), size)

asyncio.run(main(sys.argv[1]))
"""


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(RASA_PY), "-c", SCRIPT, *args], cwd=ROOT, capture_output=True, text=True, timeout=300)


def test_in_memory_store_keeps_a_bounded_window_with_the_same_state() -> None:
    result = run("memory")
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.startswith("ok memory")


def test_redis_store_keeps_a_bounded_window_with_the_same_state(test_redis_url: str) -> None:
    from urllib.parse import urlsplit

    u = urlsplit(test_redis_url)
    if u.scheme != "redis" or u.password:
        pytest.skip("this test speaks to a plain local Redis only")
    result = run("redis", u.hostname or "127.0.0.1", str(u.port or 6379), (u.path or "/0").lstrip("/") or "0")
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.startswith("ok redis")


def test_a_bad_window_size_is_refused_at_start() -> None:
    script = ("from rasa.shared.core.domain import Domain\nfrom bot.tracker_store import BoundedInMemoryTrackerStore\n"
              "BoundedInMemoryTrackerStore(Domain.empty(), max_events='0')")
    result = subprocess.run([str(RASA_PY), "-c", script], cwd=ROOT, capture_output=True, text=True, timeout=300,
                            env={**os.environ})
    assert result.returncode != 0 and "max_events must be positive" in result.stderr
