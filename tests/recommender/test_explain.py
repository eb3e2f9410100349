"""Explanations: the two or three features that pushed the score up, in one sentence that is true of the customer."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest

from recommender import registry
from recommender.catalogue import get_product
from recommender.explain import MAX_FACTORS, explain, phrase_for, pushes, rule_explanation
from recommender.features import CustomerContext, serving_frame
from recommender.tasks import PRODUCT_TASK, get_task
from tests.recommender.conftest import Profile

NEVER_NAMED = ("marital", "contact", "gender", "month", "euribor3m")


def test_phrases_name_only_what_is_true() -> None:
    assert phrase_for("balance", 5000.0) == "a healthy balance"
    assert phrase_for("balance", 10.0) is None
    assert phrase_for("education", "tertiary") == "a university degree"
    assert phrase_for("education", "primary") is None
    assert phrase_for("housing", "no") == "no housing loan"
    assert phrase_for("default", "yes") is None
    assert phrase_for("loan", 1.0, berka=True) == "a loan with us"
    assert phrase_for("card_classic", 0.0) is None
    assert phrase_for("job", float("nan")) is None
    for feature in (*NEVER_NAMED, "age"):
        assert phrase_for(feature, "married") is None and phrase_for(feature, 40.0) is None


@pytest.mark.parametrize("product", ["term_deposit", "credit_card", "personal_loan", "mortgage"])
def test_model_explanations_are_one_true_sentence(model_registry: Path, product: str) -> None:
    ctx = CustomerContext(Profile(age=45, education="tertiary"), Decimal(6000), frozenset({"current_account"}))
    why = explain(product, ctx)
    assert why.sentence.endswith(f"{get_product(product).ending}.") and why.sentence.count(".") == 1
    assert len(why.factors) <= MAX_FACTORS
    assert not set(why.factors) & set(NEVER_NAMED)


def test_named_factors_are_those_that_pushed_the_score_up(model_registry: Path) -> None:
    ctx = CustomerContext(
        Profile(age=67, job="retired", education="tertiary", housing_loan=False, personal_loan=False),
        Decimal(8000),
        frozenset({"current_account"}),
    )
    why = explain("term_deposit", ctx)
    task = get_task(PRODUCT_TASK["term_deposit"])
    model = registry.load_promoted(task.name)
    row = serving_frame(task.features, ctx)
    push = pushes(model.pipeline, row, model.metadata["reference"], list(task.features.columns))
    assert why.factors, why.sentence
    for factor in why.factors:
        assert push[factor] > 0
    ranked = [push[f] for f in why.factors]
    assert ranked == sorted(ranked, reverse=True)
    if "job" in why.factors:
        assert why.sentence.startswith("Retired customers with")
    elif "age" in why.factors:
        assert why.sentence.startswith("Customers at your stage of life")
    assert "67" not in why.sentence


def test_a_blank_profile_still_gets_a_sentence(model_registry: Path) -> None:
    blank = Profile(
        job=None,
        marital=None,
        education=None,
        credit_default=False,
        housing_loan=None,
        personal_loan=None,
        contact_channel=None,
    )
    why = explain("term_deposit", CustomerContext(blank, None, frozenset({"current_account"})))
    assert why.sentence.endswith("often choose a term deposit to earn a fixed return.")


def test_rule_reasons_follow_the_attributes() -> None:
    rich = rule_explanation("savings_account", CustomerContext(Profile(), Decimal(5000)))
    poor = rule_explanation("savings_account", CustomerContext(Profile(), Decimal(50)))
    assert "a healthy balance" in rich.sentence and "a healthy balance" not in poor.sentence
    assert rule_explanation("current_account", CustomerContext(Profile())).sentence.count(".") == 1
    with pytest.raises(KeyError):
        rule_explanation("mortgage", CustomerContext(Profile()))


def test_unknown_product_is_a_clear_error() -> None:
    with pytest.raises(KeyError, match="unknown product"):
        explain("gold_bar", CustomerContext(Profile()))
