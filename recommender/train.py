"""Train every propensity model (:mod:`recommender.tasks`), calibrate it and publish it to the registry.

Usage::

    python -m recommender.train [--data-dir DIR] [--task NAME ...] [--sample N] [--folds K] [--no-promote]
                                [--no-feedback]

Procedure, per task (sources and targets: :mod:`recommender.tasks`; features: :mod:`recommender.features`):

1. Split once with ``settings.seed``: bank-marketing tasks 80/20 stratified on the target; Berka tasks 75/25 by
   client, the same clients held out for every Berka task (so the ranking metrics of
   ``python -m recommender.evaluate`` see whole held-out clients).
2. On the training part, compare by K-fold stratified cross-validated ROC AUC (K = 5): the popularity baseline
   (every customer gets the training positive rate), logistic regression and histogram gradient boosting, the
   two models inside the same preprocessing :class:`~sklearn.pipeline.Pipeline`.
3. Keep the model family with the higher mean CV AUC; fit it on the whole training part wrapped in
   :class:`~sklearn.calibration.CalibratedClassifierCV` (sigmoid, i.e. Platt scaling, 3 folds), so its scores are probabilities.
   With recorded offer answers in the CRM (``recommender.feedback``, unless ``--no-feedback``), the final fit
   also sees the task product's answers as labelled rows (each repeated ``feedback.FEEDBACK_WEIGHT`` times);
   the comparison and the held-out part are the data set's alone.
4. Measure it once on the held-out part (ROC AUC, lift in the top 10 %, Brier score, next to the baseline's).
5. Save it as a registry version (every task of one run gets the same version id), promoted unless
   ``--no-promote``.

Runs single-threaded: on a shared 2-core machine, multi-threaded boosting was measured 6x slower in wall time.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd  # type: ignore[import-untyped]
import sklearn
from sklearn.calibration import CalibratedClassifierCV
from sklearn.compose import ColumnTransformer
from sklearn.dummy import DummyClassifier
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import brier_score_loss, roc_auc_score
from sklearn.model_selection import StratifiedKFold, cross_val_score, train_test_split
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler
from threadpoolctl import threadpool_limits  # type: ignore[import-untyped]

from profiles.modelstore import fingerprint
from profiles.settings import get_settings
from recommender import registry
from recommender.features import UNKNOWN, FeatureSet
from recommender.tasks import TASK_NAMES, Task, get_task

LIFT_FRACTION = 0.10
TEST_SIZE = {"bank": 0.20, "berka": 0.25}
CALIBRATION_FOLDS = 3
BASELINE = "popularity"
FAMILIES = ("logistic_regression", "hist_gradient_boosting")


def build_preprocessor(features: FeatureSet) -> ColumnTransformer:
    """Column transformer from a feature set's columns to a dense numeric matrix.

    Numerics: median imputation, then standardisation. Categoricals: missing → ``"unknown"``, then one-hot with
    ``handle_unknown="ignore"`` (a category unseen in training, e.g. ``"unknown"`` where the source had none,
    becomes all zeros). Output: float array ``(n_rows, len(numeric) + number of categories)``.
    """
    numeric = Pipeline([("impute", SimpleImputer(strategy="median")), ("scale", StandardScaler())])
    categorical = Pipeline(
        [
            ("impute", SimpleImputer(strategy="constant", fill_value=UNKNOWN)),
            ("onehot", OneHotEncoder(handle_unknown="ignore", sparse_output=False)),
        ]
    )
    parts: list[tuple[str, Any, list[str]]] = [("num", numeric, list(features.numeric))]
    if features.categorical:
        parts.append(("cat", categorical, list(features.categorical)))
    return ColumnTransformer(parts, verbose_feature_names_out=True)


def candidates(seed: int) -> dict[str, Any]:
    """The compared families: name → unfitted classifier (the baseline first)."""
    return {
        BASELINE: DummyClassifier(strategy="prior"),
        "logistic_regression": LogisticRegression(max_iter=2000, C=0.5),
        "hist_gradient_boosting": HistGradientBoostingClassifier(
            learning_rate=0.05,
            max_iter=150,
            max_leaf_nodes=8,
            min_samples_leaf=80,
            l2_regularization=1.0,
            early_stopping=False,
            random_state=seed,
        ),
    }


def build_pipeline(features: FeatureSet, classifier: Any) -> Pipeline:
    """Preprocessing and classifier in one :class:`~sklearn.pipeline.Pipeline` (steps ``prep``, ``model``)."""
    return Pipeline([("prep", build_preprocessor(features)), ("model", classifier)])


def calibrated(features: FeatureSet, classifier: Any, seed: int, folds: int = CALIBRATION_FOLDS) -> Any:
    """``build_pipeline`` wrapped in sigmoid (Platt) :class:`~sklearn.calibration.CalibratedClassifierCV`.

    ``ensemble=False``: one pipeline fitted on all the training rows; the sigmoid is fitted on its K-fold
    out-of-fold scores. One pipeline to run per prediction (serving cost), and the sigmoid keeps the order of
    the scores (the AUC of the uncalibrated model).
    """
    cv = StratifiedKFold(n_splits=folds, shuffle=True, random_state=seed)
    return CalibratedClassifierCV(build_pipeline(features, classifier), method="sigmoid", cv=cv, ensemble=False)


def lift_at(y_true: np.ndarray, scores: np.ndarray, fraction: float = LIFT_FRACTION) -> float:
    """Lift in the top ``fraction`` of ``scores``: positive rate there ÷ overall positive rate.

    Ties are broken by row order (stable sort), so a constant score has lift 1 only in expectation.

    Args:
        y_true: 0/1 array of shape ``(n,)``.
        scores: array of shape ``(n,)``, higher = more likely positive.
        fraction: share of rows taken from the top, in (0, 1].

    Raises:
        ValueError: ``fraction`` out of range, or ``y_true`` has no positive.
    """
    if not 0 < fraction <= 1:
        raise ValueError("fraction must be in (0, 1]")
    base = float(np.mean(y_true))
    if base == 0:
        raise ValueError("lift is undefined without positives")
    k = max(1, round(fraction * len(scores)))
    top = np.argsort(-scores, kind="stable")[:k]
    return float(np.mean(y_true[top])) / base


def sha256_file(path: Path) -> str:
    """Hex SHA-256 of a file's bytes (the training data fingerprint, as the model store computes it)."""
    return fingerprint([path])


