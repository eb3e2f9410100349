"""Evaluate a trained Rasa model's intent classification on a labelled CSV (BANKING77 format: text,category).

Runs in the Rasa environment (Rasa 3.6) and imports nothing of ours outside bot/::

    .venv-rasa/bin/python bot/evaluate_nlu.py --model models/ \
        --data tests/data/banking77_heldout.csv --out results/nlu_eval.json

The model (a ``.tar.gz`` file, or the latest one in a directory) is loaded with Rasa's documented API,
``rasa.core.agent.Agent.load``, and every text is parsed with ``Agent.parse_message`` -- the same code path
as ``rasa shell nlu`` and the HTTP ``/model/parse`` endpoint, so the FallbackClassifier is included.

Reported (printed and written as JSON): n, accuracy (a fallback counts as wrong), macro-F1 (over the
labels that occur in the data), per-intent precision/recall/F1/support, the top confusions
(true -> predicted, count), the fallback rate, accuracy ignoring the fallback (the classifier's own top
intent) and on the messages that did not fall back, and parse time.
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import hashlib
import json
import logging
import os
import sys
import time
from collections import Counter
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # before TensorFlow is imported by Rasa
# The model names our custom components by module path (bot.components): make the repository root
# importable, as it is for `rasa run` started from there, whatever directory this script is run from.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

FALLBACK_INTENT = "nlu_fallback"


def read_dataset(path: Path) -> tuple[list[str], list[str]]:
    """Read a CSV with a ``text`` and a ``category`` column; rows with an empty text are skipped."""
    with path.open(encoding="utf-8", newline="") as fh:
        reader = csv.DictReader(fh)
        fields = reader.fieldnames or []
        if "text" not in fields or "category" not in fields:
            raise SystemExit(f"{path}: expected a header with 'text' and 'category', got {fields}")
        texts, labels = [], []
        for row in reader:
            text = (row["text"] or "").strip()
            if text:
                texts.append(text)
                labels.append((row["category"] or "").strip())
    if not texts:
        raise SystemExit(f"{path}: no rows")
    return texts, labels


def resolve_model(model: Path) -> Path:
    """A model archive, or the most recently modified ``*.tar.gz`` in a directory."""
    if model.is_dir():
        archives = sorted(model.glob("*.tar.gz"), key=lambda p: (p.stat().st_mtime, p.name))
        if not archives:
            raise SystemExit(f"no *.tar.gz model in {model}")
        return archives[-1]
    if not model.is_file():
        raise SystemExit(f"model not found: {model}")
    return model


def quiet_logging() -> None:
    """Rasa 3.6 logs every parse through structlog at debug level: keep warnings and errors only."""
    logging.basicConfig(level=logging.WARNING)
    try:
        from rasa.utils.log_utils import configure_structlog

        configure_structlog(logging.WARNING)
    except ImportError:  # older/newer Rasa without structlog configuration
        pass
    for name in ("rasa", "tensorflow", "absl"):
        logging.getLogger(name).setLevel(logging.ERROR)


def load_agent(model_path: Path) -> Any:
    from rasa.core.agent import Agent

    agent = Agent.load(str(model_path))
    if not agent.is_ready():
        raise SystemExit(f"could not load a model from {model_path}")
    return agent


async def parse_all(agent: Any, texts: list[str], progress_every: int) -> tuple[list[dict], list[float]]:
    results, seconds = [], []
    start = time.perf_counter()
    for i, text in enumerate(texts, 1):
        t0 = time.perf_counter()
        results.append(await agent.parse_message(text))
        seconds.append(time.perf_counter() - t0)
        if progress_every and (i % progress_every == 0 or i == len(texts)):
            elapsed = time.perf_counter() - start
            print(f"  parsed {i}/{len(texts)} ({elapsed:.1f} s)", file=sys.stderr, flush=True)
    return results, seconds


def predictions(parsed: list[dict]) -> tuple[list[str], list[str], list[float], list[bool]]:
    """Predicted intent (``nlu_fallback`` when it fell back), the classifier's own top intent, its
    confidence, and whether the FallbackClassifier fired."""
    final, top, conf, fell_back = [], [], [], []
    for p in parsed:
        intent = p.get("intent") or {}
        name = intent.get("name") or ""
        ranking = [r for r in p.get("intent_ranking") or [] if r.get("name") != FALLBACK_INTENT]
        is_fallback = name == FALLBACK_INTENT
        best = ranking[0] if ranking else ({} if is_fallback else intent)
        final.append(name or "None")
        top.append(best.get("name") or "None")
        conf.append(float(best.get("confidence") or 0.0))
        fell_back.append(is_fallback)
    return final, top, conf, fell_back


def compute_metrics(
    y_true: list[str], y_pred: list[str], y_top: list[str], fell_back: list[bool], top_confusions: int = 15
) -> dict[str, Any]:
    from sklearn.metrics import accuracy_score, f1_score, precision_recall_fscore_support

    labels = sorted(set(y_true))
    precision, recall, f1, support = precision_recall_fscore_support(y_true, y_pred, labels=labels, zero_division=0)
    per_intent = {
        label: {
            "precision": round(float(p), 4),
            "recall": round(float(r), 4),
            "f1": round(float(f), 4),
            "support": int(s),
        }
        for label, p, r, f, s in zip(labels, precision, recall, f1, support, strict=True)
    }
    confusions = Counter((t, p) for t, p in zip(y_true, y_pred, strict=True) if t != p)
    accepted = [(t, p) for t, p, fb in zip(y_true, y_pred, fell_back, strict=True) if not fb]
    n = len(y_true)
    return {
        "n": n,
        "n_labels": len(labels),
        "accuracy": round(float(accuracy_score(y_true, y_pred)), 4),
        "macro_f1": round(float(f1_score(y_true, y_pred, labels=labels, average="macro", zero_division=0)), 4),
        "fallback_rate": round(sum(fell_back) / n, 4),
        "accuracy_ignoring_fallback": round(float(accuracy_score(y_true, y_top)), 4),
        "macro_f1_ignoring_fallback": round(
            float(f1_score(y_true, y_top, labels=labels, average="macro", zero_division=0)), 4
        ),
        "accuracy_on_accepted": round(sum(t == p for t, p in accepted) / len(accepted), 4) if accepted else None,
        "top_confusions": [
            {"true": t, "predicted": p, "count": c}
            for (t, p), c in sorted(confusions.items(), key=lambda kv: (-kv[1], kv[0]))[:top_confusions]
        ],
        "per_intent": per_intent,
    }


HISTORY_MAX = 20


def file_sha256(path: Path) -> str:
    """The sha256 (hex) of a file, read in 1 MiB blocks."""
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def history(out: Path, report: dict[str, Any], model_path: Path) -> list[dict[str, Any]]:
    """The runs written to ``out`` before (its ``history``, unreadable = none) plus this one, oldest first, at
    most ``HISTORY_MAX``: ``{evaluated_at (UTC ISO), model_sha256, data, n, accuracy, macro_f1}``. The staff
    console's annotation page shows the last two (before/after a retraining with reviewed examples)."""
    try:
        previous = json.loads(out.read_text(encoding="utf-8")).get("history") or []
    except (OSError, ValueError, AttributeError):
        previous = []
    entry = {
        "evaluated_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "model_sha256": file_sha256(model_path),
        "data": report["data"],
        "n": report["n"],
        "accuracy": report["accuracy"],
        "macro_f1": report["macro_f1"],
    }
    return [*[h for h in previous if isinstance(h, dict)], entry][-HISTORY_MAX:]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Evaluate a Rasa model's intents on a text,category CSV.")
    parser.add_argument("--model", type=Path, default=Path("models"), help="model .tar.gz or a directory")
    parser.add_argument("--data", type=Path, required=True, help="CSV with text,category columns")
    parser.add_argument("--out", type=Path, help="write the report as JSON here")
    parser.add_argument("--limit", type=int, default=0, help="evaluate only the first N rows (0 = all)")
    parser.add_argument("--progress-every", type=int, default=100, help="progress line every N messages")
    parser.add_argument(
        "--predictions", type=Path, help="also write one JSON line per message (text, true, predicted, confidence)"
    )
    args = parser.parse_args(argv)

    quiet_logging()

    texts, y_true = read_dataset(args.data)
    if args.limit:
        texts, y_true = texts[: args.limit], y_true[: args.limit]
    model_path = resolve_model(args.model)
    print(f"loading {model_path}", file=sys.stderr, flush=True)
    t0 = time.perf_counter()
    agent = load_agent(model_path)
    load_seconds = time.perf_counter() - t0

    print(f"parsing {len(texts)} messages from {args.data}", file=sys.stderr, flush=True)
    parsed, seconds = asyncio.run(parse_all(agent, texts, args.progress_every))
    y_pred, y_top, conf, fell_back = predictions(parsed)

    report: dict[str, Any] = {"model": str(model_path), "data": str(args.data)}
    report.update(compute_metrics(y_true, y_pred, y_top, fell_back))
    ordered = sorted(seconds)
    report["parse_time"] = {
        "model_load_s": round(load_seconds, 2),
        "total_s": round(sum(seconds), 3),
        "mean_ms": round(1000 * sum(seconds) / len(seconds), 2),
        "p50_ms": round(1000 * ordered[len(ordered) // 2], 2),
        "p95_ms": round(1000 * ordered[min(len(ordered) - 1, int(0.95 * len(ordered)))], 2),
    }
    if args.predictions:
        args.predictions.parent.mkdir(parents=True, exist_ok=True)
        with args.predictions.open("w", encoding="utf-8") as fh:
            for text, t, p, top, c in zip(texts, y_true, y_pred, y_top, conf, strict=True):
                fh.write(json.dumps({"text": text, "true": t, "predicted": p, "top": top, "confidence": c}) + "\n")

    print(f"model        {model_path}")
    print(f"n            {report['n']} ({report['n_labels']} labels)")
    print(f"accuracy     {report['accuracy']:.4f}   (ignoring fallback {report['accuracy_ignoring_fallback']:.4f})")
    print(f"macro-F1     {report['macro_f1']:.4f}   (ignoring fallback {report['macro_f1_ignoring_fallback']:.4f})")
    print(
        f"fallback     {report['fallback_rate']:.2%} of messages; accuracy on the rest {report['accuracy_on_accepted']}"
    )
    pt = report["parse_time"]
    print(
        f"parse time   {pt['total_s']:.1f} s total, {pt['mean_ms']:.1f} ms/message"
        f" (p50 {pt['p50_ms']:.1f} ms, p95 {pt['p95_ms']:.1f} ms)"
    )
    print("top confusions (true -> predicted: count):")
    for c in report["top_confusions"]:
        print(f"  {c['true']} -> {c['predicted']}: {c['count']}")
    worst = sorted(report["per_intent"].items(), key=lambda kv: (kv[1]["f1"], kv[0]))[:10]
    print("lowest F1 intents:")
    for label, m in worst:
        print(f"  {label:45s} P={m['precision']:.2f} R={m['recall']:.2f} F1={m['f1']:.2f} n={m['support']}")
    if args.out:
        report["history"] = history(args.out, report, model_path)
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(report, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
        print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
