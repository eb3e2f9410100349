"""Calibrate the FallbackClassifier threshold of config.yml's NLU pipeline on our own training data.

Never on the held-out BANKING77 file (tests/data/banking77_heldout.csv) nor on any BANKING77 test split: the
training data (data/nlu: BANKING77 training portion + core.yml) is split 80/20, deterministic and stratified by
intent; config.yml's pipeline is trained on the 80% (``rasa train nlu``, fallback as configured) and the 20% is
parsed, together with hand-written off-topic/gibberish probes and the short core replies that must never fall
back in a conversation ("yes", "no", "hi", ...). For each threshold it reports what would fall back: the share
of BANKING77 and core messages, of the correctly classified ones (lost), of the misclassified ones (caught),
and of the probes (caught; a probe classified as ``out_of_scope`` is handled too and counted separately).

Runs in the Rasa environment, from the repository root::

    .venv-rasa/bin/python scripts/calibrate_nlu.py [--config config.yml] [--out results/nlu_calibration.json]

Takes one NLU training (a few minutes on 2 cores) plus ~2,000 parses.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("RASA_TELEMETRY_ENABLED", "false")
ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

SPLIT_SEED = 20240611
THRESHOLDS = [0.2, 0.25, 0.3, 0.35, 0.4, 0.45, 0.5]
FALLBACK = "nlu_fallback"

# Off-topic or meaningless messages (none of them is in the training data): these should fall back (or be
# out_of_scope), not be answered as a banking topic.
PROBES = [
    "asdfghjkl", "qwerty uiop", "blorp fizz wug", "lkjh lkjh lkjh", "??", "...", "zzz", "hmm hmm",
    "what time is it in tokyo", "who painted the mona lisa", "how do I bake sourdough bread",
    "what's the capital of australia", "play some jazz", "is it going to snow on friday",
    "my cat is sick what should I feed her", "translate hello into japanese", "who will win the world cup",
    "how many calories in a banana", "tell me about black holes", "what is 17 times 23",
    "I like turtles", "the quick brown fox jumps over the lazy dog", "purple elephants dancing",
    "can you fix my car", "best pizza place near me", "recommend a netflix series", "how old is the universe",
    "write a haiku about rain", "do you dream", "banana banana banana",
]

# Short replies in our flows (confirmations, greetings, closings): they must be recognised confidently.
CORE_REPLIES = {
    "yes": "affirm", "yes please": "affirm", "yeah": "affirm", "sure": "affirm", "ok": "affirm",
    "no": "deny", "nope": "deny", "no thanks": "deny",
    "hi": "greet", "hello": "greet", "hey there": "greet", "good morning": "greet",
    "thanks": "thanks", "thank you": "thanks", "bye": "goodbye", "goodbye": "goodbye",
    "stop": "stop", "help": "help", "what's my balance": "check_balance", "I lost my card": "lost_or_stolen_card",
}


def split_training_data(nlu_dir: Path, out_train: Path) -> list[dict[str, str]]:
    """Write 80% of the intent examples (with the synonyms, regexes and lookup tables) to ``out_train``; return
    the other 20% as {text, intent, source}."""
    from rasa.shared.nlu.training_data.formats.rasa_yaml import RasaYAMLWriter
    from rasa.shared.nlu.training_data.loading import load_data
    from rasa.shared.nlu.training_data.training_data import TrainingData
    from sklearn.model_selection import train_test_split

    data = load_data(str(nlu_dir))
    examples = [m for m in data.intent_examples if m.get("text") and m.get("intent")]
    labels = [m.get("intent") for m in examples]
    # Intents with one example cannot be stratified: they stay in the training part.
    counts = {label: labels.count(label) for label in set(labels)}
    splittable = [i for i, label in enumerate(labels) if counts[label] >= 2]
    fixed = [i for i, label in enumerate(labels) if counts[label] < 2]
    train_idx, test_idx = train_test_split(
        splittable, test_size=0.2, random_state=SPLIT_SEED, stratify=[labels[i] for i in splittable]
    )
    train = TrainingData(
        training_examples=[examples[i] for i in sorted(train_idx + fixed)],
        entity_synonyms=data.entity_synonyms,
        regex_features=data.regex_features,
        lookup_tables=data.lookup_tables,
    )
    RasaYAMLWriter().dump(out_train, train)
    banking77 = set(load_data(str(nlu_dir / "banking77.yml")).intents)
    return [
        {
            "text": examples[i].get("text"),
            "intent": labels[i],
            "source": "banking77" if labels[i] in banking77 else "core",
        }
        for i in sorted(test_idx)
    ]


async def parse(agent: Any, texts: list[str]) -> list[dict[str, Any]]:
    out = []
    for text in texts:
        result = await agent.parse_message(text)
        ranking = [r for r in result.get("intent_ranking") or [] if r.get("name") != FALLBACK]
        top = ranking[0] if ranking else {"name": None, "confidence": 0.0}
        second = ranking[1]["confidence"] if len(ranking) > 1 else 0.0
        out.append({"top": top["name"], "confidence": float(top["confidence"]), "second": float(second)})
    return out


def falls_back(p: dict[str, Any], threshold: float, ambiguity: float) -> bool:
    return p["confidence"] < threshold or (p["confidence"] - p["second"]) < ambiguity


def report(held: list[dict[str, Any]], probes: list[dict[str, Any]], core: list[dict[str, Any]], ambiguity: float) -> list[dict[str, Any]]:
    rows = []
    for t in THRESHOLDS:
        row: dict[str, Any] = {"threshold": t, "ambiguity_threshold": ambiguity}
        for source in ("banking77", "core"):
            part = [h for h in held if h["source"] == source]
            right = [h for h in part if h["top"] == h["intent"]]
            wrong = [h for h in part if h["top"] != h["intent"]]
            row[source] = {
                "n": len(part),
                "accuracy_without_fallback": round(len(right) / len(part), 4),
                "fallback_rate": round(sum(falls_back(h, t, ambiguity) for h in part) / len(part), 4),
                "correct_lost": round(sum(falls_back(h, t, ambiguity) for h in right) / max(1, len(right)), 4),
                "wrong_caught": round(sum(falls_back(h, t, ambiguity) for h in wrong) / max(1, len(wrong)), 4),
                "accuracy_with_fallback": round(
                    sum(not falls_back(h, t, ambiguity) for h in right) / len(part), 4
                ),
            }
        row["probes_fall_back"] = round(sum(falls_back(p, t, ambiguity) for p in probes) / len(probes), 4)
        row["probes_fall_back_or_out_of_scope"] = round(
            sum(falls_back(p, t, ambiguity) or p["top"] == "out_of_scope" for p in probes) / len(probes), 4
        )
        row["core_replies_lost"] = [c["text"] for c in core if falls_back(c, t, ambiguity) or c["top"] != c["intent"]]
        rows.append(row)
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--config", type=Path, default=ROOT / "config.yml")
    parser.add_argument("--nlu", type=Path, default=ROOT / "data" / "nlu")
    parser.add_argument("--out", type=Path, default=ROOT / "results" / "nlu_calibration.json")
    parser.add_argument("--ambiguity", type=float, default=0.05)
    args = parser.parse_args(argv)

    import yaml
    from rasa.core.agent import Agent

    from bot.evaluate_nlu import quiet_logging

    config = yaml.safe_load(args.config.read_text(encoding="utf-8"))
    with tempfile.TemporaryDirectory(prefix="nlu-calibration-") as tmp:
        tmp_path = Path(tmp)
        held = split_training_data(args.nlu, tmp_path / "train.yml")
        t0 = time.perf_counter()
        subprocess.run(
            [str(Path(sys.executable).parent / "rasa"), "train", "nlu", "--config", str(args.config), "--nlu",
             str(tmp_path / "train.yml"), "--out", str(tmp_path / "models"), "--fixed-model-name", "calibration"],
            cwd=ROOT, check=True,
        )
        train_s = time.perf_counter() - t0
        quiet_logging()  # Rasa logs every parse at debug level otherwise
        agent = Agent.load(str(tmp_path / "models" / "calibration.tar.gz"))
        parsed = asyncio.run(parse(agent, [h["text"] for h in held]))
        for h, p in zip(held, parsed, strict=True):
            h.update(p)
        probes = asyncio.run(parse(agent, PROBES))
        core = asyncio.run(parse(agent, list(CORE_REPLIES)))
        for text, c in zip(CORE_REPLIES, core, strict=True):
            c.update({"text": text, "intent": CORE_REPLIES[text]})

    rows = report(held, probes, core, args.ambiguity)
    fallback = next((c for c in config.get("pipeline", []) if c.get("name") == "FallbackClassifier"), {})
    result = {
        "config": str(args.config.relative_to(ROOT)) if args.config.is_relative_to(ROOT) else str(args.config),
        "configured_threshold": fallback.get("threshold"),
        "split_seed": SPLIT_SEED,
        "train_seconds": round(train_s, 1),
        "held_out_part": {"banking77": sum(h["source"] == "banking77" for h in held),
                          "core": sum(h["source"] == "core" for h in held)},
        "thresholds": rows,
        "core_replies": [{k: c[k] for k in ("text", "intent", "top", "confidence")} for c in core],
        "probes": [{"text": t, "top": p["top"], "confidence": round(p["confidence"], 3)} for t, p in zip(PROBES, probes, strict=True)],
    }
    print(f"trained on 80% in {train_s:.0f} s; 20%: {result['held_out_part']}")
    print("thresh  b77 acc  b77 fb  lost   caught | core acc  core fb | probes fb (+oos) | core replies lost")
    for r in rows:
        b, c = r["banking77"], r["core"]
        print(
            f"{r['threshold']:5.2f}  {b['accuracy_with_fallback']:.3f}   {b['fallback_rate']:.3f}  {b['correct_lost']:.3f}"
            f"  {b['wrong_caught']:.3f}  | {c['accuracy_with_fallback']:.3f}     {c['fallback_rate']:.3f}   |"
            f" {r['probes_fall_back']:.2f} ({r['probes_fall_back_or_out_of_scope']:.2f})       | {r['core_replies_lost']}"
        )
    print("core replies:", ", ".join(f"{c['text']}={c['top']}:{c['confidence']:.2f}" for c in core))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
