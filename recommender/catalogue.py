"""The product catalogue: what the bot may offer, how it pitches it, and the score an offer needs.

Product ids are the catalogue keys shared with ``profiles.products_held`` (docs/CONTRACTS.md).
A threshold is compared with the product's score from :mod:`recommender.scoring`, a number in [0, 1]:
for ``term_deposit`` the model's probability of subscribing, for the others a hand-set rule score on the
same scale (see ``scoring``). A product is offered only if its score is at least its threshold.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Product:
    """One catalogue entry. ``pitch`` is one sentence the bot can say; ``credit`` marks lending products."""

    id: str
    title: str
    pitch: str
    threshold: float
    credit: bool = False


CATALOGUE: dict[str, Product] = {
    p.id: p
    for p in (
        Product(
            "current_account",
            "Current account",
            "A current account with a debit card for your everyday spending and bills.",
            threshold=0.50,
        ),
        Product(
            "savings_account",
            "Savings account",
            "An easy-access savings account that earns interest on money you don't need day to day.",
            threshold=0.15,  # the savings rule reaches it at a 1000 EUR balance
        ),
        Product(
            "term_deposit",
            "Term deposit",
            "A term deposit earns a fixed rate on savings you can set aside for a fixed term.",
            # The model's probability; on held-out data about the top 10% of customers reach 0.25,
            # three times the 11.7% base rate (see the promoted version's metadata).
            threshold=0.25,
        ),
        Product(
            "credit_card",
            "Credit card",
            "A credit card to spread the cost of larger purchases, with purchase protection.",
            threshold=0.15,
            credit=True,
        ),
        Product(
            "personal_loan",
            "Personal loan",
            "A personal loan at a fixed rate for a planned purchase, repaid in equal monthly instalments.",
            threshold=0.10,
            credit=True,
        ),
        Product(
            "mortgage",
            "Mortgage",
            "A mortgage to help you buy a home, with a fixed or variable rate.",
            threshold=0.15,
            credit=True,
        ),
    )
}

PRODUCT_IDS: tuple[str, ...] = tuple(CATALOGUE)


def get_product(product_id: str) -> Product:
    """The catalogue entry for ``product_id``.

    Raises:
        KeyError: not a catalogue product id (the message lists the known ids).
    """
    try:
        return CATALOGUE[product_id]
    except KeyError:
        raise KeyError(f"unknown product {product_id!r}; known: {', '.join(PRODUCT_IDS)}") from None
