"""The offline evaluation command on the session's trained models: JSON schema, figures vs the baseline, plot."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from recommender import registry
from recommender.evaluate import average_precision_at, evaluate, main, ranking_metrics
from recommender.tasks import TASK_NAMES, TASKS
from recommender.train import TrainResult
from tests.recommender.conftest import DATA_DIR

METRICS = {"roc_auc", "lift_at_10pct", "brier"}


@pytest.fixture(scope="module")
def result(trained: tuple[Path, dict[str, TrainResult]]) -> dict[str, Any]:
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("MODEL_REGISTRY", str(trained[0]))
        from profiles.settings import get_settings

        get_settings.cache_clear()
        registry.clear_cache()
        out = evaluate(DATA_DIR)
    get_settings.cache_clear()
    registry.clear_cache()
    return out


def test_schema(result: dict[str, Any]) -> None:
    assert set(result) >= {"generated_at", "data_dir", "products", "ranking", "targets", "serving"}
    assert set(result["products"]) == set(TASK_NAMES)
    for name, report in result["products"].items():
        assert report["product"] == TASKS[name].product
        assert set(report["holdout"]) == METRICS and set(report["baseline"]) == METRICS
        assert report["data"]["matches_training_data"] is True and len(report["data"]["sha256"]) == 64
        assert len(report["reliability"]["predicted"]) == len(report["reliability"]["observed"]) == 10
        assert set(report["cv_roc_auc"]) == {"popularity", "logistic_regression", "hist_gradient_boosting"}
    ranking = result["ranking"]
    assert (
        set(ranking["model"]) == set(ranking["baseline"]) == {"precision_at_1", "precision_at_3", "map_at_3", "clients"}
    )
    assert set(result["targets"]["term_deposit"]) >= {
        "roc_auc",
        "lift_at_10pct",
        "roc_auc_min",
        "lift_at_10pct_min",
        "met",
    }
    json.dumps(result)  # serialisable


def test_evaluation_reproduces_the_training_figures(
    result: dict[str, Any], trained: tuple[Path, dict[str, TrainResult]]
) -> None:
    for name, train_result in trained[1].items():
        expected = train_result.metadata["metrics"]["holdout"]
        for metric in METRICS:
            assert result["products"][name]["holdout"][metric] == pytest.approx(expected[metric], rel=1e-9)


def test_models_beat_the_popularity_baseline(result: dict[str, Any]) -> None:
    floors = {"term_deposit": 0.75, "housing_loan": 0.62, "personal_loan": 0.60, "berka_card_junior": 0.85}
    for name, report in result["products"].items():
        assert report["holdout"]["roc_auc"] > max(floors.get(name, 0.55), report["baseline"]["roc_auc"])
        assert report["holdout"]["lift_at_10pct"] > report["baseline"]["lift_at_10pct"]
        assert report["holdout"]["brier"] <= report["baseline"]["brier"] + 0.001
    ranking = result["ranking"]
    assert ranking["model"]["map_at_3"] > ranking["baseline"]["map_at_3"] + 0.1
    assert ranking["model"]["precision_at_1"] > ranking["baseline"]["precision_at_1"]


def test_serving_distribution_reports_the_share_reaching_each_threshold(result: dict[str, Any]) -> None:
    serving = result["serving"]
    assert serving["current_account"]["scored"] == 0  # every seeded customer holds one
    for product in ("term_deposit", "credit_card", "personal_loan", "mortgage", "savings_account"):
        assert serving[product]["scored"] > 10_000 and 0.0 <= serving[product]["share_passing"] <= 1.0


def test_ranking_metrics_by_hand() -> None:
    holdings = np.array([[1, 0, 0], [0, 1, 1], [0, 0, 0]])
    scores = np.array([[0.9, 0.1, 0.2], [0.8, 0.7, 0.1], [0.5, 0.5, 0.5]])
    m = ranking_metrics(holdings, scores, k=2)
    assert m["clients"] == 2  # the client holding nothing is left out
    assert m["precision_at_1"] == pytest.approx(0.5)
    assert m["precision_at_2"] == pytest.approx((0.5 + 0.5) / 2)
    assert m["map_at_2"] == pytest.approx((1.0 + 0.5 / 2) / 2)
    assert average_precision_at(np.array([0, 0, 1]), np.array([2, 0, 1]), 3) == pytest.approx(1.0)


def test_cli_writes_json_and_plot(model_registry: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out, png = tmp_path / "eval.json", tmp_path / "eval.png"
    external = DATA_DIR / TASKS["berka_card_gold"].data_file
    args = ["--data-dir", str(DATA_DIR), "--out", str(out), "--plot", str(png), "--no-serving"]
    assert main([*args, "--holdout", f"berka_card_gold={external}"]) == 0
    data = json.loads(out.read_text())
    assert data["external"]["berka_card_gold"]["rows"] == 5_369 and "serving" not in data
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    printed = capsys.readouterr().out
    assert "term_deposit" in printed and "ranking" in printed and f"wrote {out}" in printed


def test_cli_errors(empty_registry: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "eval.json"
    assert main(["--out", str(out), "--plot", str(tmp_path / "p.png")]) == 2
    assert "python -m recommender.train" in capsys.readouterr().err and not out.exists()
    assert main(["--out", str(out), "--holdout", "gold_bar=x.csv"]) == 2
    assert "unknown model 'gold_bar'" in capsys.readouterr().err
    assert main(["--out", str(out), "--holdout", "nonsense"]) == 2
    assert "TASK=CSV" in capsys.readouterr().err
