"""Group analysis: k-means segments on standardised features, each with a name that says what it is.

Inputs (:data:`FEATURES`, from :mod:`analytics.features`): ``age`` (years), ``log_balance`` =
ln(1 + max(balance_total_eur, 0)), ``log_loans`` = ln(1 + loans_outstanding_eur) and ``products`` =
product_count: who the customer is and what they hold with us. Logs tame the long money tails; everything is
then standardised (z-scores), so no feature dominates by its unit. Tenure, card spending and activity are
left out on purpose: in the seeded customers they are independent random draws (``profiles.seed``), so
k-means would split on noise (mean silhouette 0.17 with them, 0.32 without, measured on 10,000 seeded
customers); behaviour has its own analysis (:mod:`analytics.behaviour`). Revisit once real activity
data exists.

Training data: the seeded customers (``profiles.seed``, UCI Bank Marketing rows with their synthetic products
and history), built in a temporary SQLite file by :func:`seeded_frame` so that training is reproducible and
needs no running database. k is chosen among :data:`K_RANGE` by the mean silhouette on a fixed sample: the
best one, where values within :data:`SILHOUETTE_TIE` of the best count as ties and the smaller k wins (fewer
segments are easier to explain and act on). The silhouette and inertia (elbow) of each k are in the metadata,
so the choice can be checked. On the seeded customers the silhouette is nearly flat over 3-6 (0.31-0.32), so
this gives 3 segments.

Names: each cluster centre is described by its most distinctive standardised feature; the pair (feature,
sign) picks the name from :data:`NAMES` ("Affluent savers" = balance far above average). Clusters are named
largest first, each taking its most distinctive feature not used yet, so names are unique; the same data and
seed always give the same clusters and names. ``profiles`` in the metadata gives each segment's size and
mean inputs in their units, to explain it.
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any, Final

import numpy as np
import pandas as pd  # type: ignore[import-untyped]
from sklearn.cluster import KMeans
from sklearn.metrics import silhouette_score
from sklearn.preprocessing import StandardScaler
from sqlalchemy import create_engine
from sqlalchemy.orm import Session

from analytics.features import build_features
from profiles.models import Base

ANALYSIS: Final = "segments"
FEATURES: Final = ("age", "log_balance", "log_loans", "products")
K_RANGE: Final = (3, 4, 5, 6)
SILHOUETTE_TIE: Final = 0.005
SILHOUETTE_SAMPLE: Final = 4000
SEED_ROWS: Final = 10_000
SEED_AS_OF: Final = date(2026, 1, 1)
#: (feature, +1 high / -1 low) -> segment name.
NAMES: Final[dict[tuple[str, int], str]] = {
    ("log_balance", 1): "Affluent savers",
    ("log_balance", -1): "Low-balance customers",
    ("log_loans", 1): "Borrowers",
    ("log_loans", -1): "Debt-free",
    ("age", 1): "Seniors",
    ("age", -1): "Young adults",
    ("products", 1): "Multi-product customers",
    ("products", -1): "Single-product customers",
}


@dataclass
class SegmentModel:
    """Scaler + k-means + the name of each cluster index."""

    scaler: StandardScaler
    kmeans: KMeans
    names: list[str]
    metrics: dict[str, Any] = field(default_factory=dict)

    def assign(self, inputs: pd.DataFrame) -> list[str]:
        """Segment name per row of a frame with :data:`FEATURES`."""
        if inputs.empty:
            return []
        labels = self.kmeans.predict(self.scaler.transform(inputs[list(FEATURES)].to_numpy(dtype=float)))
        return [self.names[int(i)] for i in labels]


def inputs(frame: pd.DataFrame) -> pd.DataFrame:
    """The :data:`FEATURES` (see the module docstring) from a feature frame, same index."""
    return pd.DataFrame(
        {
            "age": frame["age"].astype(float),
            "log_balance": np.log1p(frame["balance_total_eur"].clip(lower=0).astype(float)),
            "log_loans": np.log1p(frame["loans_outstanding_eur"].clip(lower=0).astype(float)),
            "products": frame["product_count"].astype(float),
        },
        index=frame.index,
    )[list(FEATURES)]


def seeded_frame(rows: int = SEED_ROWS, *, seed: int, data_file: Path, as_of: date = SEED_AS_OF) -> pd.DataFrame:
    """The feature frame of the first ``rows`` seeded customers, built in a throw-away SQLite file.

    Uses ``profiles.seed``'s own generator (same seed and as-of date -> same customers), so the segments are
    trained on exactly what ``python -m profiles.seed`` puts in the CRM.
    """
    from profiles import seed as seeding

    with tempfile.TemporaryDirectory(prefix="segments-") as tmp:
        engine = create_engine(f"sqlite:///{Path(tmp) / 'seed.db'}")
        try:
            Base.metadata.create_all(engine)
            with Session(engine) as session, session.begin():
                batch: list[Any] = []
                for row, record in seeding.read_rows(data_file, rows):
                    batch.append(seeding.plan_row(row, record, seed, as_of))
                    if len(batch) == seeding.CHUNK:
                        seeding._insert_chunk(session, batch)
                        batch = []
                if batch:
                    seeding._insert_chunk(session, batch)
            moment = datetime.combine(as_of, datetime.min.time(), tzinfo=UTC)
            with Session(engine) as session:
                return build_features(session, range(1, rows + 1), as_of=moment, contiguous=True)
        finally:
            engine.dispose()


def _name_clusters(centres: np.ndarray, sizes: np.ndarray) -> list[str]:
    names = [""] * len(centres)
    used: set[str] = set()
    for index in np.argsort(-sizes, kind="stable"):
        order = np.argsort(-np.abs(centres[index]), kind="stable")
        for feature_index in order:
            value = centres[index][feature_index]
            name = NAMES[(FEATURES[int(feature_index)], 1 if value >= 0 else -1)]
            if name not in used:
                names[int(index)] = name
                used.add(name)
                break
    return names


_WORDS: Final = {"age": ("older", "younger"), "log_balance": ("higher balances", "lower balances"),
                 "log_loans": ("more borrowing", "little or no borrowing"), "products": ("more products", "fewer products")}


def _describe(centre: np.ndarray) -> str:
    """The centre's features at least half a standard deviation from average, strongest first."""
    order = np.argsort(-np.abs(centre), kind="stable")
    parts = [f"{_WORDS[FEATURES[int(i)]][0 if centre[i] > 0 else 1]} (z {centre[i]:+.1f})"
             for i in order if abs(centre[i]) >= 0.5]
    return "; ".join(parts) or "close to the average customer"


