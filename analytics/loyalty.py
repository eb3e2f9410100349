"""Loyalty analysis: tenure, activity and product depth -> a score 0-100 and a tier.

Rule (no trained model)::

    loyalty = 100 * (0.40 * tenure + 0.30 * activity + 0.30 * depth)
    tenure   = min(tenure_years, 10) / 10            # customers.created_at -> as_of
    activity = min(frequency_per_month, 8) / 8       # transactions + inbound interactions per month, 90 days
    depth    = min(product_count, 5) / 5             # distinct products held (features.product_count)

Tier: ``bronze`` < 40 <= ``silver`` < 60 <= ``gold`` < 80 <= ``platinum``. The weights and caps are Atlantic
Bank's choice (tenure weighs most because it is the slowest to earn), not fitted. Missing inputs cannot occur
(the feature builder fills every input; a customer with no activity gets activity 0).

Validation: :func:`validate_on_churn_data` applies the same rule to the bank-churn data (Tenure in years,
IsActiveMember as activity 1 or 0, NumOfProducts as depth) and reports how well ``100 - loyalty`` ranks the
customers who left (ROC AUC): a loyalty score should say something about who stays. The figure is in
docs/ANALYTICS.md (``python -m analytics.train`` prints it).
"""

from __future__ import annotations

from pathlib import Path
from typing import Final

import numpy as np
import pandas as pd  # type: ignore[import-untyped]

from analytics.bands import band_of

VERSION: Final = "loyalty-rule-1"
WEIGHTS: Final = {"tenure": 0.40, "activity": 0.30, "depth": 0.30}
TENURE_CAP_YEARS: Final = 10.0
ACTIVITY_CAP_PER_MONTH: Final = 8.0
DEPTH_CAP_PRODUCTS: Final = 5.0
TIERS: Final = (("bronze", 0.0), ("silver", 40.0), ("gold", 60.0), ("platinum", 80.0))


def loyalty_score(tenure_years: np.ndarray, frequency_per_month: np.ndarray, product_count: np.ndarray) -> np.ndarray:
    """The rule above, vectorised: arrays of equal shape in, scores in [0, 100] (float) out."""
    tenure = np.clip(np.asarray(tenure_years, dtype=float), 0, TENURE_CAP_YEARS) / TENURE_CAP_YEARS
    activity = np.clip(np.asarray(frequency_per_month, dtype=float), 0, ACTIVITY_CAP_PER_MONTH) / ACTIVITY_CAP_PER_MONTH
    depth = np.clip(np.asarray(product_count, dtype=float), 0, DEPTH_CAP_PRODUCTS) / DEPTH_CAP_PRODUCTS
    score = 100.0 * (WEIGHTS["tenure"] * tenure + WEIGHTS["activity"] * activity + WEIGHTS["depth"] * depth)
    return np.round(score, 1)


def tier(score: float) -> str:
    """``bronze`` / ``silver`` / ``gold`` / ``platinum`` for a score in [0, 100]."""
    return band_of(score, TIERS)


def loyalty(frame: pd.DataFrame, frequency_per_month: pd.Series) -> pd.DataFrame:
    """``loyalty_score`` (float 0-100) and ``loyalty_tier`` (str) for each row of a feature frame.

    Args:
        frame: the feature frame (:mod:`analytics.features`).
        frequency_per_month: from :func:`analytics.behaviour.behaviour`, same index.
    """
    scores = loyalty_score(frame["tenure_days"].to_numpy() / 365.25, frequency_per_month.to_numpy(),
                           frame["product_count"].to_numpy())
    return pd.DataFrame({"loyalty_score": scores, "loyalty_tier": [tier(s) for s in scores]}, index=frame.index)


def validate_on_churn_data(path: Path) -> dict[str, float]:
    """ROC AUC of ``100 - loyalty`` for ``Exited`` on the bank-churn CSV (all rows: the rule is not fitted).

    Mapping: Tenure (years) -> tenure; IsActiveMember 1 -> activity at the cap, 0 -> none; NumOfProducts ->
    depth. Returns ``{"roc_auc": ..., "rows": ...}``.
    """
    from sklearn.metrics import roc_auc_score

    data = pd.read_csv(path)
    scores = loyalty_score(
        data["Tenure"].to_numpy(), data["IsActiveMember"].to_numpy() * ACTIVITY_CAP_PER_MONTH,
        data["NumOfProducts"].to_numpy(),
    )
    return {"roc_auc": float(roc_auc_score(data["Exited"], 100 - scores)), "rows": float(len(data))}
