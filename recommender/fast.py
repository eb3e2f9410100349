"""The lean scoring path: each promoted pipeline turned into plain arrays once per process, then numpy per call.

The reference path (:func:`reference_proba`) is ``pipeline.predict_proba(serving_frames(...))``: a pandas frame
through scikit-learn's ``ColumnTransformer`` and the calibrated classifier, ~10 ms per model per call whatever
the number of rows, most of it input validation. This module reads the fitted parameters out of the same
pipeline and applies the same arithmetic:

1. numeric columns: missing → the imputer's training median (``SimpleImputer.statistics_``), then
   ``(x - mean_) / scale_`` (``StandardScaler``);
2. categorical columns: each known category → its one-hot column (``OneHotEncoder.categories_``; missing →
   ``"unknown"``, as the imputer fills it; a category unseen in training → all zeros, ``handle_unknown="ignore"``);
3. the classifier's decision function: logistic regression ``X @ coef_ + intercept_``; histogram gradient
   boosting the baseline plus each tree's leaf value, tree by tree in fitting order (the trees turned into one
   generated Python function of nested comparisons for a few rows, scikit-learn's own compiled ``decision_function`` for many);
4. the Platt sigmoid of ``CalibratedClassifierCV`` (``ensemble=False``: one calibrator):
   ``1 / (1 + exp(a f + b))``.

The inputs are the feature builder's own values (:func:`recommender.features.serving_values`, the same
normalisation as :func:`recommender.features.coerce`). Results equal the reference path to floating-point
rounding: :func:`compile_model` checks that on probe rows (typical, all-missing and every category of every
column) and refuses a pipeline it cannot reproduce within :data:`TOLERANCE` (:class:`UnsupportedModel`); the
callers then use the reference path. Compiled models are cached per model file,
so a promotion is picked up on the next call, like :func:`recommender.registry.load_promoted`; the key is the
model file's version, size and modification time, so a copy of a registry (tests) reuses the compiled form.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy.special import expit

from recommender import registry
from recommender.features import UNKNOWN, FeatureSet, coerce, serving_values

logger = logging.getLogger(__name__)

TOLERANCE = 1e-9  # absolute, on the probability of the positive class
#: Up to this many rows the trees are walked in Python (the trees compiled to one Python function of nested comparisons); more rows go to scikit-learn's
#: compiled predictor (same thresholds and leaf values, the same sums in the same order).
PY_TREE_ROWS = 64


class UnsupportedModel(registry.RegistryError):
    """A pipeline this module cannot reproduce exactly (other steps, or the probe check failed)."""


_controller: Any = None


def single_thread() -> Any:
    """Context manager limiting the BLAS / OpenMP pools to one thread while scoring.

    The controller is built once per process, on first use (after a model is loaded, so it sees scikit-learn's
    OpenMP runtime): building one scans the loaded libraries, ~6 ms, too slow to repeat per prediction.
    """
    global _controller
    if _controller is None:
        from threadpoolctl import ThreadpoolController  # type: ignore[import-untyped]

        _controller = ThreadpoolController()
    return _controller.limit(limits=1)


def _tree_source(nodes: Any, node: int, indent: str, lines: list[str]) -> None:
    """Append the nested ``if`` statements of one tree from ``node`` down; each leaf adds its value to ``t``."""
    if nodes["is_leaf"][node]:
        lines.append(f"{indent}t += {float(nodes['value'][node])!r}")
        return
    v = f"x[{int(nodes['feature_idx'][node])}]"
    test = f"{v} <= {float(nodes['num_threshold'][node])!r}"
    if nodes["missing_go_to_left"][node]:
        test = f"{test} or {v} != {v}"  # NaN goes left (never after imputation; parity with scikit-learn)
    lines.append(f"{indent}if {test}:")
    _tree_source(nodes, int(nodes["left"][node]), indent + " ", lines)
    lines.append(f"{indent}else:")
    _tree_source(nodes, int(nodes["right"][node]), indent + " ", lines)


def _forest(predictors: Sequence[Any], baseline: float) -> Callable[[Sequence[float]], float]:
    """One Python function ``f(row) -> raw score`` with every tree as nested ``if`` statements.

    The leaves are added to ``baseline`` tree by tree in fitting order, as scikit-learn sums them, and the
    thresholds and values are written with ``repr`` (exact round trip), so the sum is the same float.
    """
    lines = ["def raw(x):", f" t = {baseline!r}"]
    for predictor in predictors:
        nodes = predictor.nodes
        if nodes["is_categorical"].any():
            raise UnsupportedModel("native categorical splits")
        _tree_source(nodes, 0, " ", lines)
    lines.append(" return t")
    namespace: dict[str, Any] = {}
    exec(compile("\n".join(lines), "<recommender.fast forest>", "exec"), namespace)  # noqa: S102 (our own code)
    fn: Callable[[Sequence[float]], float] = namespace["raw"]
    return fn


@dataclass(frozen=True)
class FastModel:
    """One promoted pipeline as arrays (module docstring). ``proba(num, cat)`` is P(positive), shape ``(n,)``.

    Attributes:
        task, version: the registry model and version it was compiled from.
        features: the feature set (numeric then categorical columns).
        medians, means, scales: per numeric column, float64 arrays.
        categories: per categorical column, category → output column index.
        width: number of columns after preprocessing.
        kind: ``"linear"`` or ``"trees"``.
        a, b: the Platt sigmoid's parameters.
    """

    task: str
    version: str
    features: FeatureSet
    medians: np.ndarray
    means: np.ndarray
    scales: np.ndarray
    categories: tuple[dict[str, int], ...]
    width: int
    kind: str
    a: float
    b: float
    coef: np.ndarray | None = None
    intercept: float = 0.0
    forest: Callable[[Sequence[float]], float] | None = None
    baseline: float = 0.0
    classifier: Any = None

    def transform(self, num: np.ndarray, cat: Sequence[Sequence[object]]) -> np.ndarray:
        """Preprocessed matrix ``(n, width)`` from numeric ``(n, n_numeric)`` and categorical rows."""
        n = num.shape[0]
        filled = np.where(np.isnan(num), self.medians, num)
        X = np.zeros((n, self.width), dtype=np.float64)
        X[:, : len(self.medians)] = (filled - self.means) / self.scales
        if not self.categories or n == 0:
            return X
        rows = np.arange(n)
        for mapping, column in zip(self.categories, zip(*cat, strict=True), strict=True):
            unknown = -1 if (u := mapping.get(UNKNOWN)) is None else u
            # a string: its one-hot column (-1 if unseen in training); missing (NaN): the "unknown" column
            idx = np.fromiter(
                (mapping.get(v, -1) if v.__class__ is str else unknown for v in column), dtype=np.intp, count=n
            )
            hit = idx >= 0
            X[rows[hit], idx[hit]] = 1.0
        return X

    def decision(self, X: np.ndarray) -> np.ndarray:
        """The uncalibrated decision function, shape ``(n,)``."""
        if self.kind == "linear":
            assert self.coef is not None
            return np.asarray(X @ self.coef + self.intercept, dtype=np.float64)
        if X.shape[0] > PY_TREE_ROWS:
            with single_thread():  # OpenMP threads spin-wait on a busy 2-core machine: measured slower
                return np.asarray(self.classifier.decision_function(X), dtype=np.float64)
        assert self.forest is not None
        forest = self.forest
        return np.array([forest(row) for row in X.tolist()], dtype=np.float64)

    def proba(self, num: np.ndarray, cat: Sequence[Sequence[object]]) -> np.ndarray:
        """Calibrated P(positive) of each row, shape ``(n,)``."""
        f = self.decision(self.transform(num, cat))
        return np.asarray(expit(-(self.a * f + self.b)), dtype=np.float64)


def _steps(pipeline: Any) -> tuple[Any, Any, Any]:
    """``(column transformer, classifier, sigmoid calibrator)`` of a calibrated pipeline, or UnsupportedModel."""
    from sklearn.calibration import CalibratedClassifierCV
    from sklearn.pipeline import Pipeline

    if not isinstance(pipeline, CalibratedClassifierCV) or len(getattr(pipeline, "calibrated_classifiers_", ())) != 1:
        raise UnsupportedModel("not a single-calibrator CalibratedClassifierCV")
    calibrated = pipeline.calibrated_classifiers_[0]
    if calibrated.method != "sigmoid" or len(calibrated.calibrators) != 1 or len(pipeline.classes_) != 2:
        raise UnsupportedModel("not a binary sigmoid calibration")
    inner = calibrated.estimator
    if not isinstance(inner, Pipeline) or list(inner.named_steps) != ["prep", "model"]:
        raise UnsupportedModel("not a prep + model pipeline")
    return inner.named_steps["prep"], inner.named_steps["model"], calibrated.calibrators[0]


def _compile(task: str, version: str, pipeline: Any, features: FeatureSet) -> FastModel:
    from sklearn.ensemble import HistGradientBoostingClassifier
    from sklearn.linear_model import LogisticRegression

    prep, classifier, calibrator = _steps(pipeline)
    parts = {name: (trans, list(cols)) for name, trans, cols in prep.transformers_ if name in ("num", "cat")}
    if parts.get("num", (None, []))[1] != list(features.numeric) or parts.get("cat", (None, []))[1] != list(
        features.categorical
    ):
        raise UnsupportedModel("column transformer columns differ from the feature set")
    num_pipe = parts["num"][0]
    imputer, scaler = num_pipe.named_steps["impute"], num_pipe.named_steps["scale"]
    medians = np.asarray(imputer.statistics_, dtype=np.float64)
    if np.isnan(medians).any():
        raise UnsupportedModel("a numeric column was empty in training (dropped by the imputer)")
    means = np.asarray(scaler.mean_, dtype=np.float64) if scaler.with_mean else np.zeros(len(medians))
    scales = np.asarray(scaler.scale_, dtype=np.float64) if scaler.with_std else np.ones(len(medians))
    offset = len(medians)
    categories: list[dict[str, int]] = []
    if features.categorical:
        encoder = parts["cat"][0].named_steps["onehot"]
        if encoder.drop is not None or getattr(encoder, "infrequent_categories_", None) is not None:
            raise UnsupportedModel("one-hot encoder with dropped or infrequent categories")
        for cats in encoder.categories_:
            categories.append({str(c): offset + k for k, c in enumerate(cats)})
            offset += len(cats)
    kwargs: dict[str, Any] = {}
    if isinstance(classifier, LogisticRegression):
        kind = "linear"
        kwargs["coef"] = np.asarray(classifier.coef_, dtype=np.float64).ravel()
        kwargs["intercept"] = float(np.asarray(classifier.intercept_).ravel()[0])
    elif isinstance(classifier, HistGradientBoostingClassifier):
        kind = "trees"
        if classifier.n_trees_per_iteration_ != 1:
            raise UnsupportedModel("multiclass boosting")
        kwargs["baseline"] = float(np.asarray(classifier._baseline_prediction).ravel()[0])
        kwargs["forest"] = _forest([p for (p,) in classifier._predictors], kwargs["baseline"])
        kwargs["classifier"] = classifier
    else:
        raise UnsupportedModel(f"classifier {type(classifier).__name__}")
    return FastModel(
        task=task,
        version=version,
        features=features,
        medians=medians,
        means=means,
        scales=scales,
        categories=tuple(categories),
        width=offset,
        kind=kind,
        a=float(calibrator.a_),
        b=float(calibrator.b_),
        **kwargs,
    )


def reference_proba(pipeline: Any, features: FeatureSet, num: np.ndarray, cat: Sequence[Sequence[object]]) -> np.ndarray:
    """P(positive) of the same rows by the reference path: a coerced pandas frame through ``predict_proba``."""
    import pandas as pd  # type: ignore[import-untyped]

    data: dict[str, Any] = {c: num[:, j] for j, c in enumerate(features.numeric)}
    for j, c in enumerate(features.categorical):
        data[c] = [row[j] for row in cat]
    frame = coerce(pd.DataFrame(data, columns=list(features.columns)), features)
    return np.asarray(pipeline.predict_proba(frame)[:, 1], dtype=np.float64)


def _probe(features: FeatureSet, reference: dict[str, Any]) -> tuple[np.ndarray, list[tuple[object, ...]]]:
    """Probe rows: the typical row, an all-missing row, and one row per (categorical column, category)."""
    from recommender.features import CATEGORIES

    typical_num = [float(reference[c]) if reference.get(c) is not None else np.nan for c in features.numeric]
    typical_cat = tuple(reference.get(c) if reference.get(c) is not None else np.nan for c in features.categorical)
    nums = [typical_num, [np.nan] * len(features.numeric)]
    cats: list[tuple[object, ...]] = [typical_cat, (np.nan,) * len(features.categorical)]
    for j, column in enumerate(features.categorical):
        for k, category in enumerate(sorted(CATEGORIES[column])):
            row = list(typical_cat)
            row[j] = category
            cats.append(tuple(row))
            nums.append([v * (1 + 0.1 * ((k % 5) - 2)) for v in typical_num])  # vary the numerics a little too
    return np.asarray(nums, dtype=np.float64).reshape(len(nums), len(features.numeric)), cats


_cache: dict[tuple[object, ...], FastModel | UnsupportedModel] = {}
_lock = threading.Lock()


def _key(loaded: registry.LoadedModel) -> tuple[object, ...]:
    """The model file's identity: a registry copy (same file, same size and modification time) shares it."""
    path = registry.root() / loaded.product / loaded.version / registry.MODEL_FILE
    try:
        stat = path.stat()
    except OSError:
        return (id(loaded.pipeline), loaded.product, loaded.version)
    return (loaded.product, loaded.version, stat.st_size, stat.st_mtime_ns)


