"""next_best_offers / suggest_offer against the real profiles package on a fresh database (SQLite and PostgreSQL)
and the real trained models: consent, holdings, cool-off, frequency cap, ranking, explanations, missing data."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine, update

import profiles
from profiles.db import session_scope
from profiles.errors import NotFound
from profiles.models import Customer, CustomerScore
from recommender import Offer, suggest_offer
from recommender.catalogue import PRODUCT_IDS, get_product
from recommender.offers import customer_context, next_best_offers
from tests.recommender.conftest import add_customer, hold


@pytest.fixture
def crm(db: Engine, model_registry: Path) -> Engine:
    """A fresh CRM database (tests/conftest.py ``db``) and a private copy of the trained model registry."""
    return db


def _everything_else_held(cid: int, keep: str) -> None:
    for product in ("savings_account", "term_deposit", "credit_card", "personal_loan", "mortgage"):
        if product != keep:
            hold(cid, product)


def test_no_consent_no_offer_until_the_customer_opts_in(crm: Engine) -> None:
    cid = add_customer(consent=False)
    assert suggest_offer(cid) is None and next_best_offers(cid, 6, frequency_cap=False) == []
    profiles.set_marketing_consent(cid, True, channel="test", actor="tests/recommender")
    offer = suggest_offer(cid)
    assert isinstance(offer, Offer) and offer.product in PRODUCT_IDS


def test_opting_out_stops_offers(crm: Engine) -> None:
    cid = add_customer()
    assert suggest_offer(cid) is not None
    profiles.set_marketing_consent(cid, False, channel="test", actor="tests/recommender")
    assert suggest_offer(cid) is None


def test_offers_are_eligible_unheld_and_ranked_by_expected_value(crm: Engine) -> None:
    cid = add_customer(balance="6000.00", age=38, job="technician", marital="married", housing_loan=False)
    offers = next_best_offers(cid, 6)
    held = profiles.products_held(cid)
    assert offers and not {o.product for o in offers} & held
    values = [o.expected_value for o in offers]
    assert values == sorted(values, reverse=True)
    for o in offers:
        product = get_product(o.product)
        assert o.propensity >= product.threshold
        assert o.expected_value == pytest.approx(o.propensity * product.value, abs=0.01)
        assert o.reason.endswith(".") and o.reason.count(".") == 1
    assert next_best_offers(cid, 1) == offers[:1] and suggest_offer(cid) == offers[0]
    with pytest.raises(ValueError):
        next_best_offers(cid, 0)


def test_held_products_are_never_offered(crm: Engine) -> None:
    cid = add_customer()
    offered = []
    while (offer := suggest_offer(cid)) is not None:
        assert offer.product not in profiles.products_held(cid)
        offered.append(offer.product)
        hold(cid, offer.product)
        assert offer.product in profiles.products_held(cid)
    assert offered and "current_account" not in offered
    assert len(offered) == len(set(offered))


def test_a_housing_loan_on_the_profile_means_no_mortgage_offer(crm: Engine) -> None:
    cid = add_customer(housing_loan=True, personal_loan=True)
    products = {o.product for o in next_best_offers(cid, 6)}
    assert "mortgage" not in products and "personal_loan" not in products


def test_a_high_risk_credit_band_blocks_lending_offers(crm: Engine) -> None:
    cid = add_customer(age=35, marital="married", balance="500.00")
    with session_scope(write=True) as s:
        s.add(CustomerScore(customer_id=cid, credit_band="E", model_versions={"credit": "test"}))
    assert customer_context(cid).credit_band == "E"
    for offer in next_best_offers(cid, 6):
        assert not get_product(offer.product).credit


def test_declined_within_30_days_is_never_offered_then_may_be_after_31(crm: Engine) -> None:
    cid = add_customer(balance="5000.00")
    _everything_else_held(cid, keep="savings_account")  # only the savings rule is left
    first = suggest_offer(cid)
    assert first is not None and first.product == "savings_account"
    profiles.record_offer(cid, first.product, "shown", channel="test")
    profiles.record_offer(cid, first.product, "declined", channel="test")
    now = datetime.now(UTC)
    for later in (now, now + timedelta(days=2), now + timedelta(days=29)):
        assert next_best_offers(cid, 6, now=later, frequency_cap=False) == []
    again = suggest_offer(cid, now=now + timedelta(days=31))
    assert again is not None and again.product == first.product


LOOKALIKES = (  # profiles whose model propensities pass a threshold (mortgage, term deposit, card, loan)
    {"age": 33, "job": "technician", "education": "secondary", "marital": "married"},
    {"age": 31, "job": "blue-collar", "education": "primary", "marital": "married"},
    {"age": 70, "job": "retired", "education": "tertiary", "marital": "married"},
    {"age": 26, "job": "student", "education": "tertiary", "marital": "single"},
)


def test_a_declined_model_product_is_never_offered_within_30_days(crm: Engine) -> None:
    declined = None
    for profile in LOOKALIKES:
        cid = add_customer(balance="4000.00", **profile)  # type: ignore[arg-type]
        models = [
            o.product for o in next_best_offers(cid, 6) if o.product not in ("savings_account", "current_account")
        ]
        if models:
            declined = models[0]
            break
    assert declined is not None, "no look-alike profile passes any model threshold"
    profiles.record_offer(cid, declined, "declined", channel="test")
    now = datetime.now(UTC)
    for later in (now + timedelta(days=1, minutes=1), now + timedelta(days=29, hours=23)):
        assert declined not in {o.product for o in next_best_offers(cid, 6, now=later)}


def test_accepted_is_not_offered_again_within_30_days(crm: Engine) -> None:
    cid = add_customer()
    first = suggest_offer(cid)
    assert first is not None
    profiles.record_offer(cid, first.product, "shown", channel="test")
    profiles.record_offer(cid, first.product, "accepted", channel="test")  # a lead; the product is not held yet
    now = datetime.now(UTC)
    assert suggest_offer(cid, now=now + timedelta(hours=23)) is None  # one suggestion a day
    for later in (now + timedelta(days=2), now + timedelta(days=29, hours=23)):
        offer = suggest_offer(cid, now=later)
        assert offer is None or offer.product != first.product


def test_shown_2_hours_ago_blocks_every_offer_2_days_later_it_may_be_shown_again(crm: Engine) -> None:
    cid = add_customer()
    first = suggest_offer(cid)
    assert first is not None
    profiles.record_offer(cid, first.product, "shown", channel="telegram")  # never answered
    now = datetime.now(UTC)
    assert suggest_offer(cid, now=now + timedelta(hours=2)) is None  # not this product, nor any other
    staff_view = next_best_offers(cid, 6, now=now + timedelta(hours=2), frequency_cap=False)
    assert first.product not in {o.product for o in staff_view}  # the shown product waits a day even there
    again = suggest_offer(cid, now=now + timedelta(days=2))
    assert again is not None and again.product == first.product  # an unanswered show changes no feature


def test_a_suggestion_in_one_conversation_blocks_the_others_that_day(crm: Engine) -> None:
    """Another product shown (e.g. on another channel) counts too: at most one suggestion per customer per day."""
    cid = add_customer()
    first = suggest_offer(cid)
    assert first is not None
    other = next(p for p in PRODUCT_IDS if p not in profiles.products_held(cid) and p != first.product)
    profiles.record_offer(cid, other, "shown", channel="web")
    assert suggest_offer(cid) is None
    assert suggest_offer(cid, now=datetime.now(UTC) + timedelta(days=1, minutes=1)) is not None


def test_missing_and_unrecognised_attributes_still_give_offers(crm: Engine) -> None:
    cid = add_customer(job="astronaut", education="unknown", marital="unknown")
    with session_scope(write=True) as s:
        s.execute(update(Customer).where(Customer.id == cid).values(contact_channel="carrier pigeon"))
    offers = next_best_offers(cid, 6)
    assert offers and all(0.0 <= o.propensity <= 1.0 and o.reason for o in offers)


def test_unknown_customer_is_not_found(crm: Engine) -> None:
    with pytest.raises(NotFound):
        suggest_offer(987_654)
    with pytest.raises(NotFound):
        next_best_offers(987_654)


def test_a_database_without_the_scores_table_still_gets_offers(crm: Engine) -> None:
    cid = add_customer()
    CustomerScore.__table__.drop(crm)  # type: ignore[attr-defined]  # a CRM file created before the analyses existed
    try:
        assert customer_context(cid).credit_band is None
        assert suggest_offer(cid) is not None
    finally:
        CustomerScore.__table__.create(crm)  # type: ignore[attr-defined]  # the PostgreSQL schema is shared by the session's tests


@pytest.mark.parametrize("holdings", [(), ("savings_account", "credit_card"), ("term_deposit", "personal_loan", "mortgage")])
def test_the_one_session_context_equals_the_profiles_services(crm: Engine, holdings: tuple[str, ...]) -> None:
    from decimal import Decimal

    from profiles.models import Account, OfferEvent
    from recommender.offers import total_balance

    cid = add_customer(balance="1234.56")
    for product in holdings:
        hold(cid, product)
    with session_scope(write=True) as s:
        s.add(Account(customer_id=cid, kind="savings", name="USD", number="PT50099955000000000099", currency="USD",
                      balance=Decimal("999.00")))  # another currency: left out of the balance
        s.add(OfferEvent(customer_id=cid, product="mortgage", outcome="declined", channel="web",
                         created_at=datetime.now(UTC) - timedelta(days=3)))
        s.add(CustomerScore(customer_id=cid, credit_band="B", model_versions={}))
    ctx = customer_context(cid)
    assert ctx.customer == profiles.get_customer(cid)
    assert ctx.total_balance == total_balance(profiles.list_accounts(cid)) == Decimal("1234.56")
    assert ctx.held == frozenset(profiles.products_held(cid))
    assert ctx.last_offer == profiles.latest_offer_event(cid)
    assert ctx.credit_band == "B"
