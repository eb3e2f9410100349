"""The trained NLU model (models/nova.tar.gz) recognises the short replies of our flows confidently.

A "yes" at a confirmation or a "hi" that fell back would break a conversation, so whatever the pipeline in
config.yml (sparse n-grams, the all-MiniLM-L6-v2 sentence encoder, the mixing classifier), these must get their
intent well above the FallbackClassifier's threshold; an empty message must still get the fallback.
Runs the model in .venv-rasa, with Rasa's own parsing (``Agent.parse_message``: the whole pipeline).
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
MODEL = ROOT / "models" / "nova.tar.gz"
RASA_PYTHON = ROOT / ".venv-rasa" / "bin" / "python"

CORE_REPLIES = {
    "yes": "affirm",
    "yes please": "affirm",
    "no": "deny",
    "no thanks": "deny",
    "hi": "greet",
    "hello": "greet",
    "thanks": "thanks",
    "bye": "goodbye",
    "what's my balance?": "check_balance",
    "I want to transfer money": "transfer_money",
    "I lost my card": "lost_or_stolen_card",
}

PROBE = """
import asyncio, json, logging, os, sys
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
logging.disable(logging.WARNING)
from rasa.core.agent import Agent
agent = Agent.load(sys.argv[1])
texts = json.load(sys.stdin)
async def run():
    return [await agent.parse_message(t) for t in texts]
out = [{"text": r["text"], "intent": r["intent"]["name"], "confidence": r["intent"]["confidence"]} for r in asyncio.run(run())]
print("@@" + json.dumps(out))
"""


def _fallback_threshold() -> float:
    config = yaml.safe_load((ROOT / "config.yml").read_text(encoding="utf-8"))
    fallback = next(c for c in config["pipeline"] if c["name"] == "FallbackClassifier")
    return float(fallback["threshold"])


@pytest.mark.skipif(not MODEL.is_file(), reason="needs a trained model: make train")
def test_short_core_replies_are_recognised_confidently() -> None:
    texts = [*CORE_REPLIES, "", "   "]
    result = subprocess.run(
        [str(RASA_PYTHON), "-c", PROBE, str(MODEL)],
        input=json.dumps(texts), cwd=ROOT, capture_output=True, text=True, timeout=600,
        env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(ROOT), "RASA_TELEMETRY_ENABLED": "false"},
    )
    assert result.returncode == 0, result.stderr[-3000:]
    line = next(line for line in result.stdout.splitlines() if line.startswith("@@"))
    results = json.loads(line[2:])  # in the order of texts (Rasa may strip a text, so not keyed by it)
    parsed = dict(zip(texts, results, strict=True))
    margin = _fallback_threshold() + 0.2
    weak = {
        text: (parsed[text]["intent"], round(parsed[text]["confidence"], 3))
        for text, intent in CORE_REPLIES.items()
        if parsed[text]["intent"] != intent or parsed[text]["confidence"] < margin
    }
    assert not weak, f"not recognised with confidence >= {margin:.2f}: {weak}"
    for empty in ("", "   "):  # no features: no intent, or the fallback (what the bot answers then)
        assert parsed[empty]["intent"] in (None, "nlu_fallback"), parsed[empty]
