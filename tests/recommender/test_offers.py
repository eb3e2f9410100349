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
from recommender.offers import in_cooloff, total_balance

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
    """The five profiles services suggest_offer reads, over in-memory data."""

    customer: CustomerView = field(default_factory=customer_view)
    consent: bool = True
    accounts: list[AccountView] = field(default_factory=lambda: [account("3000.00")])
    held: set[str] = field(default_factory=lambda: {"current_account"})
    outcomes: dict[str, tuple[str, datetime]] = field(default_factory=dict)

    def install(self, monkeypatch: pytest.MonkeyPatch) -> FakeCRM:
        monkeypatch.setattr(profiles, "has_marketing_consent", lambda cid: self.consent, raising=False)
        monkeypatch.setattr(profiles, "get_customer", lambda cid: self.customer, raising=False)
        monkeypatch.setattr(profiles, "list_accounts", lambda cid: list(self.accounts), raising=False)
        monkeypatch.setattr(profiles, "products_held", lambda cid: set(self.held), raising=False)
        monkeypatch.setattr(
            profiles, "last_offer_outcome", lambda cid, product: self.outcomes.get(product), raising=False
        )
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


def test_declined_within_the_cooloff_is_not_offered_again(crm: FakeCRM) -> None:
    first = suggest_offer(7, now=NOW)
    assert first is not None
    crm.outcomes[first.product] = ("declined", NOW - timedelta(days=29))
    second = suggest_offer(7, now=NOW)
    assert second is None or second.product != first.product


def test_after_the_cooloff_it_may_be_offered_again(crm: FakeCRM) -> None:
    first = suggest_offer(7, now=NOW)
    assert first is not None
    crm.outcomes[first.product] = ("declined", NOW - timedelta(days=31))
    again = suggest_offer(7, now=NOW)
    assert again is not None and again.product == first.product


def test_shown_or_accepted_do_not_start_a_cooloff(crm: FakeCRM) -> None:
    first = suggest_offer(7, now=NOW)
    assert first is not None
    crm.outcomes[first.product] = ("shown", NOW - timedelta(minutes=5))
    assert suggest_offer(7, now=NOW) == first


def test_ineligible_customers_get_no_credit_offer(crm: FakeCRM) -> None:
    crm.customer = customer_view(credit_default=True)
    crm.held = {"current_account", "savings_account", "term_deposit"}
    assert suggest_offer(7, now=NOW) is None


def test_in_cooloff_boundaries() -> None:
    assert not in_cooloff(None, NOW, 30)
    assert in_cooloff(("declined", NOW - timedelta(days=29, hours=23)), NOW, 30)
    assert not in_cooloff(("declined", NOW - timedelta(days=30)), NOW, 30)
    assert not in_cooloff(("accepted", NOW - timedelta(days=1)), NOW, 30)
    naive = (NOW - timedelta(days=2)).replace(tzinfo=None)
    assert in_cooloff(("declined", naive), NOW, 30)


def test_total_balance_sums_eur_accounts_only() -> None:
    accounts = [account("100.50"), account("2000.00", "savings"), account("-20.25"), account("999", currency="USD")]
    assert total_balance(accounts) == Decimal("2080.25")
    assert total_balance([]) == Decimal(0)
