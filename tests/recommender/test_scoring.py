"""Eligibility, rule scores, model propensity and the ranking of products."""

from __future__ import annotations

import logging
from decimal import Decimal
from pathlib import Path

import pytest

from recommender.catalogue import CATALOGUE, PRODUCT_IDS, get_product
from recommender.scoring import is_eligible, rule_score, score_products, term_deposit_propensity
from tests.recommender.conftest import Profile

CREDIT = {"credit_card", "personal_loan", "mortgage"}


def test_catalogue_has_the_contract_products() -> None:
    assert PRODUCT_IDS == (
        "current_account",
        "savings_account",
        "term_deposit",
        "credit_card",
        "personal_loan",
        "mortgage",
    )
    for product in CATALOGUE.values():
        assert product.title and product.pitch.endswith(".")
        assert 0 < product.threshold < 1
    assert {p.id for p in CATALOGUE.values() if p.credit} == CREDIT
    with pytest.raises(KeyError, match="unknown product 'gold_bar'"):
        get_product("gold_bar")


@pytest.mark.parametrize("product", PRODUCT_IDS)
def test_minors_and_unknown_ages_are_never_eligible(product: str) -> None:
    assert not is_eligible(product, Profile(age=17))
    assert not is_eligible(product, Profile(age=None))
    assert is_eligible(product, Profile(age=18))


@pytest.mark.parametrize("product", PRODUCT_IDS)
def test_credit_products_need_a_known_clean_credit_record(product: str) -> None:
    for default in (True, None):
        assert is_eligible(product, Profile(credit_default=default)) == (product not in CREDIT)


def test_rule_scores() -> None:
    p = Profile(age=30, marital="married", housing_loan=False, personal_loan=False)
    assert rule_score("current_account", p, Decimal(0)) == pytest.approx(0.60)
    assert rule_score("savings_account", p, Decimal(-5)) == 0.0
    assert rule_score("savings_account", p, None) == 0.0
    assert rule_score("savings_account", p, Decimal(1000)) == pytest.approx(0.15)
    assert rule_score("savings_account", p, Decimal(90_000)) == pytest.approx(0.25)
    assert rule_score("credit_card", p, None) == pytest.approx(0.20)
    assert rule_score("credit_card", Profile(age=20), None) == 0.0
    assert rule_score("credit_card", Profile(personal_loan=True), None) == pytest.approx(0.15)
    assert rule_score("personal_loan", p, None) == pytest.approx(0.12)
    assert rule_score("personal_loan", Profile(age=66), None) == 0.0
    assert rule_score("personal_loan", Profile(personal_loan=True), None) == 0.0
    assert rule_score("mortgage", p, None) == pytest.approx(0.18)
    assert rule_score("mortgage", Profile(age=51, marital="married"), None) == 0.0
    assert rule_score("mortgage", Profile(age=30, marital="single"), None) == 0.0
    assert rule_score("mortgage", Profile(age=30, marital="married", housing_loan=True), None) == 0.0
    with pytest.raises(ValueError, match="model"):
        rule_score("term_deposit", p, None)


def test_savings_rule_reaches_its_threshold_at_a_healthy_balance() -> None:
    threshold = get_product("savings_account").threshold
    assert rule_score("savings_account", Profile(), Decimal(999)) < threshold
    assert rule_score("savings_account", Profile(), Decimal(1000)) >= threshold


def test_term_deposit_propensity_is_a_probability(model_registry: Path) -> None:
    rich_retiree = Profile(age=70, job="retired", education="tertiary", housing_loan=False, personal_loan=False)
    indebted = Profile(
        age=35, job="blue-collar", education="primary", housing_loan=True, personal_loan=True, contact_channel="unknown"
    )
    high = term_deposit_propensity(rich_retiree, Decimal(8000))
    low = term_deposit_propensity(indebted, Decimal(-200))
    assert 0.0 <= low < high <= 1.0


def test_a_customer_with_missing_fields_still_scores(model_registry: Path) -> None:
    blank = Profile(
        age=None,
        job=None,
        marital=None,
        education=None,
        credit_default=None,
        housing_loan=None,
        personal_loan=None,
        contact_channel=None,
    )
    assert 0.0 < term_deposit_propensity(blank, None) < 1.0


def test_score_products_skips_held_and_ineligible_and_sorts(model_registry: Path) -> None:
    p = Profile(credit_default=True)
    scores = score_products(p, Decimal(2000), exclude={"current_account"})
    assert {s.product for s in scores} == {"savings_account", "term_deposit"}
    assert [s.score for s in scores] == sorted((s.score for s in scores), reverse=True)
    for s in scores:
        assert s.passes == (s.score >= get_product(s.product).threshold)


def test_without_a_model_term_deposit_is_left_out_with_a_warning(
    empty_registry: Path, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING, logger="recommender.scoring"):
        scores = score_products(Profile(), Decimal(2000))
    assert "term_deposit" not in {s.product for s in scores}
    assert "python -m recommender.train" in caplog.text