def split(task: Task, X: pd.DataFrame, y: np.ndarray, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Row positions ``(train, holdout)`` of the task's one split (see the module docstring, step 1)."""
    rows = np.arange(len(y))
    size = TEST_SIZE[task.family]
    stratify = y if task.family == "bank" else None
    train_rows, test_rows = train_test_split(rows, test_size=size, stratify=stratify, random_state=seed)
    return np.sort(train_rows), np.sort(test_rows)


def load_task_data(
    task: Task, data_dir: Path, *, sample: int | None = None, seed: int | None = None
) -> tuple[Path, pd.DataFrame, np.ndarray]:
    """``(path, X, y)`` of a task, optionally a seeded sample of ``sample`` rows (stratified for bank tasks).

    Raises:
        FileNotFoundError, ValueError: from the feature builder.
    """
    seed = get_settings().seed if seed is None else seed
    path = data_dir / task.data_file
    X, y = task.read(path)
    if sample is not None and sample < len(y):
        stratify = y if task.family == "bank" else None
        rows, _ = train_test_split(np.arange(len(y)), train_size=sample, stratify=stratify, random_state=seed)
        rows = np.sort(rows)
        X, y = X.iloc[rows].reset_index(drop=True), y[rows]
    return path, X, y


def reference_values(X: pd.DataFrame) -> dict[str, Any]:
    """Typical training values (numeric median, categorical mode) used by the explanations."""
    ref: dict[str, Any] = {}
    for column in X.columns:
        values = X[column].dropna()
        if values.empty:
            ref[column] = None
        elif X[column].dtype == object:
            ref[column] = str(values.mode().iloc[0])
        else:
            ref[column] = float(values.median())
    return ref


def holdout_metrics(y: np.ndarray, p: np.ndarray) -> dict[str, float]:
    """ROC AUC, lift@10 % and Brier score of probabilities ``p`` against 0/1 labels ``y``."""
    return {
        "roc_auc": float(roc_auc_score(y, p)),
        "lift_at_10pct": lift_at(y, p),
        "brier": float(brier_score_loss(y, p)),
    }


@dataclass(frozen=True)
class TrainResult:
    """One task's training: the registry version, its metadata and the elapsed seconds."""

    task: str
    version: str
    metadata: dict[str, Any]
    seconds: float


def train_task(
    task: Task,
    data_dir: Path,
    version: str,
    *,
    sample: int | None = None,
    folds: int = 5,
    promote: bool = True,
    progress: Callable[[str], None] = print,
    answers: Sequence[Any] = (),
) -> TrainResult:
    """Train, calibrate, measure and register one task (see the module docstring). Single-threaded.

    Args:
        answers: recorded offer answers (``recommender.feedback.recorded_answers()``); those for the task's
            product are added to the training part (``recommender.feedback``). Empty: the data set alone.

    Raises:
        FileNotFoundError, ValueError: from the feature builder (missing file, bad columns or values).
    """
    with threadpool_limits(limits=1):
        return _train_task(
            task, data_dir, version, sample=sample, folds=folds, promote=promote, progress=progress, answers=answers
        )


def _train_task(
    task: Task,
    data_dir: Path,
    version: str,
    *,
    sample: int | None,
    folds: int,
    promote: bool,
    progress: Callable[[str], None],
    answers: Sequence[Any] = (),
) -> TrainResult:
    started = time.perf_counter()
    seed = get_settings().seed
    path, X, y = load_task_data(task, data_dir, sample=sample, seed=seed)
    train_rows, test_rows = split(task, X, y, seed)
    X_train, y_train = X.iloc[train_rows], y[train_rows]
    X_test, y_test = X.iloc[test_rows], y[test_rows]
    progress(f"{task.name}: {len(y)} rows, positive rate {y.mean():.3f}; train {len(y_train)} / held-out {len(y_test)}")
    cv = StratifiedKFold(n_splits=folds, shuffle=True, random_state=seed)
    cv_auc: dict[str, dict[str, float]] = {}
    for name, classifier in candidates(seed).items():
        t0 = time.perf_counter()
        scores = cross_val_score(build_pipeline(task.features, classifier), X_train, y_train, cv=cv, scoring="roc_auc")
        cv_auc[name] = {"mean": float(scores.mean()), "std": float(scores.std())}
        progress(
            f"  {name}: {folds}-fold CV ROC AUC {scores.mean():.4f} ± {scores.std():.4f}"
            f" ({time.perf_counter() - t0:.1f} s)"
        )
    chosen = max(FAMILIES, key=lambda n: cv_auc[n]["mean"])
    other = next(n for n in FAMILIES if n != chosen)
    why = (
        f"higher mean {folds}-fold CV ROC AUC on the training part "
        f"({cv_auc[chosen]['mean']:.4f} vs {cv_auc[other]['mean']:.4f} for {other}, "
        f"{cv_auc[BASELINE]['mean']:.4f} for the {BASELINE} baseline)"
    )
    progress(f"  chosen: {chosen}")
    feedback_summary: dict[str, Any] = {"answers": 0, "accepted": 0, "declined": 0, "weight": 0, "rows_added": 0}
    X_fit, y_fit = X_train, y_train
    if answers and task.product is not None:
        from recommender.feedback import FEEDBACK_WEIGHT, feedback_frame, with_feedback

        X_fb, y_fb, summary = feedback_frame(task, answers)
        X_fit, y_fit = with_feedback(X_train, y_train, X_fb, y_fb, FEEDBACK_WEIGHT)
        feedback_summary = {
            **summary,
            "weight": FEEDBACK_WEIGHT if len(y_fb) else 0,
            "rows_added": len(y_fit) - len(y_train),
            "sources": sorted({a.source for a in answers if a.product == task.product}),
        }
        if len(y_fb):
            progress(
                f"  feedback: {summary['answers']} recorded answer(s) ({summary['accepted']} accepted, "
                f"{summary['declined']} declined) x{FEEDBACK_WEIGHT} added to the training part"
            )
    model = calibrated(task.features, candidates(seed)[chosen], seed, min(CALIBRATION_FOLDS, folds))
    model.fit(X_fit, y_fit)
    p_test = model.predict_proba(X_test)[:, 1]
    prior = float(y_train.mean())
    metrics: dict[str, Any] = {
        "cv_roc_auc": cv_auc,
        "holdout": holdout_metrics(y_test, p_test),
        "holdout_baseline": holdout_metrics(y_test, np.full(len(y_test), prior)),
        "holdout_base_rate": float(y_test.mean()),
        "train_base_rate": prior,
        "holdout_score_quantiles": {q: float(np.quantile(p_test, float(q))) for q in ("0.5", "0.75", "0.8", "0.9")},
    }
    h = metrics["holdout"]
    progress(
        f"  held-out: ROC AUC {h['roc_auc']:.4f}, lift@10% {h['lift_at_10pct']:.2f}, Brier {h['brier']:.4f}"
        f" (baseline Brier {metrics['holdout_baseline']['brier']:.4f})"
    )
    seconds = time.perf_counter() - started
    metadata: dict[str, Any] = {
        "task": task.name,
        "product": task.product,
        "trained_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "source": task.source,
        "data_path": str(path),
        "data_sha256": sha256_file(path),
        "rows": {
            "total": len(y),
            "train": len(y_train),
            "holdout": len(y_test),
            "sampled": sample is not None,
            "feedback": feedback_summary["answers"],
            "train_total": len(y_fit),
        },
        "feedback": feedback_summary,
        "sample": sample,
        "features": list(task.features.columns),
        "target": task.target,
        "seed": seed,
        "split": (
            f"{1 - TEST_SIZE[task.family]:.0%}/{TEST_SIZE[task.family]:.0%} "
            f"{'stratified' if task.family == 'bank' else 'by client'}, {folds}-fold stratified CV on the training part"
        ),
        "model": chosen,
        "calibration": f"sigmoid (Platt), {min(CALIBRATION_FOLDS, folds)}-fold CalibratedClassifierCV",
        "why": why,
        "metrics": metrics,
        "reference": reference_values(X_train),
        "sklearn_version": sklearn.__version__,
        "training_seconds": round(seconds, 2),
    }
    registry.save_version(task.name, model, metadata, version=version)
    if promote:
        registry.promote(version, task.name)
    progress(f"  saved {task.name} version {version}{' (promoted)' if promote else ''} in {seconds:.1f} s")
    return TrainResult(task=task.name, version=version, metadata=metadata, seconds=seconds)


def _data_dir(data: Path | None) -> Path:
    if data is None:
        return Path(get_settings().data_dir)
    data = Path(data)
    if data.is_file():  # a data file inside DATA_DIR's layout, e.g. DATA_DIR/bank_marketing/bank-full-train.csv
        return data.parent.parent
    if not data.is_dir():
        raise FileNotFoundError(f"no data directory {data}")
    return data


def train(
    data: Path | None = None,
    *,
    tasks: Sequence[str] | None = None,
    sample: int | None = None,
    folds: int = 5,
    promote: bool = True,
    progress: Callable[[str], None] = print,
    feedback: bool = True,
) -> dict[str, TrainResult]:
    """Train every task (or ``tasks``) as one registry version; return task name → result.

    Args:
        data: the data directory (``settings.data_dir`` layout); a file inside that layout
            (``<dir>/bank_marketing/bank-full-train.csv``) is taken to mean its ``<dir>``.
        tasks: task names (``recommender.tasks.TASK_NAMES``); default all.
        sample: use a seeded sample of at most this many rows per data set (tests).
        folds: cross-validation folds of the comparison (calibration uses min(3, folds)).
        promote: promote the new version of every task.
        progress: called with one human-readable line per step.
        feedback: add the CRM's recorded offer answers to the training parts (``recommender.feedback``);
            no database or no answers: the data sets alone.

    Raises:
        KeyError: an unknown task name.
        FileNotFoundError, ValueError: missing data or bad columns.
    """
    data_dir = _data_dir(data)
    selected = [get_task(name) for name in (tasks or TASK_NAMES)]
    answers: list[Any] = []
    if feedback and any(t.product is not None for t in selected):
        from recommender.feedback import recorded_answers

        answers = recorded_answers()
        progress(f"offer feedback: {len(answers)} recorded answer(s) in the CRM")
    version = registry.new_run_version([t.name for t in selected])
    started = time.perf_counter()
    results = {
        task.name: train_task(
            task, data_dir, version, sample=sample, folds=folds, promote=promote, progress=progress, answers=answers
        )
        for task in selected
    }
    progress(f"trained {len(results)} model(s) as version {version} in {time.perf_counter() - started:.1f} s")
    return results


def main(argv: Sequence[str] | None = None) -> int:
    """Command line entry point; returns the process exit status (2 for an unknown task or missing data)."""
    parser = argparse.ArgumentParser(prog="python -m recommender.train", description=__doc__.split("\n")[0])
    parser.add_argument("--data-dir", "--data", dest="data", type=Path, default=None, help="data directory")
    parser.add_argument("--task", action="append", default=None, help=f"train only this task: {', '.join(TASK_NAMES)}")
    parser.add_argument("--sample", type=int, default=None, help="use a seeded sample of N rows per data set")
    parser.add_argument("--folds", type=int, default=5, help="cross-validation folds (default 5)")
    parser.add_argument("--no-promote", action="store_true", help="register without promoting")
    parser.add_argument("--no-feedback", action="store_true", help="ignore the CRM's recorded offer answers")
    args = parser.parse_args(argv)
    try:
        train(
            args.data,
            tasks=args.task,
            sample=args.sample,
            folds=args.folds,
            promote=not args.no_promote,
            progress=lambda s: print(s, flush=True),
            feedback=not args.no_feedback,
        )
    except (KeyError, FileNotFoundError) as exc:
        print(f"error: {exc.args[0] if exc.args else exc}", file=sys.stderr, flush=True)
        return 2
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
