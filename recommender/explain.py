"""One plain sentence saying why a product is suggested, built from the customer's actual attributes.

* ``term_deposit`` with a logistic-regression model: each feature's contribution is coefficient × transformed
  value, summed over a feature's one-hot columns (relative to the training mean for numerics). The sentence
  names the customer's attributes that pushed the score up most (at most two).
* ``term_deposit`` with any other model (e.g. gradient boosting, which has no per-customer coefficients): a
  rule-based sentence from the customer's favourable attributes, in a fixed order.
* Rule-scored products: a sentence stating the rule's conditions as they hold for this customer.

Only attributes that are true of the customer are ever named; marital status, contact channel and age are
never named in a sentence (they may be read aloud in a chat).
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from typing import Any

import numpy as np
import pandas as pd  # type: ignore[import-untyped]

from recommender import registry
from recommender.features import CATEGORICAL, NUMERIC, ProfileLike, frame_from_profile
from recommender.scoring import HEALTHY_BALANCE

_TD_ENDING = "often choose a term deposit to earn a fixed return."
# Features that can be named, in the order used when there are no model coefficients.
_PRIORITY = ("balance", "loans", "education", "default")


def _value(row: Mapping[str, Any], feature: str) -> Any:
    value = row.get(feature)
    return None if value is None or (isinstance(value, float) and np.isnan(value)) else value


def term_deposit_phrases(row: Mapping[str, Any]) -> dict[str, str]:
    """Phrases (key → "with …" phrase) true of one features row (``recommender.features`` columns).

    Keys: ``balance`` (≥ 1000 EUR), ``loans`` (no housing and/or no personal loan), ``education`` (tertiary),
    ``default`` (no credit default). Keys absent when the attribute is unknown or not favourable.
    """
    phrases: dict[str, str] = {}
    balance = _value(row, "balance")
    if balance is not None and balance >= float(HEALTHY_BALANCE):
        phrases["balance"] = "a healthy balance"
    housing, loan = _value(row, "housing"), _value(row, "loan")
    if housing == "no" and loan == "no":
        phrases["loans"] = "no existing loans"
    elif housing == "no":
        phrases["loans"] = "no housing loan"
    elif loan == "no":
        phrases["loans"] = "no personal loan"
    if _value(row, "education") == "tertiary":
        phrases["education"] = "a university degree"
    if _value(row, "default") == "no":
        phrases["default"] = "a clean credit record"
    return phrases


def _subject(row: Mapping[str, Any]) -> str:
    job = _value(row, "job")
    return {"retired": "Retired customers", "student": "Students"}.get(str(job), "Customers")


def _sentence(subject: str, phrases: list[str]) -> str:
    if not phrases:
        return f"{subject} with a profile like yours {_TD_ENDING}"
    return f"{subject} with {' and '.join(phrases[:2])} {_TD_ENDING}"


def logistic_contributions(pipeline: Any, X: pd.DataFrame) -> dict[str, float]:
    """Per-feature contributions (coefficient × transformed value) to the log-odds of the first row of ``X``.

    One-hot columns are summed back to their source feature; the phrase key ``loans`` is the sum of
    ``housing`` and ``loan``.

    Args:
        pipeline: a fitted ``Pipeline`` with steps ``prep`` (the ColumnTransformer of ``recommender.train``)
            and ``model`` (with ``coef_`` of shape ``(1, n_columns)``).
        X: a features frame (``recommender.features``), at least one row.
    """
    prep, model = pipeline.named_steps["prep"], pipeline.named_steps["model"]
    values = np.asarray(prep.transform(X.iloc[:1]))[0]
    terms = np.asarray(model.coef_)[0] * values
    contributions = dict.fromkeys((*NUMERIC, *CATEGORICAL), 0.0)
    for name, term in zip(prep.get_feature_names_out(), terms, strict=True):
        block, _, rest = str(name).partition("__")
        feature = rest if block == "num" else next(c for c in CATEGORICAL if rest.startswith(f"{c}_"))
        contributions[feature] += float(term)
    contributions["loans"] = contributions["housing"] + contributions["loan"]
    return contributions


def term_deposit_reason(pipeline: Any, X: pd.DataFrame) -> str:
    """The sentence for a term-deposit suggestion for the first row of features ``X``.

    Uses coefficient × value contributions if the pipeline's model is linear (has ``coef_``), otherwise the
    customer's favourable attributes in a fixed order (balance, loans, education, credit record).
    """
    row = X.iloc[0].to_dict()
    phrases = term_deposit_phrases(row)
    subject = _subject(row)
    if hasattr(pipeline.named_steps["model"], "coef_"):
        contrib = logistic_contributions(pipeline, X)
        ranked = sorted((k for k in phrases if contrib[k] > 0), key=lambda k: -contrib[k])
        if contrib["job"] <= 0:
            subject = "Customers"
        return _sentence(subject, [phrases[k] for k in ranked])
    return _sentence(subject, [phrases[k] for k in _PRIORITY if k in phrases])


def rule_reason(product_id: str, customer: ProfileLike, total_balance: Decimal | None) -> str:
    """The sentence for a rule-scored product (see ``recommender.scoring.rule_score``).

    Raises:
        KeyError: not a rule-scored product id.
    """
    if product_id == "current_account":
        return (
            "You don't have a current account with us yet, and it is the simplest way to manage "
            "everyday spending and bills."
        )
    if product_id == "savings_account":
        amount = "a healthy balance" if (total_balance or 0) >= HEALTHY_BALANCE else "money in your account"
        return (
            f"You keep {amount} and have no savings account with us, so easy-access savings could earn "
            "interest on what you don't need day to day."
        )
    if product_id == "credit_card":
        loans = " and no personal loan" if customer.personal_loan is False else ""
        return f"With a clean credit record{loans}, a credit card could help you spread the cost of larger purchases."
    if product_id == "personal_loan":
        return (
            "With a clean credit record and no personal loan at the moment, a fixed-rate personal loan "
            "could fund a planned purchase."
        )
    if product_id == "mortgage":
        return "Customers at your stage of life without a housing loan often look at a mortgage to buy their own home."
    raise KeyError(f"{product_id!r} has no rule-based reason")


def reason_for(product_id: str, customer: ProfileLike, total_balance: Decimal | None) -> str:
    """One plain sentence explaining why ``product_id`` suits ``customer`` (see the module docstring).

    Raises:
        registry.ModelNotFound: ``term_deposit`` and no model is promoted.
        KeyError: unknown product id.
    """
    if product_id == "term_deposit":
        model = registry.load_promoted("term_deposit")
        return term_deposit_reason(model.pipeline, frame_from_profile(customer, total_balance))
    return rule_reason(product_id, customer, total_balance)
