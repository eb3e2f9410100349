"""bot/event_types.py in the real Rasa environment: the cached ``Event.resolve_by_type`` returns what Rasa's
does for every event type, keeps Rasa's behaviour for unknown names, and forgets its answers when a new
``Event`` subclass is defined."""

from __future__ import annotations

import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RASA_PY = ROOT / ".venv-rasa" / "bin" / "python"

SCRIPT = r"""
from rasa.shared.core.events import Event, SlotSet, UserUttered
from rasa.shared.utils.common import all_subclasses
original = Event.resolve_by_type
names = {cls.type_name for cls in all_subclasses(Event)}
expected = {name: original(name) for name in names}
import bot.components  # noqa: F401  (installs the cache, as model loading does)
from bot import event_types
assert Event.resolve_by_type is event_types._resolve_by_type
for _ in range(2):
    for name in names:
        assert Event.resolve_by_type(name) is expected[name], name
assert len(event_types._found) == len(names)
assert Event.resolve_by_type("topic") is None
assert Event.resolve_by_type("no_such_event", SlotSet) is SlotSet
try:
    Event.resolve_by_type("no_such_event")
    raise AssertionError("an unknown event name must raise")
except ValueError:
    pass
assert Event.from_parameters({"event": "slot", "name": "x", "value": 1}) == SlotSet("x", 1)
for bad in (["slot"], {"event": "slot"}):  # an unhashable name (malformed JSON): Rasa's answer, not a TypeError
    assert Event.resolve_by_type(bad, SlotSet) is SlotSet
    try:
        Event.resolve_by_type(bad)
        raise AssertionError("an unhashable event name must raise ValueError")
    except ValueError:
        pass

class Shadow(UserUttered):  # a subclass defined later, with an existing type name
    type_name = "user"

assert event_types._found == {}, "a new subclass must clear the cache"
assert Event.resolve_by_type("user") is original("user")
print("ok")
"""


def test_the_cached_event_lookup_answers_as_rasa_does() -> None:
    done = subprocess.run([str(RASA_PY), "-c", SCRIPT], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.strip().endswith("ok"), done.stdout[-2000:]
