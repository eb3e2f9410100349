"""No FAQ answer states a transfer limit other than the one the bank enforces (profiles.settings), in
domain.yml's responses or bot/faq_answers.yml (what scripts/build_banking77.py writes into the domain)."""

from __future__ import annotations

import re
from decimal import Decimal
from pathlib import Path

import yaml

from profiles.settings import get_settings

ROOT = Path(__file__).resolve().parents[1]
# A figure stated as the limit on transfers ("the daily transfer limit of EUR 5,000", "transfer up to €5,000"),
# not card top-ups, ATM withdrawals or an overdraft.
_LIMIT_FIGURE = re.compile(
    r"(?:transfer\w*\s+limit|limit\s+(?:on|for)\s+transfers?|transfer\w*\s+(?:up to|at most|a maximum of))"
    r"[^€\d.]{0,40}?(?:€|EUR)\s?(\d[\d,]*(?:\.\d+)?)",
    re.IGNORECASE,
)


def _answers() -> dict[str, str]:
    found: dict[str, str] = {}
    domain = yaml.safe_load((ROOT / "domain.yml").read_text(encoding="utf-8"))
    for name, variants in domain["responses"].items():
        for i, variant in enumerate(variants):
            if variant.get("text"):
                found[f"domain.yml {name}[{i}]"] = variant["text"]
    for name, text in yaml.safe_load((ROOT / "bot" / "faq_answers.yml").read_text(encoding="utf-8")).items():
        found[f"bot/faq_answers.yml {name}"] = str(text)
    return found


def _transfer_limit_figures(text: str) -> list[Decimal]:
    return [Decimal(m.replace(",", "")) for m in _LIMIT_FIGURE.findall(text)]


def test_the_check_finds_a_wrong_transfer_limit() -> None:
    assert _transfer_limit_figures("It exceeds the daily transfer limit of EUR 10,000.") == [Decimal("10000")]
    assert _transfer_limit_figures("You can add up to EUR 10,000 a day with linked cards.") == []
    assert _transfer_limit_figures("You can transfer up to €5,000.00 a day in total.") == [Decimal("5000.00")]
    assert _transfer_limit_figures("instant SEPA transfers and an overdraft of up to €1,000") == []


def test_no_faq_answer_contradicts_the_daily_transfer_limit() -> None:
    limit = get_settings().daily_transfer_limit
    wrong = {where: figures for where, text in _answers().items()
             if (figures := _transfer_limit_figures(text)) and any(f != limit for f in figures)}
    assert not wrong, f"FAQ answers state a transfer limit other than {limit}: {wrong}"


def test_an_answer_about_the_transfer_limit_states_it() -> None:
    stated = [where for where, text in _answers().items() if _transfer_limit_figures(text)]
    assert stated, "no FAQ answer states the daily transfer limit"


def test_the_bots_own_limit_answer_states_the_settings_value() -> None:
    from actions.transfer import transfer_limit_answer

    assert _transfer_limit_figures(transfer_limit_answer()) == [get_settings().daily_transfer_limit]


def test_money_is_written_one_way_in_every_answer() -> None:
    """Every response and FAQ answer writes money as the bot's own replies and the staff pages do
    (profiles.money.eur: "€2,143.00", "€10"), never "EUR 10" or "10.00 EUR"."""
    other = re.compile(r"EUR\s?\d|\d\s?EUR\b|\d\s?€")
    wrong = {where: text for where, text in _answers().items() if other.search(text)}
    assert wrong == {}


def test_the_one_money_format() -> None:
    from profiles.money import eur

    assert [eur(Decimal("2143")), eur(Decimal("-5")), eur(1234.5), eur(Decimal("1234.5"), 0)] == [
        "€2,143.00", "-€5.00", "€1,234.50", "€1,234"]
