"""Reading amounts, periods and account/card references out of what customers type."""

from __future__ import annotations

import calendar
import re
from collections.abc import Callable, Sequence
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import TypeVar

from word2number import w2n

from profiles.schemas import AccountView, CardView, PayeeView

_CURRENCY = re.compile(r"(€|\beur(os?)?\b)", re.IGNORECASE)
_FILLER = re.compile(r"\b(please|about|around|make it|send|transfer|pay|of|just|only)\b", re.IGNORECASE)
_NUMERAL = re.compile(r"^[-−]?\d{1,3}(?:([.,\s])\d{3})*(?:[.,]\d+)?$|^[-−]?\d+(?:[.,]\d+)?$")
_SCALES = {"hundred": 100, "thousand": 1000, "k": 1000, "million": 1_000_000}


def _numeral(raw: str) -> Decimal | None:
    """One written number: "1234", "1,234.50", "1.234,50", "12,50", "1.000" (a Portuguese thousand)."""
    raw = raw.replace("−", "-").replace(" ", "")
    if "," in raw and "." in raw:  # the later separator is the decimal one
        raw = raw.replace(",", "") if raw.rfind(".") > raw.rfind(",") else raw.replace(".", "").replace(",", ".")
    elif raw.count(",") + raw.count(".") == 1:
        head, sep, tail = raw.rpartition("," if "," in raw else ".")
        # one separator before exactly three digits is a thousands separator ("1.000", "1,000"),
        # unless the number starts with 0 ("0.001"); otherwise it is the decimal separator
        thousands = len(tail) == 3 and head.lstrip("-") not in ("", "0")
        raw = head + tail if thousands else f"{head}.{tail}"
    else:
        raw = raw.replace(",", "").replace(".", "")  # repeated thousands separators: 1.000.000
    try:
        return Decimal(raw)
    except InvalidOperation:
        return None


def parse_amount(text: str) -> Decimal | None:
    """Parse one amount in EUR: "100", "€25.50", "1,000", "1.000" (PT), "25,50 EUR", "5 hundred", "ten thousand".

    Anything that is not exactly one amount ("100 50", "1e9", "1_000", "lots") gives ``None``, so the bot
    asks again rather than guess.

    Returns:
        The amount as a ``Decimal`` (it may be negative or have more than two decimals: the business rule
        in ``profiles.validate_amount`` decides), or ``None``.
    """
    cleaned = _FILLER.sub(" ", _CURRENCY.sub(" ", text)).strip().rstrip(".!").strip()
    if not cleaned:
        return None
    words = cleaned.split()
    if re.fullmatch(r"[-−]?[\d.,]+(\s\d{3})*", cleaned) and _NUMERAL.match(cleaned):
        return _numeral(cleaned)
    if len(words) == 2 and _NUMERAL.match(words[0]) and words[1].lower() in _SCALES:
        value = _numeral(words[0])
        return value * _SCALES[words[1].lower()] if value is not None else None
    if re.search(r"\d", cleaned):
        return None
    try:
        return Decimal(w2n.word_to_num(cleaned))
    except ValueError:
        return None


_MONTHS = {name.lower(): i for i, name in enumerate(calendar.month_name) if name}


def parse_period(text: str, today: date | None = None) -> tuple[date, date] | None:
    """Turn a period phrase into an inclusive (since, until) date range in UTC.

    Understands: today, yesterday, this/last week, this/last month, last N days, a month name
    (the latest such month not in the future). Returns ``None`` when no period is mentioned.
    """
    today = today or datetime.now(UTC).date()
    t = text.lower()
    if "yesterday" in t:
        d = today - timedelta(days=1)
        return d, d
    if "today" in t:
        return today, today
    if m := re.search(r"last\s+(\d{1,3})\s+days?", t):
        return today - timedelta(days=max(int(m.group(1)), 1) - 1), today  # today counts as one of them
    monday = today - timedelta(days=today.weekday())
    if "last week" in t:
        return monday - timedelta(days=7), monday - timedelta(days=1)
    if "this week" in t:
        return monday, today
    first = today.replace(day=1)
    if "last month" in t:
        prev_last = first - timedelta(days=1)
        return prev_last.replace(day=1), prev_last
    if "this month" in t:
        return first, today
    for name, number in _MONTHS.items():
        if re.search(rf"\b{name}\b", t):
            year = today.year if number <= today.month else today.year - 1
            return date(year, number, 1), date(year, number, calendar.monthrange(year, number)[1])
    return None


_KIND_WORDS = {
    "current": ("current", "checking", "main"),
    "savings": ("saving",),
    "term_deposit": ("deposit",),
}


def _last4(text: str) -> set[str]:
    return set(re.findall(r"(\d{4})\b", text))


T = TypeVar("T")


def _pick(items: Sequence[T], *rules: Callable[[T], bool]) -> T | None:
    """The one item matched by the first rule that matches anything; ``None`` if none or several match."""
    for rule in rules:
        hits = [item for item in items if rule(item)]
        if hits:
            return hits[0] if len(hits) == 1 else None
    return None


def match_account(text: str, accounts: Sequence[AccountView]) -> AccountView | None:
    """Pick the account a customer means by its last four digits, its name or its kind.

    Returns ``None`` when nothing or more than one account matches.
    """
    t, digits = text.lower(), _last4(text)
    return _pick(
        accounts,
        lambda a: a.masked_number[-4:] in digits,
        lambda a: a.name.lower() in t,
        lambda a: any(w in t for w in _KIND_WORDS.get(a.kind, (a.kind,))),
    )


def match_payee(text: str, payees: Sequence[PayeeView]) -> PayeeView | None:
    """Pick a saved payee by name (any word of it) or last four IBAN digits; ``None`` if not exactly one."""
    t, digits = text.lower(), _last4(text)
    return _pick(
        payees,
        lambda p: p.masked_iban[-4:] in digits,
        lambda p: p.name.lower() in t,
        lambda p: any(len(w) > 2 and w in t.split() for w in p.name.lower().split()),
    )


def match_card(text: str, cards: Sequence[CardView]) -> CardView | None:
    """Pick a card by its last four digits or kind (debit/credit); ``None`` if not exactly one."""
    t, digits = text.lower(), _last4(text)
    only_one = len(cards) == 1 and re.search(r"\b(it|this|that|the card|my card|yes)\b", t) is not None
    return _pick(cards, lambda c: c.masked_number[-4:] in digits, lambda c: c.kind in t, lambda c: only_one)


def money(amount: Decimal) -> str:
    """Format EUR for a customer: ``€1,234.56`` (``-€5.00`` for negatives)."""
    sign = "-" if amount < 0 else ""
    return f"{sign}€{abs(amount):,.2f}"
