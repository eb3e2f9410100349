"""Eligibility (the one rule) and per-product propensities in [0, 1], for one customer or a batch.

* ``term_deposit``, ``mortgage``, ``personal_loan``, ``credit_card``: the promoted calibrated model of the task
  that scores the product (:data:`recommender.tasks.PRODUCT_TASK`), a probability learnt from real data.
* ``current_account`` and ``savings_account``: **hand-set rules, not models** (:func:`rule_score`): no data set
  has these products as a target. Each rule returns a fixed prior of the same order as the model
  probabilities, so the thresholds and the ranking compare like with like.

Eligibility (:func:`is_eligible`) is separate from scoring and is the one place for it.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import numpy as np

from recommender import fast, registry
from recommender.catalogue import CATALOGUE, HIGH_RISK_BANDS, get_product
from recommender.fast import single_thread
from recommender.features import (
    CustomerContext,
    ProfileLike,
    berka_loan,
    profile_row,
    serving_frames,
    serving_values,
    values_from_rows,
)
from recommender.tasks import PRODUCT_TASK, Task, get_task

logger = logging.getLogger(__name__)

ADULT_AGE = 18
HEALTHY_BALANCE = Decimal(1000)  # EUR; used by the savings rule and by the explanations
RULE_PRODUCTS: frozenset[str] = frozenset({"current_account", "savings_account"})

def ineligibility(
    product_id: str,
    customer: ProfileLike,
    *,
    consent: bool,
    held: frozenset[str] | set[str] = frozenset(),
    credit_band: str | None = None,
) -> str | None:
    """Why the bank may not offer ``product_id`` to ``customer`` now, or ``None`` if it may (the one rule).

    In order: no marketing consent; already held (in ``held``, or the profile's ``housing_loan`` /
    ``personal_loan`` flag for a mortgage / personal loan); age unknown, under 18, or outside the product's
    ``min_age``..``max_age``; a credit product (``Product.credit``) without ``credit_default`` known to be
    ``False``, or with a credit band in ``catalogue.HIGH_RISK_BANDS``; a required product
    (``Product.requires``) not held. An unknown credit band does not block (the default flag still does).

    Raises:
        KeyError: unknown product id.
    """
    product = get_product(product_id)
    if not consent:
        return "no marketing consent"
    if product_id in held or (product_id, True) in (
        ("mortgage", customer.housing_loan),
        ("personal_loan", customer.personal_loan),
    ):
        return "already held"
    age = customer.age
    if age is None or age < max(ADULT_AGE, product.min_age) or (product.max_age is not None and age > product.max_age):
        return "age outside the product's range"
    if product.credit:
        if customer.credit_default is not False:
            return "credit record not known to be clean"
        if credit_band is not None and credit_band.strip().lower() in HIGH_RISK_BANDS:
            return f"credit band {credit_band}"
    missing = [r for r in product.requires if r not in held]
    if missing:
        return f"needs {', '.join(missing)} first"
    return None


def is_eligible(
    product_id: str,
    customer: ProfileLike,
    *,
    consent: bool,
    held: frozenset[str] | set[str] = frozenset(),
    credit_band: str | None = None,
) -> bool:
    """Whether ``product_id`` may be offered to ``customer`` (:func:`ineligibility` is ``None``).

    Raises:
        KeyError: unknown product id.
    """
    return ineligibility(product_id, customer, consent=consent, held=held, credit_band=credit_band) is None


def rule_score(product_id: str, customer: ProfileLike, total_balance: Decimal | None) -> float:
    """Hand-set rule score in [0, 1] for ``current_account`` or ``savings_account`` (not a model).

    * ``current_account``: 0.60 — a customer without one needs it before anything else.
    * ``savings_account``: 0 if the balance is unknown or ≤ 0, else 0.10 + 0.15 × min(balance / 3000 EUR, 1)
      (reaches its 0.15 threshold at 1000 EUR).

    Raises:
        KeyError: unknown product id.
        ValueError: a product scored by a model.
    """
    get_product(product_id)
    if product_id == "current_account":
        return 0.60
    if product_id == "savings_account":
        if total_balance is None or total_balance <= 0:
            return 0.0
        return 0.10 + 0.15 * min(float(total_balance) / 3000.0, 1.0)
    raise ValueError(f"{product_id} is scored by a model, not a rule")


def model_propensities(product_id: str, contexts: Sequence[CustomerContext]) -> np.ndarray:
    """Calibrated probabilities, shape ``(len(contexts),)``, from the promoted model that scores ``product_id``.

    The model is learnt from real data (source and target: :mod:`recommender.tasks`). Computed by the fast path
    (:mod:`recommender.fast`: the pipeline's fitted parameters as arrays, equal to ``predict_proba`` within
    1e-9; :func:`reference_propensities` is the pandas / scikit-learn path it reproduces).

    Raises:
        KeyError: ``product_id`` has no model (see :data:`recommender.tasks.PRODUCT_TASK`).
        registry.ModelNotFound: no promoted version of that model, or one trained on other features (run
            ``python -m recommender.train``).
    """
    model, task = _promoted(product_id)
    num, cat = serving_values(task.features, contexts)
    return fast.predict(model, task.features, num, cat)


def _promoted(product_id: str) -> tuple[registry.LoadedModel, Task]:
    """The promoted model scoring ``product_id`` and its task (KeyError / ModelNotFound as documented above)."""
    if product_id not in PRODUCT_TASK:
        raise KeyError(f"{product_id!r} is not scored by a model")
    task = get_task(PRODUCT_TASK[product_id])
    model = registry.load_promoted(task.name)
    if model.metadata.get("features") != list(task.features.columns):
        raise registry.ModelNotFound(
            f"promoted {task.name} version {model.version} was trained on other features; "
            f"retrain with `{registry.TRAIN_COMMAND}`"
        )
    return model, task


def reference_propensities(product_id: str, contexts: Sequence[CustomerContext]) -> np.ndarray:
    """:func:`model_propensities` by the reference path: ``pipeline.predict_proba(serving_frames(...))``.

    What the fast path (:mod:`recommender.fast`) must equal (within ``fast.TOLERANCE``); kept for the tests and
    the serving benchmark. Same errors as :func:`model_propensities`.
    """
    model, task = _promoted(product_id)
    frame = serving_frames(task.features, contexts)
    with single_thread():
        proba = model.pipeline.predict_proba(frame)
    return np.asarray(proba[:, 1], dtype=float)


def propensity(product_id: str, ctx: CustomerContext) -> float:
    """The product's score in [0, 1] for one customer: a model probability or a rule score (module docstring).

    Missing attributes are imputed (``recommender.features``), never an error.

    Raises:
        KeyError: unknown product id.
        registry.ModelNotFound: a model-scored product and no promoted model.
    """
    if product_id in RULE_PRODUCTS:
        return rule_score(product_id, ctx.customer, ctx.total_balance)
    return float(model_propensities(product_id, [ctx])[0])


@dataclass(frozen=True)
class Score:
    """One product's score for one customer.

    ``score`` is the propensity in [0, 1]; ``value`` the catalogue's EUR value of a sale; ``expected_value``
    = score × value (EUR); ``passes`` = score ≥ the catalogue threshold.
    """

    product: str
    score: float
    threshold: float
    value: float = 0.0

    @property
    def passes(self) -> bool:
        return self.score >= self.threshold

    @property
    def expected_value(self) -> float:
        return self.score * self.value


def score_products(ctx: CustomerContext, *, consent: bool) -> list[Score]:
    """Score every catalogue product eligible for ``ctx`` (:func:`is_eligible`), best expected value first.

    Ties keep catalogue order. A model-scored product whose model is not promoted is left out with a warning
    in the log (the other products are still scored), rather than failing the conversation.
    """
    scores = []
    for product_id, product in CATALOGUE.items():
        if not is_eligible(product_id, ctx.customer, consent=consent, held=ctx.held, credit_band=ctx.credit_band):
            continue
        try:
            value = propensity(product_id, ctx)
        except registry.ModelNotFound as exc:
            logger.warning("%s not scored: %s", product_id, exc)
            continue
        scores.append(Score(product_id, value, product.threshold, product.value))
    return sorted(scores, key=lambda s: -s.expected_value)


def batch_scores(contexts: Sequence[CustomerContext], *, consent: Sequence[bool] | None = None) -> Any:
    """Every catalogue product's score for many customers at once (campaigns, batch scoring).

    The same feature builder (``serving_frames``), models and eligibility rule as one customer in chat:
    ``batch_scores(cs)[p][i] == propensity(p, cs[i])`` whenever ``cs[i]`` is eligible for ``p``.

    Args:
        contexts: the customers.
        consent: marketing consent per customer (default: every customer consents, e.g. a staff look-up).

    Returns:
        A ``pandas.DataFrame`` of shape ``(len(contexts), len(CATALOGUE))``, columns the product ids, values the
        score in [0, 1], ``NaN`` where the customer is not eligible or the product's model is not promoted
        (logged once as a warning).
    """
    import pandas as pd  # type: ignore[import-untyped]

    consents = list(consent) if consent is not None else [True] * len(contexts)
    if len(consents) != len(contexts):
        raise ValueError("consent must have one value per context")
    out = np.full((len(contexts), len(CATALOGUE)), np.nan, dtype=np.float64)
    base_rows: list[dict[str, Any]] | None = None  # profile_row of each context, built once for every model
    for j, product_id in enumerate(CATALOGUE):
        rows = [
            i
            for i, ctx in enumerate(contexts)
            if is_eligible(product_id, ctx.customer, consent=consents[i], held=ctx.held, credit_band=ctx.credit_band)
        ]
        if not rows:
            continue
        if product_id in RULE_PRODUCTS:
            out[rows, j] = [rule_score(product_id, contexts[i].customer, contexts[i].total_balance) for i in rows]
            continue
        try:
            model, task = _promoted(product_id)
        except registry.ModelNotFound as exc:
            logger.warning("%s not scored: %s", product_id, exc)
            continue
        if base_rows is None:
            base_rows = [profile_row(ctx) for ctx in contexts]
        if task.features.name == "berka":  # the Berka "loan" column: any loan held (features.serving_rows)
            feature_rows = [{**base_rows[i], "loan": berka_loan(contexts[i])} for i in rows]
        else:
            feature_rows = [base_rows[i] for i in rows]
        num, cat = values_from_rows(task.features, feature_rows)
        out[rows, j] = fast.predict(model, task.features, num, cat)
    return pd.DataFrame(out, columns=list(CATALOGUE))
