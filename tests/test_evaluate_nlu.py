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
