"""Eligibility and per-product scores in [0, 1].

* ``term_deposit``: the promoted model's probability that the customer subscribes
  (:func:`term_deposit_propensity`; model trained by ``python -m recommender.train`` on UCI Bank Marketing).
* Every other product: a **hand-set rule, not a model** (:func:`rule_score`). We have no outcome data for those
  products yet, so each rule encodes a plain banking heuristic and returns a fixed prior of the same order as
  the term-deposit probabilities, so the catalogue thresholds and the ranking in ``suggest_offer`` compare like
  with like. Replace a rule by a model once outcomes (``profiles.record_offer``) accumulate.

Eligibility (:func:`is_eligible`) is separate from scoring and is the one place for it.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal

from threadpoolctl import threadpool_limits  # type: ignore[import-untyped]

from recommender import registry
from recommender.catalogue import CATALOGUE, get_product
from recommender.features import ProfileLike, frame_from_profile

logger = logging.getLogger(__name__)

ADULT_AGE = 18
HEALTHY_BALANCE = Decimal(1000)  # EUR; used by the savings rule and by the explanations


def is_eligible(product_id: str, customer: ProfileLike) -> bool:
    """Whether the bank may offer ``product_id`` to ``customer`` at all (the one eligibility rule).

    Every product needs a known age of at least 18; credit products (``Product.credit``: credit card,
    personal loan, mortgage) also need ``credit_default`` known to be ``False``.

    Raises:
        KeyError: unknown product id.
    """
    product = get_product(product_id)
    if customer.age is None or customer.age < ADULT_AGE:
        return False
    return not product.credit or customer.credit_default is False


def _between(age: int | None, low: int, high: int) -> bool:
    return age is not None and low <= age <= high


def rule_score(product_id: str, customer: ProfileLike, total_balance: Decimal | None) -> float:
    """Hand-set rule score in [0, 1] for a product other than ``term_deposit`` (not a model).

    Rules (an unknown attribute fails its condition; eligibility is checked separately):

    * ``current_account``: 0.60 — a customer without one needs it before anything else.
    * ``savings_account``: 0 if the balance is unknown or ≤ 0, else 0.10 + 0.15 × min(balance / 3000 EUR, 1)
      (reaches the 0.15 threshold at 1000 EUR).
    * ``credit_card``: 0 under 21, else 0.15, + 0.05 without a personal loan.
    * ``personal_loan``: 0.12 when aged 21-65 with no personal loan, else 0.
    * ``mortgage``: 0.18 when aged 25-50, married and with no housing loan, else 0.

    Args:
        product_id: a catalogue id other than ``term_deposit``.
        customer: the CRM profile.
        total_balance: EUR balance across the customer's EUR accounts, or ``None`` if unknown.

    Raises:
        KeyError: unknown product id.
        ValueError: ``term_deposit`` (scored by the model: :func:`term_deposit_propensity`).
    """
    get_product(product_id)
    age = customer.age
    if product_id == "current_account":
        return 0.60
    if product_id == "savings_account":
        if total_balance is None or total_balance <= 0:
            return 0.0
        return 0.10 + 0.15 * min(float(total_balance) / 3000.0, 1.0)
    if product_id == "credit_card":
        if age is None or age < 21:
            return 0.0
        return 0.15 + (0.05 if customer.personal_loan is False else 0.0)
    if product_id == "personal_loan":
        return 0.12 if _between(age, 21, 65) and customer.personal_loan is False else 0.0
    if product_id == "mortgage":
        married = (customer.marital or "").strip().lower() == "married"
        return 0.18 if _between(age, 25, 50) and married and customer.housing_loan is False else 0.0
    raise ValueError(f"{product_id} is scored by the model, not a rule")


def term_deposit_propensity(customer: ProfileLike, total_balance: Decimal | None) -> float:
    """Probability in [0, 1] that ``customer`` subscribes a term deposit, from the promoted model.

    The model (``python -m recommender.train``) is learnt from the UCI Bank Marketing data (Moro, Cortez & Rita
    2014, CC BY 4.0): a Portuguese bank's 2008-2010 phone campaigns, target "subscribed a term deposit".

    Args:
        customer: the CRM profile; missing attributes are imputed by the model pipeline.
        total_balance: EUR balance across the customer's EUR accounts, or ``None`` if unknown.

    One row is scored with one thread: OpenMP threads only add start-up and spin-wait cost there
    (measured ~15 ms per call single-threaded against ~55 ms with two threads on a busy 2-core machine).

    Raises:
        registry.ModelNotFound: no model is promoted (run ``python -m recommender.train``).
    """
    model = registry.load_promoted("term_deposit")
    with threadpool_limits(limits=1):
        proba = model.pipeline.predict_proba(frame_from_profile(customer, total_balance))
    return float(proba[0, 1])


@dataclass(frozen=True)
class Score:
    """One product's score for one customer; ``passes`` = score ≥ the catalogue threshold."""

    product: str
    score: float
    threshold: float

    @property
    def passes(self) -> bool:
        return self.score >= self.threshold


def score_products(customer: ProfileLike, total_balance: Decimal | None, *, exclude: Iterable[str] = ()) -> list[Score]:
    """Score every eligible catalogue product not in ``exclude`` (e.g. the products held), best first.

    Ties keep catalogue order. The model is consulted only if ``term_deposit`` is eligible and not excluded;
    if no model is promoted, ``term_deposit`` is left out with a warning in the log (the rule-scored products
    are still offered), rather than failing the conversation.
    """
    skip = set(exclude)
    scores = []
    for product_id, product in CATALOGUE.items():
        if product_id in skip or not is_eligible(product_id, customer):
            continue
        if product_id == "term_deposit":
            try:
                value = term_deposit_propensity(customer, total_balance)
            except registry.ModelNotFound as exc:
                logger.warning("term_deposit not scored: %s", exc)
                continue
        else:
            value = rule_score(product_id, customer, total_balance)
        scores.append(Score(product_id, value, product.threshold))
    return sorted(scores, key=lambda s: -s.score)
