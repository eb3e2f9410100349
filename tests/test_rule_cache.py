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


INDEX_SCRIPT = r"""
import copy, json, random, sys
import bot.components  # noqa: F401  (installs the cache and the index, as model loading does)
from bot import rule_cache
from rasa.core.agent import Agent
from rasa.core.policies.rule_policy import RulePolicy, RULES, RULES_FOR_LOOP_UNHAPPY_PATH

agent = Agent.load(sys.argv[1])
policy = next(node._component for node in agent.processor.graph_runner._instantiated_nodes.values()
              if isinstance(node._component, RulePolicy))
assert RulePolicy._get_possible_keys is rule_cache._get_possible_keys
rng = random.Random(7)
compared = matched = pruned = 0
for table in (RULES, RULES_FOR_LOOP_UNHAPPY_PATH):
    lookup = policy.lookup[table]
    keys = list(lookup)
    intents = sorted({s.get("user", {}).get("intent") for k in keys for s in json.loads(k) if s.get("user", {}).get("intent")})
    actions = sorted({s.get("prev_action", {}).get("action_name") for k in keys for s in json.loads(k) if s.get("prev_action")})
    for key in keys:
        states = json.loads(key)
        variants = [states, states[-1:], [states[0]] + states]
        for _ in range(3):
            changed = copy.deepcopy(states)
            last = changed[-1]
            if rng.random() < 0.5 and intents:
                last.setdefault("user", {})["intent"] = rng.choice(intents)
            elif actions:
                last.setdefault("prev_action", {})["action_name"] = rng.choice(actions)
            variants.append(changed)
        text = copy.deepcopy(states)
        if "user" in text[-1]:
            text[-1]["user"] = {"text": "what's my balance"}
        variants.append(text)
        no_previous = copy.deepcopy(states)
        no_previous[-1].pop("prev_action", None)
        variants.append(no_previous)
        for conversation in variants:
            ours = rule_cache._get_possible_keys(policy, lookup, conversation)
            rasa = rule_cache._original_get_possible_keys(policy, lookup, conversation)
            assert ours == rasa, (key, conversation, ours ^ rasa)
            compared += 1
            matched += bool(rasa)
            pruned += len(rule_cache._index(policy, lookup).candidates(conversation[-1])) < len(keys) / 4
print("compared", compared, "matched", matched, "pruned", pruned)
assert compared > 5000 and matched > compared / 4 and pruned > compared / 2, (compared, matched, pruned)
print("ok")
"""


def test_the_rule_key_index_finds_exactly_the_keys_rasa_finds_on_our_models_rules() -> None:
    model = ROOT / "models" / "nova.tar.gz"
    assert model.exists(), "make train first (make test does)"
    done = subprocess.run([str(RASA_PY), "-c", INDEX_SCRIPT, str(model)], cwd=ROOT, capture_output=True, text=True,
                          timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.strip().endswith("ok"), done.stdout[-2000:]
