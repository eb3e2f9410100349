"""The frequency rules and the balance feature as pure functions (the whole decision: test_offers_db.py)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

from profiles.schemas import AccountView
from recommender.offers import in_cooloff, recently_suggested, total_balance

NOW = datetime(2026, 11, 29, 12, 0, tzinfo=UTC)


def account(balance: str, kind: str = "current", currency: str = "EUR") -> AccountView:
    return AccountView(
        id=1, kind=kind, name=kind, masked_number="•••• 1234", balance=Decimal(balance), currency=currency
    )


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
