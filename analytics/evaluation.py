"""Held-out evaluation helpers shared by the trained analyses."""

from __future__ import annotations

import numpy as np
from sklearn.metrics import roc_auc_score


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