def train(frame: pd.DataFrame, *, seed: int, progress: Callable[[str], None] = print) -> tuple[SegmentModel, dict[str, Any]]:
    """Fit scaler and k-means on a feature frame, choose k by silhouette, name the clusters.

    Raises:
        ValueError: fewer rows than the largest k.
    """
    started = time.perf_counter()
    X = inputs(frame)
    if len(X) <= max(K_RANGE):
        raise ValueError(f"segments need more than {max(K_RANGE)} customers, got {len(X)}")
    scaler = StandardScaler().fit(X.to_numpy(dtype=float))
    Z = scaler.transform(X.to_numpy(dtype=float))
    rng = np.random.default_rng(seed)
    sample = rng.choice(len(Z), size=min(SILHOUETTE_SAMPLE, len(Z)), replace=False)
    trials: dict[int, dict[str, float]] = {}
    fitted: dict[int, KMeans] = {}
    for k in K_RANGE:
        km = KMeans(n_clusters=k, n_init=10, random_state=seed).fit(Z)
        sil = float(silhouette_score(Z[sample], km.labels_[sample]))
        trials[k] = {"silhouette": round(sil, 4), "inertia": round(float(km.inertia_), 1)}
        fitted[k] = km
        progress(f"segments k={k}: silhouette {sil:.4f}, inertia {km.inertia_:.0f}")
    top = max(t["silhouette"] for t in trials.values())
    best = min(k for k in K_RANGE if trials[k]["silhouette"] >= top - SILHOUETTE_TIE)
    km = fitted[best]
    sizes = np.bincount(km.labels_, minlength=best)
    names = _name_clusters(km.cluster_centers_, sizes)
    profiles = {}
    for i, name in enumerate(names):
        members = frame[km.labels_ == i]
        profiles[name] = {
            "share": round(float(sizes[i] / len(X)), 4),
            "mean_age": round(float(members["age"].mean()), 1),
            "median_balance_eur": round(float(members["balance_total_eur"].median()), 2),
            "median_loans_eur": round(float(members["loans_outstanding_eur"].median()), 2),
            "mean_products": round(float(members["product_count"].mean()), 2),
            "mean_tenure_years": round(float(members["tenure_days"].mean() / 365.25), 2),
            "centre_z": {f: round(float(v), 2) for f, v in zip(FEATURES, km.cluster_centers_[i], strict=True)},
            "description": _describe(km.cluster_centers_[i]),
        }
    progress(f"segments: k={best} (best silhouette {trials[best]['silhouette']:.4f}): {', '.join(names)}")
    metadata = {
        "features": list(FEATURES),
        "rows": len(X),
        "k_trials": {str(k): v for k, v in trials.items()},
        "k": best,
        "why": f"highest mean silhouette over k in {list(K_RANGE)} (ties within {SILHOUETTE_TIE} -> smaller k): "
        f"{trials[best]['silhouette']:.4f}",
        "names": names,
        "profiles": profiles,
        "seconds": round(time.perf_counter() - started, 1),
    }
    return SegmentModel(scaler=scaler, kmeans=km, names=names, metrics=metadata), metadata
