"""bot/rule_cache.py in the real Rasa environment: loading our components (as model loading does) gives
RulePolicy an unbounded rule-key cache that parses keys exactly as Rasa's does, and keeps more than 1,000 keys
(the old cache's size, below our model's rule-key count)."""

from __future__ import annotations

import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RASA_PY = ROOT / ".venv-rasa" / "bin" / "python"

SCRIPT = r"""
import json
from rasa.core.policies.rule_policy import RulePolicy
original = RulePolicy._rule_key_to_state
assert original.cache_info().maxsize == 1000
import bot.components  # noqa: F401  (installs the cache, as model loading does)
patched = RulePolicy._rule_key_to_state
assert patched.cache_info().maxsize is None
keys = [json.dumps([{"user": {"intent": f"intent_{n}"}, "prev_action": {"action_name": "action_listen"}}])
        for n in range(1500)]
for _ in range(2):
    for key in keys:
        assert patched(key) == original(key) == json.loads(key)
info = patched.cache_info()
assert (info.misses, info.hits) == (1500, 1500), info
print("ok")
"""


def test_loading_our_components_gives_rule_policy_a_cache_that_holds_every_rule_key() -> None:
    done = subprocess.run([str(RASA_PY), "-c", SCRIPT], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.strip().endswith("ok")
