"""RulePolicy's rule-key cache sized to the model (issue 12 item 7: per-turn cost).

Rasa 3.6's RulePolicy checks *every* learned rule key on each prediction and parses each key (a JSON text)
through ``RulePolicy._rule_key_to_state``, an ``lru_cache(maxsize=1000)``. Our model has ~1,000 rule keys (300
of the 368 rules are FAQ answers), so the keys, visited in the same order every time, evict each other: the
cache missed 96% of the lookups (168,421 misses, 7,055 hits over 160 predictions), and each prediction
json-parsed about a thousand keys. An unbounded cache holds each key once (their number is fixed by the
trained model) and returns the same parsed states the original does.

Runs inside the Rasa process (Python 3.10): Rasa's own modules and the standard library only.
"""

from __future__ import annotations

import functools
import json

from rasa.core.policies.rule_policy import RulePolicy

_installed = False


def install() -> None:
    """Replace ``RulePolicy._rule_key_to_state`` by an unbounded cache of ``json.loads``. Idempotent."""
    global _installed
    if _installed:
        return
    RulePolicy._rule_key_to_state = staticmethod(functools.lru_cache(maxsize=None)(json.loads))  # type: ignore[method-assign,assignment]
    _installed = True
