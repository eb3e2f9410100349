"""Eligibility (the one rule), rule scores, model propensities and the expected-value ranking."""

from __future__ import annotations

import logging
from decimal import Decimal
from pathlib import Path

import pytest

from recommender.catalogue import CATALOGUE, PRODUCT_IDS, get_product
from recommender.features import CustomerContext
from recommender.scoring import ineligibility, is_eligible, propensity, rule_score, score_products
from recommender.tasks import PRODUCT_TASK
from tests.recommender.conftest import Profile

CREDIT = {"credit_card", "personal_loan", "mortgage"}
MODEL_PRODUCTS = ("term_deposit", "credit_card", "personal_loan", "mortgage")
BLANK = Profile(
    age=None,
    job=None,
    marital=None,
    education=None,
    credit_default=None,
    housing_loan=None,
    personal_loan=None,
    contact_channel=None,
)


def test_catalogue_has_the_contract_products_with_categories_values_and_messages() -> None:
    assert PRODUCT_IDS == (
        "current_account",
        "savings_account",
        "term_deposit",
        "credit_card",
        "personal_loan",
        "mortgage",
    )
    for product in CATALOGUE.values():
        assert product.title and product.pitch.endswith(".") and not product.ending.endswith(".")
        assert product.category in {"accounts", "savings", "cards", "lending"}
        assert 0 < product.threshold < 1 and product.value > 0
    assert {p.id for p in CATALOGUE.values() if p.credit} == CREDIT
    assert set(PRODUCT_TASK) == set(MODEL_PRODUCTS)
    with pytest.raises(KeyError, match="unknown product 'gold_bar'"):
        get_product("gold_bar")


@pytest.mark.parametrize("product", PRODUCT_IDS)
def test_no_consent_no_product(product: str) -> None:
    held = {"current_account"} if product != "current_account" else set()
    assert is_eligible(product, Profile(), consent=True, held=held)
    assert not is_eligible(product, Profile(), consent=False, held=held)
    assert ineligibility(product, Profile(), consent=False, held=held) == "no marketing consent"


@pytest.mark.parametrize("product", PRODUCT_IDS)
def test_a_held_product_is_never_eligible(product: str) -> None:
    held = {"current_account", product}
    assert ineligibility(product, Profile(), consent=True, held=held) == "already held"


def test_the_profile_loan_flags_count_as_held() -> None:
    assert ineligibility("mortgage", Profile(housing_loan=True), consent=True) == "already held"
    assert ineligibility("personal_loan", Profile(personal_loan=True), consent=True) == "already held"


@pytest.mark.parametrize("product", PRODUCT_IDS)
def test_minors_and_unknown_ages_are_never_eligible(product: str) -> None:
    held = {"current_account"} if product != "current_account" else set()
    for age in (17, None):
        assert not is_eligible(product, Profile(age=age), consent=True, held=held)
    assert is_eligible(product, Profile(age=21), consent=True, held=held)


def test_age_ranges_of_lending() -> None:
    held = {"current_account"}
    assert not is_eligible("credit_card", Profile(age=20), consent=True, held=held)
    assert is_eligible("term_deposit", Profile(age=20), consent=True, held=held)
    assert not is_eligible("mortgage", Profile(age=66), consent=True, held=held)
    assert is_eligible("mortgage", Profile(age=65), consent=True, held=held)
    assert not is_eligible("personal_loan", Profile(age=71), consent=True, held=held)


@pytest.mark.parametrize("product", PRODUCT_IDS)
def test_credit_products_need_a_clean_record_and_a_safe_band(product: str) -> None:
    held = {"current_account"} if product != "current_account" else set()
    for default in (True, None):
        assert is_eligible(product, Profile(credit_default=default), consent=True, held=held) == (product not in CREDIT)
    for band in ("E", "high"):
        assert is_eligible(product, Profile(), consent=True, held=held, credit_band=band) == (product not in CREDIT)
    assert is_eligible(product, Profile(), consent=True, held=held, credit_band="A")


def test_a_credit_card_needs_a_current_account() -> None:
    assert ineligibility("credit_card", Profile(), consent=True) == "needs current_account first"


def test_rule_scores() -> None:
    p = Profile()
    assert rule_score("current_account", p, Decimal(0)) == pytest.approx(0.60)
    assert rule_score("savings_account", p, Decimal(-5)) == 0.0
    assert rule_score("savings_account", p, None) == 0.0
    assert rule_score("savings_account", p, Decimal(1000)) == pytest.approx(0.15)
    assert rule_score("savings_account", p, Decimal(90_000)) == pytest.approx(0.25)
    with pytest.raises(ValueError, match="model"):
        rule_score("term_deposit", p, None)


