"""RulePolicy's rule lookups sized to the model (issues 11 and 12: per-turn cost).

Rasa 3.6's RulePolicy checks *every* learned rule key on each prediction, twice after a user message (once
for the text, once for the intent). Our model has ~1,000 rule keys (300 of the 381 rules are FAQ answers).

1. **Key cache.** Each key (a JSON text) is parsed through ``RulePolicy._rule_key_to_state``, an
   ``lru_cache(maxsize=1000)``: visited in the same order every time, the keys evicted each other (96% misses,
   about a thousand ``json.loads`` per prediction). An unbounded cache holds each key once (their number is
   fixed by the trained model).
2. **Key index.** ``RulePolicy._get_possible_keys`` filters all keys against the conversation's last state,
   then the one before, and so on; the first step alone ran ``_is_rule_applicable`` ~1,000 times per lookup
   (6.5 ms of a 8.6 ms prediction at 99 events). A rule's last state names the previous action and the
   intent the conversation's last state must have (``_does_rule_match_state``: a set value must be equal), so
   the keys are indexed once by that pair and the first step starts from the keys whose pair can match. The
   index only drops keys that Rasa's own first step would drop; Rasa's check then runs unchanged on the rest,
   so the result is the same set (tests/test_rule_cache.py compares both on our model's rules).

Runs inside the Rasa process (Python 3.10): Rasa's own modules and the standard library only.
"""

from __future__ import annotations

import functools
import json
import weakref
from typing import Any

from rasa.core.policies.rule_policy import RulePolicy
from rasa.shared.core.constants import PREVIOUS_ACTION, SHOULD_NOT_BE_SET, USER
from rasa.shared.nlu.constants import ACTION_NAME, INTENT

_installed = False
_original_get_possible_keys = RulePolicy._get_possible_keys
_NO_PREVIOUS_ACTION = object()  # bucket of the rules whose last state has no previous action (session start)


def _required(sub_state: Any, key: str) -> Any:
    """The value ``sub_state[key]`` a conversation must equal for a rule to match, or None if any will do.

    Mirrors ``RulePolicy._does_rule_match_state``: only a set value other than SHOULD_NOT_BE_SET must be equal;
    an unhashable value is left to Rasa's own check (None: no constraint here)."""
    if not isinstance(sub_state, dict):
        return None
    value = sub_state.get(key)
    if not value or value == SHOULD_NOT_BE_SET or not isinstance(value, str):
        return None
    return value


class RuleKeyIndex:
    """The keys of one rule lookup (``{rule key: action}``) by the previous action and intent their last state
    requires. ``candidates(state)`` is a superset of the keys whose last state matches ``state``.
    """

    def __init__(self, lookup: dict[str, Any]) -> None:
        self.size = len(lookup)
        self.buckets: dict[Any, set[str]] = {}
        for key in lookup:
            states = RulePolicy._rule_key_to_state(key)
            if not states:  # Rasa's check accepts an empty rule at any turn: keep it everywhere
                bucket: Any = (None, None)
            else:
                last = states[-1]
                previous = last.get(PREVIOUS_ACTION)
                if not previous:
                    bucket = _NO_PREVIOUS_ACTION
                else:
                    bucket = (_required(previous, ACTION_NAME), _required(last.get(USER), INTENT))
            self.buckets.setdefault(bucket, set()).add(key)

    def candidates(self, state: dict[str, Any]) -> set[str]:
        """Keys that may match a conversation whose last state is ``state`` (a superset, never fewer)."""
        found = set(self.buckets.get((None, None), ()))
        previous = state.get(PREVIOUS_ACTION)
        if not previous:
            return found | self.buckets.get(_NO_PREVIOUS_ACTION, set())
        action = previous.get(ACTION_NAME) if isinstance(previous, dict) else None
        user = state.get(USER)
        intent = user.get(INTENT) if isinstance(user, dict) else None
        for bucket in ((action, intent), (action, None), (None, intent)):
            found |= self.buckets.get(bucket, set())
        return found


_indexes: weakref.WeakKeyDictionary[RulePolicy, dict[int, RuleKeyIndex]] = weakref.WeakKeyDictionary()


def _index(policy: RulePolicy, lookup: dict[str, Any]) -> RuleKeyIndex:
    """The index of ``lookup`` (a dict of ``policy.lookup``), built on first use; rebuilt if its size changed."""
    per_policy = _indexes.setdefault(policy, {})
    index = per_policy.get(id(lookup))
    if index is None or index.size != len(lookup):
        index = per_policy[id(lookup)] = RuleKeyIndex(lookup)
    return index


def _get_possible_keys(self: RulePolicy, lookup: dict[str, Any], states: list[dict[str, Any]]) -> set[str]:
    """Rasa's ``_get_possible_keys`` started from the index's candidates instead of every key."""
    if not states:
        return set(lookup.keys())
    possible = _index(self, lookup).candidates(states[-1])
    for i, state in enumerate(reversed(states)):
        possible = {key for key in possible if self._is_rule_applicable(key, i, state)}
    return possible


def install() -> None:
    """Give RulePolicy the unbounded key cache and the key index. Idempotent."""
    global _installed
    if _installed:
        return
    RulePolicy._rule_key_to_state = staticmethod(functools.lru_cache(maxsize=None)(json.loads))  # type: ignore[method-assign,assignment]
    RulePolicy._get_possible_keys = _get_possible_keys  # type: ignore[method-assign]
    _installed = True
