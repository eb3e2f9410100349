from datetime import date
from decimal import Decimal

import pytest

from actions.parsing import match_account, money, parse_amount, parse_period
from profiles.schemas import AccountView


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("100", Decimal("100")),
        ("€25.50", Decimal("25.50")),
        ("25,50 EUR", Decimal("25.50")),
        ("1,000", Decimal("1000")),
        ("1.000,75 euros", Decimal("1000.75")),
        ("send 40 euros please", Decimal("40")),
        ("12.345", Decimal("12345")),
        ("12.3456", Decimal("12.3456")),
        ("0.001", Decimal("0.001")),
        ("12,5", Decimal("12.5")),
        ("1.000.000", Decimal("1000000")),
        ("-5", Decimal("-5")),
        ("ten thousand", Decimal("10000")),
        ("1.000", Decimal("1000")),
        ("2.500,00 €", Decimal("2500.00")),
        ("€ 7", Decimal("7")),
        ("5 hundred", Decimal("500")),
        ("about 200 euros please", Decimal("200")),
        ("1e9", None),
        ("1_000", None),
        ("100 50", None),
        ("NaN", None),
        ("∞", None),
        ("€€€", None),
        ("twenty five", Decimal("25")),
        ("no idea", None),
        ("", None),
        ("💸💸", None),
    ],
)
def test_parse_amount(text: str, expected: Decimal | None) -> None:
    assert parse_amount(text) == expected


TODAY = date(2026, 11, 29)  # a Sunday


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("what did I spend today", (TODAY, TODAY)),
        ("payments yesterday", (date(2026, 11, 28), date(2026, 11, 28))),
        ("last week", (date(2026, 11, 16), date(2026, 11, 22))),
        ("this month", (date(2026, 11, 1), TODAY)),
        ("last month", (date(2026, 10, 1), date(2026, 10, 31))),
        ("in the last 30 days", (date(2026, 10, 31), TODAY)),
        ("transactions in March", (date(2026, 3, 1), date(2026, 3, 31))),
        ("in December", (date(2025, 12, 1), date(2025, 12, 31))),
        ("my transactions", None),
    ],
)
def test_parse_period(text: str, expected: tuple[date, date] | None) -> None:
    assert parse_period(text, today=TODAY) == expected


def test_match_account_by_digits_kind_and_ambiguity() -> None:
    current = AccountView(1, "current", "Current account", "•••• 1234", Decimal("10"), "EUR")
    savings = AccountView(2, "savings", "Savings account", "•••• 9876", Decimal("10"), "EUR")
    assert match_account("the one ending 9876", [current, savings]) == savings
    assert match_account("from my checking account", [current, savings]) == current
    assert match_account("savings", [current, savings]) == savings
    assert match_account("whatever", [current, savings]) is None


def test_money_format() -> None:
    assert money(Decimal("1234.5")) == "€1,234.50"
    assert money(Decimal("-5")) == "-€5.00"