@pytest.mark.parametrize("product", MODEL_PRODUCTS)
def test_model_propensities_are_probabilities_even_for_a_blank_profile(model_registry: Path, product: str) -> None:
    full = propensity(product, CustomerContext(Profile(), Decimal(3000), frozenset({"current_account"})))
    blank = propensity(product, CustomerContext(BLANK, None))
    assert 0.0 < full < 1.0 and 0.0 < blank < 1.0


def test_the_term_deposit_model_ranks_profiles_as_the_data_does(model_registry: Path) -> None:
    retiree = CustomerContext(Profile(age=70, job="retired", education="tertiary"), Decimal(8000))
    indebted = CustomerContext(
        Profile(
            age=35,
            job="blue-collar",
            education="primary",
            housing_loan=True,
            personal_loan=True,
            contact_channel="telephone",
        ),
        Decimal(-200),
    )
    assert propensity("term_deposit", indebted) < propensity("term_deposit", retiree)


def test_score_products_skips_held_and_ineligible_and_ranks_by_expected_value(model_registry: Path) -> None:
    ctx = CustomerContext(Profile(credit_default=True), Decimal(2000), frozenset({"current_account"}))
    scores = score_products(ctx, consent=True)
    assert {s.product for s in scores} == {"savings_account", "term_deposit"}
    values = [s.expected_value for s in scores]
    assert values == sorted(values, reverse=True)
    for s in scores:
        assert s.expected_value == pytest.approx(s.score * get_product(s.product).value)
        assert s.passes == (s.score >= get_product(s.product).threshold)
    assert score_products(ctx, consent=False) == []


def test_a_blank_profile_gets_a_list_not_an_error(model_registry: Path) -> None:
    scores = score_products(CustomerContext(BLANK, None), consent=True)
    assert scores == []  # age unknown: nothing is eligible, and nothing raised
    scores = score_products(
        CustomerContext(
            Profile(job=None, education=None, marital=None, contact_channel=None), None, frozenset({"current_account"})
        ),
        consent=True,
    )
    assert {s.product for s in scores} >= {"term_deposit", "credit_card", "mortgage"}


def test_without_models_only_the_rule_products_are_scored_with_a_warning(
    empty_registry: Path, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING, logger="recommender.scoring"):
        scores = score_products(CustomerContext(Profile(), Decimal(2000), frozenset({"current_account"})), consent=True)
    assert {s.product for s in scores} == {"savings_account"}
    assert "python -m recommender.train" in caplog.text


def test_a_model_trained_on_other_features_is_not_used(model_registry: Path, caplog: pytest.LogCaptureFixture) -> None:
    """A registry left over from an older feature set: the product is skipped with a warning, never a crash."""
    from recommender import registry

    old = registry.load_promoted("term_deposit")
    version = registry.save_version("term_deposit", old.pipeline, {**old.metadata, "features": ["age", "balance"]})
    registry.promote(version, "term_deposit")
    ctx = CustomerContext(Profile(), Decimal(2000), frozenset({"current_account"}))
    with caplog.at_level(logging.WARNING, logger="recommender.scoring"):
        products = {s.product for s in score_products(ctx, consent=True)}
    assert "term_deposit" not in products and "mortgage" in products
    assert "trained on other features" in caplog.text


def test_batch_scores_equal_chat_scores_and_respect_eligibility(model_registry: Path) -> None:
    from recommender.scoring import batch_scores

    contexts = [
        CustomerContext(Profile(), Decimal(3000), frozenset({"current_account"})),
        CustomerContext(
            Profile(age=70, job="retired", credit_default=True), Decimal(9000), frozenset({"current_account"})
        ),
        CustomerContext(BLANK, None),
        CustomerContext(Profile(job=None, education=None), None, frozenset({"current_account", "mortgage"})),
    ]
    table = batch_scores(contexts, consent=[True, True, True, False])
    assert list(table.columns) == list(PRODUCT_IDS) and len(table) == 4
    for i, ctx in enumerate(contexts):
        for product in PRODUCT_IDS:
            value = table.loc[i, product]
            eligible = is_eligible(product, ctx.customer, consent=i != 3, held=ctx.held)
            assert (value == value) == eligible, (i, product)  # NaN exactly where not eligible
            if eligible:
                assert value == pytest.approx(propensity(product, ctx), abs=1e-12)
    assert table.iloc[3].isna().all()  # no consent: nothing
    with pytest.raises(ValueError):
        batch_scores(contexts, consent=[True])
