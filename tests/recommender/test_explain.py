"""Reasons: one plain sentence from the customer's actual attributes."""

from __future__ import annotations

from decimal import Decimal

import numpy as np
import pytest
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.linear_model import LogisticRegression
from threadpoolctl import threadpool_limits

from recommender.catalogue import PRODUCT_IDS
from recommender.explain import (
    logistic_contributions,
    reason_for,
    rule_reason,
    term_deposit_phrases,
    term_deposit_reason,
)
from recommender.features import frame_from_csv, frame_from_profile
from recommender.train import build_pipeline
from tests.recommender.conftest import DATA, Profile, requires_data


def one_sentence(text: str) -> bool:
    return text[0].isupper() and text.endswith(".") and text.count(".") == 1


@pytest.fixture(scope="module")
def sample() -> tuple[object, np.ndarray]:
    if not DATA.is_file():
        pytest.skip(f"{DATA} not present")
    X, y = frame_from_csv(DATA)
    rows = np.random.default_rng(0).choice(len(y), 6000, replace=False)  # the file is ordered by date
    return X.iloc[rows], y[rows]


def test_phrases_name_only_what_is_true() -> None:
    row = frame_from_profile(Profile(housing_loan=True, personal_loan=False, education="primary"), Decimal(50))
    phrases = term_deposit_phrases(row.iloc[0].to_dict())
    assert phrases == {"loans": "no personal loan", "default": "a clean credit record"}
    missing = frame_from_profile(Profile(housing_loan=None, personal_loan=None, credit_default=None), None)
    assert term_deposit_phrases(missing.iloc[0].to_dict()) == {"education": "a university degree"}


@requires_data
def test_boosting_reason_is_rule_based_on_actual_attributes(sample: tuple[object, np.ndarray]) -> None:
    X, y = sample
    with threadpool_limits(limits=1):  # OpenMP threads only slow a small fit on a busy 2-core machine
        pipeline = build_pipeline(HistGradientBoostingClassifier(max_iter=20)).fit(X, y)
    saver = frame_from_profile(Profile(job="retired", housing_loan=False, personal_loan=False), Decimal(5000))
    assert term_deposit_reason(pipeline, saver) == (
        "Retired customers with a healthy balance and no existing loans often choose a term deposit to earn a "
        "fixed return."
    )
    borrower = frame_from_profile(
        Profile(housing_loan=True, personal_loan=True, education="primary", credit_default=None), Decimal(10)
    )
    assert term_deposit_reason(pipeline, borrower) == (
        "Customers with a profile like yours often choose a term deposit to earn a fixed return."
    )


@requires_data
def test_logistic_contributions_add_up_to_the_log_odds(sample: tuple[object, np.ndarray]) -> None:
    X, y = sample
    pipeline = build_pipeline(LogisticRegression(max_iter=1000)).fit(X, y)
    row = frame_from_profile(Profile(job="student", education=None), Decimal(3000))
    contrib = logistic_contributions(pipeline, row)
    features = ("age", "balance", "job", "marital", "education", "default", "housing", "loan", "contact")
    total = sum(contrib[f] for f in features) + float(pipeline.named_steps["model"].intercept_[0])
    assert total == pytest.approx(float(pipeline.decision_function(row)[0]))
    assert contrib["loans"] == pytest.approx(contrib["housing"] + contrib["loan"])


@requires_data
def test_logistic_reason_names_the_top_positive_contributions(sample: tuple[object, np.ndarray]) -> None:
    X, y = sample
    pipeline = build_pipeline(LogisticRegression(max_iter=1000)).fit(X, y)
    row = frame_from_profile(Profile(housing_loan=False, personal_loan=False), Decimal(20_000))
    contrib = logistic_contributions(pipeline, row)
    phrases = term_deposit_phrases(row.iloc[0].to_dict())
    expected = [phrases[k] for k in sorted((k for k in phrases if contrib[k] > 0), key=lambda k: -contrib[k])][:2]
    reason = term_deposit_reason(pipeline, row)
    assert one_sentence(reason)
    assert expected and all(p in reason for p in expected)
    for key, phrase in phrases.items():
        if contrib[key] <= 0:
            assert phrase not in reason


@pytest.mark.parametrize("product", [p for p in PRODUCT_IDS if p != "term_deposit"])
def test_rule_reasons_are_one_sentence(product: str) -> None:
    assert one_sentence(rule_reason(product, Profile(), Decimal(2500)))


def test_rule_reasons_follow_the_attributes() -> None:
    assert "a healthy balance" in rule_reason("savings_account", Profile(), Decimal(2500))
    assert "money in your account" in rule_reason("savings_account", Profile(), Decimal(200))
    assert "no personal loan" not in rule_reason("credit_card", Profile(personal_loan=True), None)
    with pytest.raises(KeyError):
        rule_reason("term_deposit", Profile(), None)


def test_reason_for_term_deposit_uses_the_promoted_model(model_registry: object) -> None:
    reason = reason_for("term_deposit", Profile(housing_loan=False, personal_loan=False), Decimal(4000))
    assert one_sentence(reason) and "term deposit" in reason and "a healthy balance" in reason
