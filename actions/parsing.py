"""Reading amounts, periods and account/card references out of what customers type."""

from __future__ import annotations

import calendar
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import TypeVar

from word2number import w2n

from profiles.money import eur
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
    number_words = cleaned.lower().replace("-", " ").split()
    if not all(w in _NUMBER_WORDS or w == "and" for w in number_words):
        return None  # "thanks, have a good one" is not €1: only a message made of number words is a number
    try:
        return Decimal(w2n.word_to_num(" ".join(number_words)))
    except ValueError:
        return None


# A foreign currency anywhere in the message: we never read "$20" or "20 dollars" as euros.
_FOREIGN = re.compile(
    r"[$£¥₹₽]|\b(usd|gbp|chf|brl|jpy|dollars?|bucks?|pounds?|quid|yen|francs?|reais|real|pesos?|rupees?)\b",
    re.IGNORECASE,
)
# "30 not 20", "thirty instead of twenty": the amount meant is the one before the marker.
_CORRECTION = re.compile(r"\b(?:not|instead of|rather than|in place of)\b", re.IGNORECASE)
# A written number inside a sentence (account digits are removed first).
_ACCOUNT_DIGITS = re.compile(r"[*•·]+\s*\d+|\bending(\s+in)?\s+\d+", re.IGNORECASE)
_NUMBER_IN_TEXT = re.compile(
    r"(?<![\w*•·.,\-])(\d{1,3}(?:[.,]\d{3})+(?:[.,]\d{1,2})?|\d+(?:[.,]\d{1,2})?)"
    r"(?:\s*(k|thousand|hundred)\b)?(?![\w.,]*\d)",
    re.IGNORECASE,
)
_NUMBER_WORDS = frozenset(w2n.american_number_system) - {"point", "billion"}  # whole euros, sane sizes
_EURO_AFTER = re.compile(r"^\s*(€|eur(os?)?\b)", re.IGNORECASE)
_EURO_BEFORE = re.compile(r"€\s*$")
# Words that may surround a bare amount answer without making it part of an unrelated sentence.
_ANSWER_FILLER = re.compile(
    r"\b(yes|yeah|no|ok|okay|but|actually|sorry|please|make it|change it to|let'?s say|say|it'?s|it is|"
    r"only|just|about|around|send|transfer|move|pay|of|euros?|eur)\b|€|[,.!?;:\-]",
    re.IGNORECASE,
)
_TRANSFER_VERB_BEFORE = re.compile(r"\b(send|transfer|move|pay|make it|change it to)\s*$", re.IGNORECASE)


# Text-speak "2" for "to" between the thing sent and a name ("transfer it 2 xiaoxue"): never an amount of €2.
_TEXTSPEAK_TO = re.compile(
    r"\b(it|money|them|this|that|cash|funds?|some|euros?)\s+2\s+(?!(?:k|thousand|hundred|million|euros?|eur)\b)"
    r"(?=[^\W\d_])",
    re.IGNORECASE,
)


def plain_text(text: str) -> str:
    """``text`` with text-speak undone where it would change what is read: "send it 2 Ana" -> "send it to Ana"
    (so neither an amount of €2 nor a missing destination is read). Other text is returned unchanged."""
    return _TEXTSPEAK_TO.sub(lambda m: f"{m.group(1)} to ", text)


@dataclass(frozen=True, slots=True)
class AmountReading:
    """What a message says about an amount: ``amount`` (EUR, unchecked) or why none was taken.

    ``problem`` is ``None`` (``amount`` set, or no amount mentioned), ``"foreign"`` (another currency),
    or ``"ambiguous"`` (more than one amount: we never pick or combine)."""

    amount: Decimal | None = None
    problem: str | None = None


