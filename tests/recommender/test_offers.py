"""suggest_offer's rules with the profiles services stubbed (the database version is test_offers_db.py)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest

import profiles
from profiles.schemas import AccountView, CustomerView
from recommender import Offer, suggest_offer
from recommender.offers import in_cooloff, recently_suggested, total_balance

NOW = datetime(2026, 11, 29, 12, 0, tzinfo=UTC)


def customer_view(**changes: object) -> CustomerView:
    fields: dict[str, object] = {
        "id": 7,
        "first_name": "Ana",
        "last_name": "Silva",
        "email": "ana@example.org",
        "phone": "+351910000000",
        "address": "Rua 1, Lisboa",
        "age": 45,
        "job": "management",
        "marital": "married",
        "education": "tertiary",
        "credit_default": False,
        "housing_loan": False,
        "personal_loan": False,
        "contact_channel": "cellular",
        "region": "Lisboa",
        "marketing_consent": True,
    }
    fields.update(changes)
    return CustomerView(**fields)  # type: ignore[arg-type]


def account(balance: str, kind: str = "current", currency: str = "EUR") -> AccountView:
    return AccountView(
        id=1, kind=kind, name=kind, masked_number="•••• 1234", balance=Decimal(balance), currency=currency
    )


@dataclass
class FakeCRM:
    """The six profiles services suggest_offer reads, over in-memory data."""

    customer: CustomerView = field(default_factory=customer_view)
    consent: bool = True
    accounts: list[AccountView] = field(default_factory=lambda: [account("3000.00")])
    held: set[str] = field(default_factory=lambda: {"current_account"})
    outcomes: dict[str, tuple[str, datetime]] = field(default_factory=dict)

    def latest(self) -> tuple[str, str, datetime] | None:
        events = [(product, outcome, when) for product, (outcome, when) in self.outcomes.items()]
        return max(events, key=lambda e: e[2], default=None)

    def install(self, monkeypatch: pytest.MonkeyPatch) -> FakeCRM:
        monkeypatch.setattr(profiles, "has_marketing_consent", lambda cid: self.consent, raising=False)
        monkeypatch.setattr(profiles, "get_customer", lambda cid: self.customer, raising=False)
        monkeypatch.setattr(profiles, "list_accounts", lambda cid: list(self.accounts), raising=False)
        monkeypatch.setattr(profiles, "products_held", lambda cid: set(self.held), raising=False)
        monkeypatch.setattr(
            profiles, "last_offer_outcome", lambda cid, product: self.outcomes.get(product), raising=False
        )
        monkeypatch.setattr(profiles, "latest_offer_event", lambda cid: self.latest(), raising=False)
        return self


@pytest.fixture
def crm(monkeypatch: pytest.MonkeyPatch, model_registry: Path) -> FakeCRM:
    return FakeCRM().install(monkeypatch)


def test_offer_is_the_best_passing_product(crm: FakeCRM) -> None:
    offer = suggest_offer(7, now=NOW)
    assert isinstance(offer, Offer)
    assert offer.product != "current_account"  # held
    assert 0.0 <= offer.propensity <= 1.0
    assert offer.reason.endswith(".") and offer.reason.count(".") == 1
    assert offer.title


def test_no_consent_means_no_offer(crm: FakeCRM) -> None:
    crm.consent = False
    assert suggest_offer(7, now=NOW) is None


def test_held_products_are_never_offered(crm: FakeCRM) -> None:
    seen = set()
    while (offer := suggest_offer(7, now=NOW)) is not None:
        assert offer.product not in crm.held
        seen.add(offer.product)
        crm.held.add(offer.product)
    assert seen  # something was offered before everything was held


def test_nothing_above_threshold_means_no_offer(crm: FakeCRM) -> None:
    # 19: too young for the card, loan and mortgage rules; no money for savings; term deposit unlikely.
    crm.customer = customer_view(
        age=19,
        job="blue-collar",
        education="primary",
        housing_loan=True,
        personal_loan=True,
        contact_channel="unknown",
        marital="single",
    )
    crm.accounts = [account("-150.00")]
    crm.held = {"current_account"}
    assert suggest_offer(7, now=NOW) is None


@pytest.mark.parametrize("outcome", ["declined", "accepted"])
def test_answered_within_the_cooloff_is_not_offered_again(crm: FakeCRM, outcome: str) -> None:
    first = suggest_offer(7, now=NOW)
    assert first is not None
    crm.outcomes[first.product] = (outcome, NOW - timedelta(days=29))
    second = suggest_offer(7, now=NOW)
    assert second is not None and second.product != first.product  # others are still offered after a day


@pytest.mark.parametrize("outcome", ["declined", "accepted"])
def test_after_the_cooloff_it_may_be_offered_again(crm: FakeCRM, outcome: str) -> None:
    first = suggest_offer(7, now=NOW)
    assert first is not None
    crm.outcomes[first.product] = (outcome, NOW - timedelta(days=31))
    again = suggest_offer(7, now=NOW)
    assert again is not None and again.product == first.product


@pytest.mark.parametrize("outcome", ["shown", "declined", "accepted"])
def test_any_suggestion_within_a_day_blocks_every_offer(crm: FakeCRM, outcome: str) -> None:
    first = suggest_offer(7, now=NOW)
    assert first is not None
    crm.outcomes[first.product] = (outcome, NOW - timedelta(hours=2))
    assert suggest_offer(7, now=NOW) is None
    assert suggest_offer(7, now=NOW + timedelta(hours=21, minutes=59)) is None


def test_a_product_shown_two_days_ago_without_answer_may_be_shown_again(crm: FakeCRM) -> None:
    first = suggest_offer(7, now=NOW)
    assert first is not None
    crm.outcomes[first.product] = ("shown", NOW - timedelta(days=2))
    assert suggest_offer(7, now=NOW) == first


def test_ineligible_customers_get_no_credit_offer(crm: FakeCRM) -> None:
    crm.customer = customer_view(credit_default=True)
    crm.held = {"current_account", "savings_account", "term_deposit"}
    assert suggest_offer(7, now=NOW) is None


def test_in_cooloff_boundaries() -> None:
    def cooling(outcome: str, ago: timedelta, now: datetime = NOW) -> bool:
        return in_cooloff((outcome, NOW - ago), now, cooloff_days=30, reshow_days=1)

    assert not in_cooloff(None, NOW, cooloff_days=30, reshow_days=1)
    for answer in ("declined", "accepted"):
        assert cooling(answer, timedelta(days=29, hours=23))
        assert not cooling(answer, timedelta(days=30))
    assert cooling("shown", timedelta(hours=23, minutes=59))
    assert not cooling("shown", timedelta(days=1))
    assert not cooling("shown", timedelta(days=2))
    naive = (NOW - timedelta(days=2)).replace(tzinfo=None)
    assert in_cooloff(("declined", naive), NOW, cooloff_days=30, reshow_days=1)
    assert in_cooloff(("accepted", naive), NOW.replace(tzinfo=None), cooloff_days=30, reshow_days=1)


def test_recently_suggested_boundaries() -> None:
    assert not recently_suggested(None, NOW, reshow_days=1)
    for outcome in ("shown", "accepted", "declined"):
        assert recently_suggested(("mortgage", outcome, NOW - timedelta(hours=23, minutes=59)), NOW, reshow_days=1)
        assert not recently_suggested(("mortgage", outcome, NOW - timedelta(days=1)), NOW, reshow_days=1)
    naive = (NOW - timedelta(hours=2)).replace(tzinfo=None)
    assert recently_suggested(("credit_card", "shown", naive), NOW, reshow_days=1)
    assert not recently_suggested(("credit_card", "shown", naive), NOW + timedelta(days=2), reshow_days=2)


def test_total_balance_sums_eur_accounts_only() -> None:
    accounts = [account("100.50"), account("2000.00", "savings"), account("-20.25"), account("999", currency="USD")]
    assert total_balance(accounts) == Decimal("2080.25")
    assert total_balance([]) == Decimal(0)