def compile_model(loaded: registry.LoadedModel, features: FeatureSet) -> FastModel:
    """The fast form of a loaded registry model, built and checked once per version per process.

    Raises:
        UnsupportedModel: the pipeline has other steps, or its fast form differs from ``predict_proba`` by more
            than :data:`TOLERANCE` on the probe rows (also cached: the reference path is then used).
    """
    key = _key(loaded)
    with _lock:
        cached = _cache.get(key)
    if cached is None:
        try:
            model = _compile(loaded.product, loaded.version, loaded.pipeline, features)
            num, cat = _probe(features, dict(loaded.metadata.get("reference", {})))
            fast_small = model.proba(num, cat)
            reps = PY_TREE_ROWS // max(1, len(cat)) + 1  # also the compiled (many-rows) tree path
            fast_many = model.proba(np.vstack([num] * reps), cat * reps)[: len(cat)]
            ref = reference_proba(loaded.pipeline, features, num, cat)
            diff = max(float(np.max(np.abs(fast_small - ref))), float(np.max(np.abs(fast_many - ref))))
            if diff > TOLERANCE:
                raise UnsupportedModel(f"fast path differs from predict_proba by {diff:.2e}")
            cached = model
        except UnsupportedModel as exc:
            logger.warning("%s %s scored by the reference path: %s", loaded.product, loaded.version, exc)
            cached = exc
        with _lock:
            _cache[key] = cached
    if isinstance(cached, UnsupportedModel):
        raise cached
    return cached


def clear_cache() -> None:
    """Forget every compiled model (tests)."""
    with _lock:
        _cache.clear()


def predict(loaded: registry.LoadedModel, features: FeatureSet, num: np.ndarray, cat: Sequence[Sequence[object]]) -> np.ndarray:
    """P(positive) of each row: the fast path, or the reference path when the model is not supported."""
    try:
        model = compile_model(loaded, features)
    except UnsupportedModel:
        return reference_proba(loaded.pipeline, features, num, cat)
    return model.proba(num, cat)


__all__ = ["FastModel", "TOLERANCE", "UnsupportedModel", "clear_cache", "compile_model", "predict", "reference_proba",
           "serving_values"]
