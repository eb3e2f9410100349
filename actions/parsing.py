"""Reading amounts, periods and account/card references out of what customers type."""

from __future__ import annotations

import calendar
import re
from collections.abc import Sequence
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal, InvalidOperation

from word2number import w2n

from profiles.schemas import AccountView, CardView, PayeeView

_NUMBER = re.compile(r"[-−]?\s*\d[\d.,\s]*")
_CURRENCY = re.compile(r"(€|eur(os?)?\b)", re.IGNORECASE)


def parse_amount(text: str) -> Decimal | None:
    """Parse an amount in EUR from free text: "100", "€25.50", "1,000", "25,50 EUR", "ten thousand".

    Returns:
        The amount as a ``Decimal`` (it may be negative or have more than two decimals: the
        business rule in ``profiles.validate_amount`` decides), or ``None`` if the text holds no number.
    """
    cleaned = _CURRENCY.sub(" ", text).strip()
    match = _NUMBER.search(cleaned)
    if match:
        raw = re.sub(r"\s", "", match.group(0)).replace("−", "-")
        if "," in raw and "." in raw:  # the later separator is the decimal one
            raw = raw.replace(",", "") if raw.rfind(".") > raw.rfind(",") else raw.replace(".", "").replace(",", ".")
        elif "," in raw:
            head, _, tail = raw.rpartition(",")
            raw = f"{head.replace(',', '')}.{tail}" if len(tail) <= 2 else raw.replace(",", "")
        try:
            return Decimal(raw.rstrip("."))
        except InvalidOperation:
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
        return today - timedelta(days=int(m.group(1))), today
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


def match_account(text: str, accounts: Sequence[AccountView]) -> AccountView | None:
    """Pick the account a customer means by its last four digits, its name or its kind.

    Returns ``None`` when nothing or more than one account matches.
    """
    t = text.lower()
    digits = _last4(t)
    hits = [a for a in accounts if a.masked_number[-4:] in digits]
    if not hits:
        hits = [a for a in accounts if a.name.lower() in t]
    if not hits:
        hits = [a for a in accounts if any(w in t for w in _KIND_WORDS.get(a.kind, (a.kind,)))]
    return hits[0] if len(hits) == 1 else None


def match_payee(text: str, payees: Sequence[PayeeView]) -> PayeeView | None:
    """Pick a saved payee by name (any word of it) or last four IBAN digits; ``None`` if not exactly one."""
    t = text.lower()
    digits = _last4(t)
    hits = [p for p in payees if p.masked_iban[-4:] in digits]
    if not hits:
        hits = [p for p in payees if p.name.lower() in t]
    if not hits:
        hits = [p for p in payees if any(len(w) > 2 and w in t.split() for w in p.name.lower().split())]
    return hits[0] if len(hits) == 1 else None


def match_card(text: str, cards: Sequence[CardView]) -> CardView | None:
    """Pick a card by its last four digits or kind (debit/credit); ``None`` if not exactly one."""
    t = text.lower()
    digits = _last4(t)
    hits = [c for c in cards if c.masked_number[-4:] in digits]
    if not hits:
        hits = [c for c in cards if c.kind in t]
    if not hits and len(cards) == 1 and re.search(r"\b(it|this|that|the card|my card|yes)\b", t):
        hits = list(cards)
    return hits[0] if len(hits) == 1 else None


def money(amount: Decimal) -> str:
    """Format EUR for a customer: ``€1,234.56`` (``-€5.00`` for negatives)."""
    sign = "-" if amount < 0 else ""
    return f"{sign}€{abs(amount):,.2f}"
