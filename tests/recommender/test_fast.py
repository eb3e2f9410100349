"""The fast scoring path equals the reference path (pipeline ``predict_proba`` on a pandas frame) on real rows."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import numpy as np
import pandas as pd  # type: ignore[import-untyped]
import pytest

from recommender import fast, registry
from recommender.explain import _reference, fast_pushes, pushes
from recommender.features import CustomerContext, serving_frame, serving_values
from recommender.scoring import batch_scores, model_propensities, propensity, reference_propensities
from recommender.tasks import PRODUCT_TASK, TASK_NAMES, get_task
from tests.recommender.conftest import DATA, DATA_DIR, Profile

NOW = datetime(2026, 11, 1, 12, tzinfo=UTC)
TOL = fast.TOLERANCE


def _crm_contexts(n: int = 400) -> list[CustomerContext]:
    """CRM-like customers from real bank-full rows, with offer histories and a few blank attributes."""
    raw = pd.read_csv(DATA, sep=";").head(n).to_dict("records")
    out = []
    for i, row in enumerate(raw):
        held = {"current_account"} | ({"credit_card"} if i % 7 == 0 else set())
        profile = Profile(
            age=int(row["age"]) if i % 11 else None,
            job=row["job"] if i % 13 else "astronaut",  # unrecognised: imputed
            marital=row["marital"],
            education=row["education"] if i % 5 else None,
            credit_default=row["default"] == "yes",
            housing_loan=row["housing"] == "yes",
            personal_loan=row["loan"] == "yes",
            contact_channel=row["contact"],
        )
        last = None
        if i % 4 == 1:
            last = ("term_deposit", "accepted" if i % 8 == 1 else "declined", NOW - timedelta(days=i % 90))
        balance = None if i % 17 == 0 else Decimal(str(row["balance"]))
        out.append(CustomerContext(profile, balance, frozenset(held), last, None, NOW))
    return out


@pytest.mark.parametrize("product", sorted(PRODUCT_TASK))
def test_fast_path_equals_predict_proba_for_crm_customers(model_registry: Path, product: str) -> None:
    contexts = _crm_contexts()
    fast_p = model_propensities(product, contexts)
    ref_p = reference_propensities(product, contexts)
    assert fast_p.shape == (len(contexts),)
    assert np.max(np.abs(fast_p - ref_p)) <= TOL
    # one customer at a time (the chat path: the generated tree code rather than scikit-learn's predictor)
    for ctx, expected in zip(contexts[:40], ref_p[:40], strict=True):
        assert abs(propensity(product, ctx) - expected) <= TOL


@pytest.mark.parametrize("task_name", TASK_NAMES)
def test_fast_path_equals_predict_proba_on_the_training_rows(model_registry: Path, task_name: str) -> None:
    """Every model, on rows of its own data file (the first 300 and a few single rows)."""
    task = get_task(task_name)
    X, _y = task.read(DATA_DIR / task.data_file)
    X = X.head(300)
    model = registry.load_promoted(task_name)
    num = X[list(task.features.numeric)].to_numpy(dtype=np.float64)
    cat = list(X[list(task.features.categorical)].itertuples(index=False, name=None))
    expected = model.pipeline.predict_proba(X)[:, 1]
    compiled = fast.compile_model(model, task.features)
    assert np.max(np.abs(compiled.proba(num, cat) - expected)) <= TOL
    for i in (0, 1, 17, 299):
        assert abs(compiled.proba(num[i : i + 1], cat[i : i + 1])[0] - expected[i]) <= TOL


def test_batch_scores_equal_the_reference_path(model_registry: Path) -> None:
    contexts = _crm_contexts(300)
    table = batch_scores(contexts)
    for product, task_name in PRODUCT_TASK.items():
        rows = [i for i in range(len(contexts)) if not np.isnan(table[product][i])]
        assert rows, product
        expected = reference_propensities(product, [contexts[i] for i in rows])
        assert np.max(np.abs(table[product].to_numpy()[rows] - expected)) <= TOL, task_name


def test_explanation_pushes_equal_the_reference_path(model_registry: Path) -> None:
    for ctx in _crm_contexts(30)[::3]:
        for task_name in PRODUCT_TASK.values():
            task = get_task(task_name)
            model = registry.load_promoted(task_name)
            candidates = list(task.features.columns)
            num, cat = serving_values(task.features, [ctx])
            got = fast_pushes(model, task.features, num, cat, _reference(model, task.features), candidates)
            want = pushes(model.pipeline, serving_frame(task.features, ctx), model.metadata["reference"], candidates)
            assert set(got) == set(want)
            assert all(abs(got[c] - want[c]) <= TOL for c in want)


def test_a_pipeline_it_cannot_reproduce_is_scored_by_the_reference_path(model_registry: Path) -> None:
    from sklearn.dummy import DummyClassifier
    from sklearn.pipeline import Pipeline

    from recommender.train import build_preprocessor

    task = get_task("personal_loan")
    X, y = task.read(DATA_DIR / task.data_file)
    plain = Pipeline([("prep", build_preprocessor(task.features)), ("model", DummyClassifier(strategy="prior"))])
    plain.fit(X.head(500), y[:500])  # not calibrated: no fast form
    real = registry.load_promoted("personal_loan")
    loaded = replace(real, pipeline=plain, version="not-compiled")
    with pytest.raises(fast.UnsupportedModel):
        fast.compile_model(loaded, task.features)
    num, cat = serving_values(task.features, _crm_contexts(20))
    assert np.allclose(fast.predict(loaded, task.features, num, cat), y[:500].mean())


def test_a_new_promotion_is_compiled_and_served_without_a_restart(model_registry: Path) -> None:
    import copy

    contexts = _crm_contexts(50)
    before = model_propensities("term_deposit", contexts)
    version = registry.promoted_version("term_deposit")
    assert version is not None
    model = registry.load_promoted("term_deposit")
    changed = copy.deepcopy(model.pipeline)
    changed.calibrated_classifiers_[0].calibrators[0].a_ *= 2  # a different calibration: different scores
    new = registry.save_version("term_deposit", changed, model.metadata, version=version + "-2")
    registry.promote(new, "term_deposit")
    after = model_propensities("term_deposit", contexts)
    assert np.max(np.abs(after - before)) > 0.01
    assert np.max(np.abs(after - reference_propensities("term_deposit", contexts))) <= TOL
    registry.promote(version, "term_deposit")  # and back
    assert np.max(np.abs(model_propensities("term_deposit", contexts) - before)) <= TOL
