"""``python -m analytics.evaluate FILE``: the stored churn model scored on rows it never saw."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd  # type: ignore[import-untyped]
import pytest
from sklearn.model_selection import train_test_split

from analytics import churn, store
from analytics.batch import Models
from analytics.evaluate import evaluate_churn, main
from profiles.settings import get_settings


def _held_out_csv(tmp_path: Path) -> Path:
    """The held-out 20% of training, as a CSV in the data's own format (the same split train() made)."""
    data = pd.read_csv(get_settings().data_dir / churn.DATA_FILE)
    _, test = train_test_split(data, test_size=churn.TEST_SIZE, stratify=data[churn.TARGET],
                               random_state=get_settings().seed)
    path = tmp_path / "held_out.csv"
    test.to_csv(path, index=False)
    return path


def test_the_held_out_rows_give_the_figure_training_printed(models: Models, tmp_path: Path) -> None:
    result = evaluate_churn(_held_out_csv(tmp_path))
    held_out = store.load("churn").metadata["held_out"]
    assert result["rows"] == 1600 and result["model_version"] == models.churn.version
    assert result["roc_auc"] == pytest.approx(held_out["roc_auc"], abs=1e-4)
    assert result["roc_auc"] > 0.85 and 0 < result["brier"] < 0.15


def test_command_prints_json_and_refuses_bad_files(models: Models, tmp_path: Path,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    assert main([str(_held_out_csv(tmp_path))]) == 0
    assert json.loads(capsys.readouterr().out)["rows"] == 1600
    assert main([str(tmp_path / "missing.csv")]) == 2
    bad = tmp_path / "bad.csv"
    bad.write_text("Age,Exited\n40,1\n30,0\n")
    assert main([str(bad)]) == 2
    assert "error" in capsys.readouterr().err
