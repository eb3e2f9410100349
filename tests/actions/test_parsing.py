from datetime import date, datetime
from decimal import Decimal

import pytest

from actions.parsing import match_account, money, parse_amount, parse_period, read_amount
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
        # issue 11 item 8: dates read with dateparser
        ("transactions in March 2024", (date(2024, 3, 1), date(2024, 3, 31))),
        ("what did I spend in 2024-03", (date(2024, 3, 1), date(2024, 3, 31))),
        ("what did I spend last weekend", (date(2026, 11, 21), date(2026, 11, 22))),
        ("payments between 1 and 15 November", (date(2026, 11, 1), date(2026, 11, 15))),
        ("from the 3rd to the 10th of March 2024", (date(2024, 3, 3), date(2024, 3, 10))),
        ("between 20 and 25 December", (date(2025, 12, 20), date(2025, 12, 25))),
        ("what did I pay on 5 March", (date(2026, 3, 5), date(2026, 3, 5))),
        ("on December 24th", (date(2025, 12, 24), date(2025, 12, 24))),
        ("on 31 February", None),
    ],
)
def test_parse_period(text: str, expected: tuple[date, date] | None) -> None:
    assert parse_period(text, today=TODAY) == expected


def test_last_weekend_on_a_weekday_is_the_one_just_over() -> None:
    wednesday = date(2026, 11, 25)
    assert parse_period("last weekend", today=wednesday) == (date(2026, 11, 21), date(2026, 11, 22))


def test_today_is_the_banks_local_day(monkeypatch: pytest.MonkeyPatch) -> None:
    from zoneinfo import ZoneInfo

    from actions.parsing import local_today

    assert local_today() == datetime.now(ZoneInfo("Europe/Lisbon")).date()


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


@pytest.mark.parametrize(
    ("text", "amount", "problem"),
    [
        ("move 20 to savings", Decimal("20"), None),
        ("send €50 please", Decimal("50"), None),
        ("transfer €1,250.50 to Maria", Decimal("1250.50"), None),
        ("pay Pedro 35 euros", Decimal("35"), None),
        ("I want to transfer 35 euros", Decimal("35"), None),
        ("no, 30 not 20", Decimal("30"), None),
        ("yes but make it 3", Decimal("3"), None),
        ("make it thirty instead of twenty", Decimal("30"), None),  # never 50: numbers are not combined
        ("thirty euros", Decimal("30"), None),
        ("send fifty to Ana", Decimal("50"), None),
        ("twenty-five", Decimal("25"), None),
        ("thanks, have a good one", None, None),  # not €1
        ("the one ending in 4521", None, None),
        ("Current account •••• 8431", None, None),
        ("I want to transfer money", None, None),
        ("move 20 or 30", None, "ambiguous"),
        ("send 20 dollars", None, "foreign"),
        ("$20", None, "foreign"),
        ("20 bucks", None, "foreign"),
        ("£5 to Ana", None, "foreign"),
    ],
)
def test_read_amount_in_a_sentence(text: str, amount: Decimal | None, problem: str | None) -> None:
    reading = read_amount(text)
    assert (reading.amount, reading.problem) == (amount, problem)


@pytest.mark.parametrize("text", ["thanks, have a good one", "one of those", "make it thirty instead of twenty"])
def test_parse_amount_never_reads_a_number_out_of_a_sentence(text: str) -> None:
    assert parse_amount(text) is None
