"""Model selection and held-out evaluation shared by the trained analyses (credit, churn): one
train/CV/pick loop and one set of held-out figures."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd  # type: ignore[import-untyped]
from sklearn.base import clone
from sklearn.metrics import brier_score_loss, roc_auc_score
from sklearn.model_selection import cross_val_score, train_test_split


@dataclass(frozen=True)
class Picked:
    """What :func:`pick_model` did: the split, the CV figures, the chosen candidate fitted on the training part and
    its held-out figures (:func:`held_out_metrics`)."""

    chosen: str
    pipeline: Any
    cv_auc: dict[str, dict[str, float]]
    X_train: pd.DataFrame
    X_test: pd.DataFrame
    y_train: np.ndarray
    y_test: np.ndarray
    held_out: dict[str, Any]


def pick_model(
    candidates: Mapping[str, Any],
    X: pd.DataFrame,
    y: np.ndarray,
    *,
    test_size: float,
    cv: Any,
    seed: int,
    label: str,
    cv_name: str,
    rows: Callable[[np.ndarray], str],
    progress: Callable[[str], None],
) -> Picked:
    """The one train/CV/pick loop of the trained analyses: a stratified split (``test_size``, ``seed``); every
    candidate's cross-validated ROC AUC on the training part; the highest mean wins and is fitted on the whole
    training part; then its held-out figures.

    Args:
        candidates: name -> unfitted estimator (left unfitted: each fit is on a clone).
        cv: a scikit-learn splitter (its ``random_state`` fixes the folds).
        label: the progress lines' prefix, e.g. ``"churn"``, ``"credit"``.
        cv_name: how the progress lines name ``cv``, e.g. ``"5-fold"``, ``"5x5-fold"``.
        rows: describes the held-out labels in the last progress line, e.g. ``"2000 rows"``.
    """
    X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=test_size, stratify=y, random_state=seed)
    cv_auc: dict[str, dict[str, float]] = {}
    for name, estimator in candidates.items():
        scores = cross_val_score(estimator, X_train, y_train, cv=cv, scoring="roc_auc")
        cv_auc[name] = {"mean": round(float(scores.mean()), 4), "std": round(float(scores.std()), 4)}
        progress(f"{label} {name}: {cv_name} CV ROC AUC {scores.mean():.4f} ± {scores.std():.4f}")
    chosen = max(cv_auc, key=lambda n: cv_auc[n]["mean"])
    pipeline = clone(candidates[chosen]).fit(X_train, y_train)
    held_out = held_out_metrics(y_test, pipeline.predict_proba(X_test)[:, 1], seed=seed)
    low, high = held_out["roc_auc_95ci"]
    progress(f"{label}: chose {chosen}; held-out ROC AUC {held_out['roc_auc']:.4f} "
             f"(95% CI {low:.3f}-{high:.3f}) on {rows(y_test)}")
    return Picked(chosen, pipeline, cv_auc, X_train, X_test, y_train, y_test, held_out)


def held_out_metrics(y_true: np.ndarray, proba: np.ndarray, *, seed: int) -> dict[str, Any]:
    """ROC AUC with its 95 % bootstrap interval, Brier score and row count of probabilities on held-out rows."""
    return {
        "roc_auc": round(float(roc_auc_score(y_true, proba)), 4),
        "roc_auc_95ci": auc_interval(y_true, proba, seed=seed),
        "brier": round(float(brier_score_loss(y_true, proba)), 4),
        "rows": len(y_true),
    }


def auc_interval(y_true: np.ndarray, scores: np.ndarray, *, seed: int, resamples: int = 1000) -> tuple[float, float]:
    """95 % percentile-bootstrap interval of the ROC AUC (rows resampled with replacement; a resample with a
    single class is skipped). Returns ``(low, high)`` rounded to 4 places."""
    y = np.asarray(y_true)
    s = np.asarray(scores)
    rng = np.random.default_rng(seed)
    values = []
    for _ in range(resamples):
        idx = rng.integers(0, len(y), len(y))
        if y[idx].min() == y[idx].max():
            continue
        values.append(roc_auc_score(y[idx], s[idx]))
    low, high = np.percentile(values, [2.5, 97.5])
    return round(float(low), 4), round(float(high), 4)
