"""suggest_offer against the real profiles package on a fresh database (SQLite, and PostgreSQL when reachable)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine

import profiles
from profiles.errors import NotFound
from recommender import Offer, suggest_offer
from recommender.catalogue import PRODUCT_IDS
from tests.recommender.conftest import add_customer, hold


@pytest.fixture
def crm(db: Engine, model_registry: Path) -> Engine:
    """A fresh CRM database (tests/conftest.py ``db``) and a private copy of the trained model registry."""
    return db


def test_no_consent_no_offer_until_the_customer_opts_in(crm: Engine) -> None:
    cid = add_customer(consent=False)
    assert suggest_offer(cid) is None
    profiles.set_marketing_consent(cid, True, channel="test", actor="tests/recommender")
    offer = suggest_offer(cid)
    assert isinstance(offer, Offer) and offer.product in PRODUCT_IDS


def test_opting_out_stops_offers(crm: Engine) -> None:
    cid = add_customer()
    assert suggest_offer(cid) is not None
    profiles.set_marketing_consent(cid, False, channel="test", actor="tests/recommender")
    assert suggest_offer(cid) is None


def test_held_products_are_never_offered(crm: Engine) -> None:
    cid = add_customer()
    offered = []
    while (offer := suggest_offer(cid)) is not None:
        held = profiles.products_held(cid)
        assert offer.product not in held
        offered.append(offer.product)
        hold(cid, offer.product)
        assert offer.product in profiles.products_held(cid)
    assert offered and "current_account" not in offered
    assert len(offered) == len(set(offered))


def test_declined_within_30_days_is_not_offered_then_may_be_after_31(crm: Engine) -> None:
    cid = add_customer()
    first = suggest_offer(cid)
    assert first is not None
    profiles.record_offer(cid, first.product, "shown", channel="test")
    profiles.record_offer(cid, first.product, "declined", channel="test")
    now = datetime.now(UTC)
    for later in (now, now + timedelta(days=29)):
        offer = suggest_offer(cid, now=later)
        assert offer is None or offer.product != first.product
    again = suggest_offer(cid, now=now + timedelta(days=31))
    assert again is not None and again.product == first.product


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
        assert offer is not None and offer.product != first.product
    again = suggest_offer(cid, now=now + timedelta(days=30, minutes=1))
    assert again is not None and again.product == first.product


def test_shown_2_hours_ago_blocks_every_offer_2_days_later_it_may_be_shown_again(crm: Engine) -> None:
    cid = add_customer()
    first = suggest_offer(cid)
    assert first is not None
    profiles.record_offer(cid, first.product, "shown", channel="telegram")  # never answered
    now = datetime.now(UTC)
    assert suggest_offer(cid, now=now + timedelta(hours=2)) is None  # not this product, nor any other
    assert suggest_offer(cid, now=now + timedelta(days=2)) == first


def test_a_suggestion_in_one_conversation_blocks_the_others_that_day(crm: Engine) -> None:
    """Another product shown (e.g. on another channel) counts too: at most one suggestion per customer per day."""
    cid = add_customer()
    first = suggest_offer(cid)
    assert first is not None
    other = next(p for p in PRODUCT_IDS if p not in profiles.products_held(cid) and p != first.product)
    profiles.record_offer(cid, other, "shown", channel="web")
    assert suggest_offer(cid) is None
    assert suggest_offer(cid, now=datetime.now(UTC) + timedelta(days=1, minutes=1)) is not None


def test_the_offer_explains_itself_from_the_profile(crm: Engine) -> None:
    cid = add_customer(balance="8000.00", job="retired", age=67, housing_loan=False, personal_loan=False)
    hold(cid, "savings_account")
    offer = suggest_offer(cid)
    assert offer is not None and 0.0 <= offer.propensity <= 1.0
    assert offer.reason.endswith(".") and offer.reason.count(".") == 1
    if offer.product == "term_deposit":
        assert "Retired customers with a healthy balance" in offer.reason


def test_unknown_customer_is_not_found(crm: Engine) -> None:
    with pytest.raises(NotFound):
        suggest_offer(987_654)