def _word_spans(text: str) -> list[tuple[int, int]]:
    """(start, end) of each run of number words ("twenty five", "one hundred and five", "twenty-five")."""
    spans: list[tuple[int, int]] = []
    tokens = list(re.finditer(r"[a-z]+", text.lower()))
    i = 0
    while i < len(tokens):
        if tokens[i].group() not in _NUMBER_WORDS:
            i += 1
            continue
        j = i
        while j + 1 < len(tokens) and (
            tokens[j + 1].group() in _NUMBER_WORDS
            or (tokens[j + 1].group() == "and" and j + 2 < len(tokens) and tokens[j + 2].group() in _NUMBER_WORDS)
        ) and not re.search(r"[^\s\-]", text[tokens[j].end():tokens[j + 1].start()]):
            j += 1
        spans.append((tokens[i].start(), tokens[j].end()))
        i = j + 1
    return spans


def read_amount(text: str) -> AmountReading:
    """Read the one amount in EUR a customer's sentence states.

    "move 20 to savings", "send €50 please", "transfer €1,250.50 to Maria", "pay Pedro 35 euros", "no, 30 not
    20" (30), "yes but make it 3" (3). Number words count only as the whole answer ("twenty five"), next to a
    euro sign or word ("thirty euros") or right after a transfer verb ("send fifty to Ana"): "thanks, have a
    good one" states no amount. Two amounts ("make it 30, or 40") are ``ambiguous``; a foreign currency
    ("$20", "20 dollars", "bucks") is ``foreign``. Never raises.
    """
    if _FOREIGN.search(text):
        return AmountReading(problem="foreign")
    text = plain_text(text)
    bare = parse_amount(text)
    if bare is not None:
        return AmountReading(bare)
    text = _ACCOUNT_DIGITS.sub(" ", text)  # "•••• 8431", "ending in 8431": an account, not an amount
    marker = _CORRECTION.search(text)
    if marker is not None and (_NUMBER_IN_TEXT.search(text[marker.end():]) or _word_spans(text[marker.end():])):
        text = text[:marker.start()]  # "30 not 20": what follows the marker is the old value
    found: list[Decimal] = []
    for m in _NUMBER_IN_TEXT.finditer(text):
        value = _numeral(m.group(1))
        if value is not None:
            found.append(value * _SCALES[m.group(2).lower()] if m.group(2) else value)
    for start, end in _word_spans(text):
        rest = _ANSWER_FILLER.sub(" ", text[:start] + " " + text[end:]).strip()
        euro = _EURO_AFTER.match(text[end:]) or _EURO_BEFORE.search(text[:start])
        if rest and not euro and not _TRANSFER_VERB_BEFORE.search(text[:start]):
            continue  # a number word in an unrelated sentence ("a good one")
        try:
            found.append(Decimal(w2n.word_to_num(text[start:end].replace("-", " "))))
        except ValueError:
            continue
    if len(found) > 1:
        return AmountReading(problem="ambiguous")
    return AmountReading(found[0] if found else None)


_MONTHS = {name.lower(): i for i, name in enumerate(calendar.month_name) if name}
_MONTH_NAMES = "|".join([*_MONTHS, *(m[:3] for m in _MONTHS)])
# "between 1 and 15 November", "from 3 to 10 March 2024", "1-15 Nov"
_DAY_RANGE = re.compile(
    rf"\b(?:between\s+|from\s+)?(?:the\s+)?(\d{{1,2}})(?:st|nd|rd|th)?\s*(?:and|to|until|till|-|–)\s*(?:the\s+)?"
    rf"(\d{{1,2}})(?:st|nd|rd|th)?(?:\s+of)?\s+({_MONTH_NAMES})\b\.?(?:\s+(\d{{4}}))?",
    re.IGNORECASE,
)
_MONTH_YEAR = re.compile(rf"\b({_MONTH_NAMES})\b\.?\s+(\d{{4}})\b|\b(\d{{4}})[-/](\d{{1,2}})\b", re.IGNORECASE)
_ONE_DAY = re.compile(
    rf"\b(?:on\s+)?(?:the\s+)?(\d{{1,2}})(?:st|nd|rd|th)?(?:\s+of)?\s+({_MONTH_NAMES})\b\.?(?:\s+(\d{{4}}))?"
    rf"|\b({_MONTH_NAMES})\s+(\d{{1,2}})(?:st|nd|rd|th)?\b(?:,?\s+(\d{{4}}))?",
    re.IGNORECASE,
)


