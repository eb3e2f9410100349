"""Training every model on samples of the real files: comparison, calibration, metadata, registry, CLI."""

from __future__ import annotations

import json
from pathlib import Path

import joblib
import numpy as np
import pytest

from recommender import registry
from recommender.tasks import TASK_NAMES, TASKS
from recommender.train import BASELINE, FAMILIES, TrainResult, lift_at, main
from tests.recommender.conftest import DATA_DIR, FOLDS, SAMPLE_ROWS, requires_data

Trained = tuple[Path, dict[str, TrainResult]]
# Held-out AUC floors on the session's samples (full-data figures: recommender/README.md).
AUC_FLOOR = {"term_deposit": 0.75, "housing_loan": 0.62, "personal_loan": 0.60, "berka_card_junior": 0.85}


def test_every_model_is_trained_as_one_version(trained: Trained) -> None:
    _path, results = trained
    assert set(results) == set(TASK_NAMES)
    assert len({r.version for r in results.values()}) == 1


@pytest.mark.parametrize("task", TASK_NAMES)
def test_each_model_beats_the_popularity_baseline(trained: Trained, task: str) -> None:
    metrics = trained[1][task].metadata["metrics"]
    held_out, baseline = metrics["holdout"], metrics["holdout_baseline"]
    assert held_out["roc_auc"] > max(0.55, AUC_FLOOR.get(task, 0.55))
    assert held_out["lift_at_10pct"] > 1.0
    assert held_out["brier"] <= baseline["brier"] + 0.001  # calibrated: never clearly worse than the base rate
    cv = metrics["cv_roc_auc"]
    assert set(cv) == {BASELINE, *FAMILIES} and cv[BASELINE]["mean"] == pytest.approx(0.5)


def test_the_better_cv_family_is_kept_and_calibrated(trained: Trained) -> None:
    for result in trained[1].values():
        meta = result.metadata
        cv = meta["metrics"]["cv_roc_auc"]
        assert meta["model"] == max(FAMILIES, key=lambda name: cv[name]["mean"])
        assert "CV ROC AUC" in meta["why"] and BASELINE in meta["why"]
        assert meta["calibration"].startswith("sigmoid")


def test_calibrated_probabilities_match_the_base_rate(trained: Trained) -> None:
    meta = trained[1]["term_deposit"].metadata
    quantiles = meta["metrics"]["holdout_score_quantiles"]
    assert 0.0 < quantiles["0.5"] < meta["metrics"]["holdout_base_rate"] < quantiles["0.9"] < 1.0


def test_versions_carry_fingerprint_metrics_and_timestamp(trained: Trained) -> None:
    path, results = trained
    for task, result in results.items():
        vdir = path / task / result.version
        meta = json.loads((vdir / "metadata.json").read_text())
        assert meta["version"] == result.version and meta["task"] == task
        assert meta["product"] == TASKS[task].product
        assert len(meta["data_sha256"]) == 64 and meta["trained_at"].endswith("+00:00")
        assert meta["features"] == list(TASKS[task].features.columns) and "duration" not in meta["features"]
        assert meta["rows"]["train"] + meta["rows"]["holdout"] == meta["rows"]["total"] <= SAMPLE_ROWS
        assert set(meta["reference"]) == set(meta["features"])
        assert (path / task / "CURRENT").read_text().strip() == result.version
        assert hasattr(joblib.load(vdir / "model.joblib"), "predict_proba")


def test_berka_models_hold_out_the_same_clients(trained: Trained) -> None:
    rows = {t: r.metadata["rows"]["holdout"] for t, r in trained[1].items() if TASKS[t].family == "berka"}
    assert len(set(rows.values())) == 1


def test_training_is_fast(trained: Trained) -> None:
    assert sum(r.seconds for r in trained[1].values()) < 120


def test_lift_at() -> None:
    y = np.array([1, 0, 0, 0, 0, 0, 0, 0, 0, 1])
    scores = np.linspace(1.0, 0.0, 10)  # the first row scores highest
    assert lift_at(y, scores, 0.1) == pytest.approx(1.0 / 0.2)
    assert lift_at(y, scores, 1.0) == pytest.approx(1.0)
    with pytest.raises(ValueError):
        lift_at(np.zeros(4), np.zeros(4))
    with pytest.raises(ValueError):
        lift_at(y, scores, 0.0)


@requires_data
def test_cli_trains_one_task_without_promoting(empty_registry: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert (
        main(
            [
                "--data-dir",
                str(DATA_DIR),
                "--task",
                "berka_card_gold",
                "--sample",
                "3000",
                "--folds",
                str(FOLDS),
                "--no-promote",
            ]
        )
        == 0
    )
    out = capsys.readouterr().out
    for text in (
        "popularity: 3-fold CV ROC AUC",
        "logistic_regression",
        "hist_gradient_boosting",
        "held-out: ROC AUC",
        "lift@10%",
        "Brier",
    ):
        assert text in out
    assert len(registry.list_versions("berka_card_gold")) == 1
    assert registry.promoted_version("berka_card_gold") is None
    assert registry.list_versions("term_deposit") == []


def test_cli_reports_an_unknown_task_and_a_missing_directory(
    empty_registry: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["--task", "gold_bar"]) == 2
    assert "unknown model 'gold_bar'" in capsys.readouterr().err
    assert main(["--data-dir", str(tmp_path / "nope")]) == 2
    assert "no data directory" in capsys.readouterr().err
    assert registry.models() == []
