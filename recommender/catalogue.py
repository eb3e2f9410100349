"""The product catalogue: what Nova may offer, to whom, how it pitches it, what it is worth and the score it needs.

Product ids are the catalogue keys shared with ``profiles.products_held`` (docs/CONTRACTS.md).

Per product:

* ``category`` — ``accounts``, ``savings``, ``cards`` or ``lending``;
* eligibility — ``min_age`` / ``max_age`` (inclusive, years), ``credit`` (lending: needs a clean credit record
  and a credit band not in :data:`HIGH_RISK_BANDS`), ``requires`` (products that must be held first). The rule
  itself is :func:`recommender.scoring.is_eligible`, the one place that applies these fields (plus marketing
  consent and "not already held");
* ``pitch`` — the sentence the bot says when it offers the product; ``ending`` — the end of the "why" sentence
  (:mod:`recommender.explain`);
* ``value`` — expected margin of one sale in EUR (hand-set business assumption: first-year net interest/fee
  margin after acquisition cost, not data-derived); the ranking is propensity × value;
* ``threshold`` — the minimum propensity (a calibrated probability, or the rule score for ``current_account``
  and ``savings_account``) for the product to be offered at all. Model thresholds are set near the 80th
  percentile of the propensities of the eligible CRM population (``python -m recommender.evaluate``, section
  ``serving``; see ``recommender/README.md``), so roughly the top fifth of eligible customers hear about each.
"""

from __future__ import annotations

from dataclasses import dataclass

from profiles.schemas import PRODUCT_IDS

#: Credit bands (``CustomerScore.credit_band`` from the CRM analyses) under which no credit product is offered.
HIGH_RISK_BANDS: frozenset[str] = frozenset({"d", "e", "high", "very_high", "very high"})


@dataclass(frozen=True)
class Product:
    """One catalogue entry (see the module docstring for the fields' meaning and units)."""

    id: str
    title: str
    category: str
    pitch: str
    ending: str
    threshold: float
    value: float
    credit: bool = False
    min_age: int = 18
    max_age: int | None = None
    requires: tuple[str, ...] = ()


CATALOGUE: dict[str, Product] = {
    p.id: p
    for p in (
        Product(
            "current_account",
            "Current account",
            "accounts",
            "A current account with a debit card for your everyday spending and bills.",
            "need a current account for everyday spending and bills",
            threshold=0.50,
            value=60.0,
        ),
        Product(
            "savings_account",
            "Savings account",
            "savings",
            "An easy-access savings account that earns interest on money you don't need day to day.",
            "often keep an easy-access savings account",
            threshold=0.15,  # the savings rule reaches it at a 1000 EUR balance
            value=40.0,
        ),
        Product(
            "term_deposit",
            "Term deposit",
            "savings",
            "A term deposit earns a fixed rate on savings you can set aside for a fixed term.",
            "often choose a term deposit to earn a fixed return",
            threshold=0.56,
            value=120.0,
        ),
        Product(
            "credit_card",
            "Credit card",
            "cards",
            "A credit card to spread the cost of larger purchases, with purchase protection.",
            "often find a credit card useful for larger purchases",
            threshold=0.195,
            value=90.0,
            credit=True,
            min_age=21,
            requires=("current_account",),
        ),
        Product(
            "personal_loan",
            "Personal loan",
            "lending",
            "A personal loan at a fixed rate for a planned purchase, repaid in equal monthly instalments.",
            "often use a fixed-rate personal loan for a planned purchase",
            threshold=0.195,
            value=250.0,
            credit=True,
            min_age=21,
            max_age=70,
        ),
        Product(
            "mortgage",
            "Mortgage",
            "lending",
            "A mortgage to help you buy a home, with a fixed or variable rate.",
            "often take out a mortgage to buy their home",
            threshold=0.63,
            value=300.0,
            credit=True,
            min_age=21,
            max_age=65,
        ),
    )
}

# The catalogue ids are the CRM's (one definition: profiles.schemas.PRODUCT_IDS, docs/CONTRACTS.md).
if tuple(CATALOGUE) != PRODUCT_IDS:  # pragma: no cover - a programming error caught at import
    raise RuntimeError(f"catalogue {tuple(CATALOGUE)} differs from profiles.schemas.PRODUCT_IDS {PRODUCT_IDS}")


def get_product(product_id: str) -> Product:
    """The catalogue entry for ``product_id``.

    Raises:
        KeyError: not a catalogue product id (the message lists the known ids).
    """
    try:
        return CATALOGUE[product_id]
    except KeyError:
        raise KeyError(f"unknown product {product_id!r}; known: {', '.join(PRODUCT_IDS)}") from None