def local_today() -> date:
    """Today in the bank's time zone (``profiles.settings.push_timezone``, Europe/Lisbon)."""
    from zoneinfo import ZoneInfo

    from profiles.settings import get_settings

    return datetime.now(ZoneInfo(get_settings().push_timezone)).date()


def _date_of(day: int, month_word: str, year: str | None, today: date) -> date | None:
    """One calendar date through dateparser (month names and abbreviations); with no year, the latest such
    date not after ``today``."""
    import dateparser  # type: ignore[import-untyped]

    settings = {"PREFER_DATES_FROM": "past", "RELATIVE_BASE": datetime.combine(today, datetime.min.time()),
                "REQUIRE_PARTS": ["day", "month"]}
    parsed = dateparser.parse(f"{day} {month_word} {year or today.year}", languages=["en"],
                              settings=settings)
    if parsed is None:
        return None
    found = parsed.date()
    if year is None and found > today:
        try:
            found = found.replace(year=found.year - 1)
        except ValueError:  # 29 February
            return None
    return found


def _whole_month(year: int, month: int) -> tuple[date, date]:
    return date(year, month, 1), date(year, month, calendar.monthrange(year, month)[1])


def parse_period(text: str, today: date | None = None) -> tuple[date, date] | None:
    """Turn a period phrase into an inclusive (since, until) range of calendar days in the bank's time zone.

    Understands: today, yesterday, this/last week, this/last weekend (Saturday-Sunday), this/last month, last
    N days, a day range ("between 1 and 15 November", "from 3 to 10 March 2024"), a month with a year
    ("March 2024", "2024-03"), one day ("on 5 March", "March 5th 2024") and a month name alone (the latest
    such month not in the future). Dates are read with dateparser; ``today`` defaults to today in
    Europe/Lisbon. Returns ``None`` when no period is mentioned or a date does not exist ("31 February").
    """
    today = today or local_today()
    t = text.lower()
    if m := _DAY_RANGE.search(t):
        first = _date_of(int(m.group(1)), m.group(3), m.group(4), today)
        last = _date_of(int(m.group(2)), m.group(3), m.group(4), today)
        if first is None or last is None:
            return None
        if m.group(4) is None and first > last:  # "28 to 3 March": not a range we can read
            return None
        return (first, last) if first <= last else (last, first)
    if "yesterday" in t:
        d = today - timedelta(days=1)
        return d, d
    if "today" in t:
        return today, today
    if m := re.search(r"last\s+(\d{1,3})\s+days?", t):
        return today - timedelta(days=max(int(m.group(1)), 1) - 1), today  # today counts as one of them
    monday = today - timedelta(days=today.weekday())
    if re.search(r"\blast\s+weekend\b", t):
        # the latest Saturday-Sunday that is over (on a Sunday, the one before)
        saturday = monday - timedelta(days=2)
        return saturday, saturday + timedelta(days=1)
    if re.search(r"\bthis\s+weekend\b", t):
        saturday = monday + timedelta(days=5)
        return (saturday, min(saturday + timedelta(days=1), today)) if today >= saturday else None
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
    if m := _MONTH_YEAR.search(t):
        if m.group(1):
            day_one = _date_of(1, m.group(1), m.group(2), today)
            return _whole_month(day_one.year, day_one.month) if day_one else None
        numeric_year, month = int(m.group(3)), int(m.group(4))
        return _whole_month(numeric_year, month) if 1 <= month <= 12 else None
    if m := _ONE_DAY.search(t):
        day, month_word, said_year = (m.group(1), m.group(2), m.group(3)) if m.group(1) else (m.group(5), m.group(4), m.group(6))
        found = _date_of(int(day), month_word, said_year, today)
        return (found, found) if found else None
    for name, number in _MONTHS.items():
        if re.search(rf"\b{name}\b", t):
            year = today.year if number <= today.month else today.year - 1
            return _whole_month(year, number)
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
    """Format EUR for a customer: ``€1,234.56`` (``-€5.00`` for negatives): :func:`profiles.money.eur`."""
    return eur(amount)
