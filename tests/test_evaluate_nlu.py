"""bot/evaluate_nlu.py scores the trained model on any BANKING77-format CSV, from any working directory."""

from __future__ import annotations

import csv
import json
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
MODEL = ROOT / "models" / "nova.tar.gz"


@pytest.mark.skipif(not MODEL.is_file(), reason="needs a trained model: make train")
def test_evaluate_a_small_banking77_file(tmp_path: Path) -> None:
    rows = list(csv.DictReader((ROOT / "tests" / "data" / "banking77_heldout.csv").open(encoding="utf-8")))[:40]
    data = tmp_path / "sample.csv"
    with data.open("w", encoding="utf-8", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=["text", "category"])
        writer.writeheader()
        writer.writerows(rows)
    out = tmp_path / "eval.json"
    result = subprocess.run(
        [str(ROOT / ".venv-rasa" / "bin" / "python"), str(ROOT / "bot" / "evaluate_nlu.py"),
         "--model", str(MODEL), "--data", str(data), "--out", str(out)],
        cwd=tmp_path, capture_output=True, text=True, timeout=600,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    report = json.loads(out.read_text())
    assert report["n"] == 40
    assert 0.5 <= report["accuracy"] <= 1.0  # the model really classifies: chance is ~1/77
    assert {"macro_f1", "top_confusions", "fallback_rate"} <= report.keys()


def test_each_run_is_appended_to_the_reports_history_with_the_models_hash(tmp_path: Path) -> None:
    """The annotation page's before/after reads this history (profiles.nlu_annotation.accuracy_history)."""
    import hashlib  # noqa: PLC0415

    from bot.evaluate_nlu import HISTORY_MAX, history  # noqa: PLC0415
    from profiles.nlu_annotation import accuracy_history  # noqa: PLC0415

    model = tmp_path / "nova.tar.gz"
    model.write_bytes(b"model bytes")
    out = tmp_path / "nlu_eval.json"
    report = {"data": "heldout.csv", "n": 3, "accuracy": 0.6667, "macro_f1": 0.5}
    first = history(out, report, model)
    assert len(first) == 1 and first[0]["model_sha256"] == hashlib.sha256(b"model bytes").hexdigest()
    out.write_text(json.dumps({**report, "history": first}))
    second = history(out, {**report, "accuracy": 1.0}, model)
    assert [h["accuracy"] for h in second] == [0.6667, 1.0]
    out.write_text(json.dumps({**report, "history": second * 20}))
    assert len(history(out, report, model)) == HISTORY_MAX
    out.write_text("not json")
    assert len(history(out, report, model)) == 1  # an unreadable report starts a new history
    out.write_text(json.dumps({"history": second}))
    assert [r.accuracy for r in accuracy_history(out)] == [0.6667, 1.0]
