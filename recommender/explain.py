"""One plain sentence saying why a product is suggested, from the two or three features that pushed it up.

**Model-scored products** (any model family): for each *nameable* feature of the customer, the promoted model
scores the customer again with that one feature set to its typical training value (median or most frequent,
stored as ``reference`` in the version's metadata). The drop in probability is how much that feature pushed
the score up. The (at most three) features with the largest positive push, each above
:data:`MIN_PUSH`, are named; the sentence is "<Subject> with <a>, <b> and <c> <product ending>."
(:class:`recommender.catalogue.Product` ``ending``). This is a one-feature-at-a-time occlusion explanation:
it reads the model as it is, whatever its family, and costs one extra batch prediction (on the fast path,
:mod:`recommender.fast`; :func:`pushes` is the same on a pandas frame through ``predict_proba``).

**Rule-scored products** (current and savings account): a sentence stating the rule's conditions as they
hold for this customer.

Only attributes that are true of the customer are named. Marital status, gender, contact channel and the
economy are never named (they may be read aloud in a chat, or say nothing about the customer); a retired
customer or a student is named through the subject ("Retired customers with …"), and age, when it pushed the
score up, only as "Customers at your stage of life", never the number.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd  # type: ignore[import-untyped]

from recommender import fast, registry
from recommender.catalogue import get_product
from recommender.features import CustomerContext, FeatureSet, row_values, serving_values, values_from_rows
from recommender.scoring import HEALTHY_BALANCE, RULE_PRODUCTS, single_thread
from recommender.tasks import PRODUCT_TASK, get_task

MIN_PUSH = 0.002  # probability points; smaller pushes are noise, not a reason
MAX_FACTORS = 3

_JOB_SUBJECT = {"retired": "Retired customers", "student": "Students"}
_JOB_PHRASE = {
    "management": "a management job",
    "entrepreneur": "your own business",
    "self-employed": "your own business",
    "technician": "a technical job",
    "admin.": "an office job",
    "services": "a job in services",
}
_CATEGORY_PHRASE: Mapping[str, Mapping[str, str]] = {
    "housing": {"no": "no housing loan", "yes": "a housing loan"},
    "loan": {"no": "no personal loan", "yes": "a personal loan"},
    "education": {"tertiary": "a university degree", "secondary": "a secondary education"},
    "default": {"no": "a clean credit record"},
    "poutcome": {"success": "a past offer you took up"},
}
_HOLDING_PHRASE = {
    "card_classic": "a card with us",
    "card_gold": "a gold card",
    "insurance": "an insurance policy",
    "household": "household bills paid by standing order",
    "leasing": "a leasing contract",
}


@dataclass(frozen=True)
class Explanation:
    """The sentence and the features it names (most influential first), e.g. ``("balance", "loan")``."""

    sentence: str
    factors: tuple[str, ...]


def _present(value: Any) -> bool:
    return value is not None and not (isinstance(value, float) and np.isnan(value))


def phrase_for(feature: str, value: Any, *, berka: bool = False) -> str | None:
    """The "with …" phrase for one feature value of a customer, or ``None`` if it is never named.

    Args:
        feature: a model column (``recommender.features``).
        value: the customer's (coerced) value.
        berka: the column belongs to a Berka feature set (``loan`` is then "holds any loan", 0/1).
    """
    if not _present(value):
        return None
    if feature == "balance":
        return "a healthy balance" if float(value) >= float(HEALTHY_BALANCE) else None
    if feature == "job":
        return _JOB_PHRASE.get(str(value)) or (str(value) if str(value) in _JOB_SUBJECT else None)
    if berka and feature == "loan":
        return "a loan with us" if float(value) > 0 else "no loan with us"
    if feature in _HOLDING_PHRASE:
        return _HOLDING_PHRASE[feature] if float(value) > 0 else None
    return _CATEGORY_PHRASE.get(feature, {}).get(str(value))


def pushes(model: Any, row: pd.DataFrame, reference: Mapping[str, Any], candidates: list[str]) -> dict[str, float]:
    """For each candidate column: P(row) − P(row with that column at its reference value).

    Args:
        model: fitted estimator with ``predict_proba`` over the row's columns.
        row: a one-row features frame.
        reference: column → typical training value (``metadata["reference"]``).
        candidates: columns to test; those whose value equals the reference are skipped (push 0).
    """
    tested = [c for c in candidates if c in reference and reference[c] is not None and row.iloc[0][c] != reference[c]]
    if not tested:
        return {}
    frame = pd.concat([row] * (len(tested) + 1), ignore_index=True)
    for i, column in enumerate(tested, start=1):
        frame.loc[i, column] = reference[column]
    with single_thread():
        proba = np.asarray(model.predict_proba(frame)[:, 1], dtype=float)
    return {column: float(proba[0] - proba[i]) for i, column in enumerate(tested, start=1)}


def fast_pushes(
    model: registry.LoadedModel,
    features: FeatureSet,
    num: np.ndarray,
    cat: Sequence[Sequence[object]],
    reference: Mapping[str, Any],
    candidates: list[str],
) -> dict[str, float]:
    """:func:`pushes` on the fast path (:mod:`recommender.fast`): one customer's values as arrays.

    Args:
        model: the promoted model.
        features: its feature set.
        num, cat: the customer's values (``features.serving_values`` of one context).
        reference: column → typical training value, coerced (:func:`_reference`).
        candidates: columns to test; those whose value equals the reference are skipped.
    """
    current = row_values(features, num[0], cat[0])
    tested = [c for c in candidates if c in reference and _present(reference[c]) and current[c] != reference[c]]
    if not tested:
        return {}
    nums = np.repeat(num[:1], len(tested) + 1, axis=0)
    cats = [tuple(cat[0])]
    for i, column in enumerate(tested, start=1):
        row = list(cat[0])
        if column in features.numeric:
            nums[i, features.numeric.index(column)] = reference[column]
        else:
            row[features.categorical.index(column)] = reference[column]
        cats.append(tuple(row))
    proba = fast.predict(model, features, nums, cats)
    return {column: float(proba[0] - proba[i]) for i, column in enumerate(tested, start=1)}


_references: dict[tuple[str, str, int], dict[str, Any]] = {}


def _reference(model: registry.LoadedModel, features: FeatureSet) -> dict[str, Any]:
    """The version's ``reference`` metadata normalised like the customer's values (cached per version)."""
    key = (model.product, model.version, id(model.metadata))
    cached = _references.get(key)
    if cached is None:
        rnum, rcat = values_from_rows(features, [model.metadata.get("reference", {})])
        cached = row_values(features, rnum[0], rcat[0])
        if len(_references) > 64:
            _references.clear()
        _references[key] = cached
    return cached


def _sentence(subject: str, phrases: list[str], ending: str) -> str:
    if not phrases:
        return f"{subject} {ending}." if subject != "Customers" else f"Customers with a profile like yours {ending}."
    body = phrases[0] if len(phrases) == 1 else f"{', '.join(phrases[:-1])} and {phrases[-1]}"
    return f"{subject} with {body} {ending}."


def model_explanation(product_id: str, ctx: CustomerContext) -> Explanation:
    """The explanation of a model-scored product for one customer (module docstring).

    Raises:
        KeyError: ``product_id`` is not model-scored.
        registry.ModelNotFound: no promoted model for it.
    """
    task = get_task(PRODUCT_TASK[product_id])
    model = registry.load_promoted(task.name)
    features = task.features
    berka = features.name == "berka"
    num, cat = serving_values(features, [ctx])
    values = row_values(features, num[0], cat[0])
    phrases = {c: p for c in features.columns if (p := phrase_for(c, values[c], berka=berka)) is not None}
    reference = _reference(model, features)
    candidates = [*phrases, *(["age"] if _present(values.get("age")) else [])]
    push = fast_pushes(model, features, num, cat, reference, candidates)
    ranked = [c for c in sorted(push, key=lambda c: -push[c]) if push[c] > MIN_PUSH][:MAX_FACTORS]
    subject = "Customers"
    if "job" in ranked and str(values["job"]) in _JOB_SUBJECT:
        subject = _JOB_SUBJECT[str(values["job"])]
    elif "age" in ranked:
        subject = "Customers at your stage of life"  # the age itself is never said
    named = [c for c in ranked if c != "age" and not (c == "job" and str(values["job"]) in _JOB_SUBJECT)]
    words = [phrases[c] for c in named]
    if not berka and {"housing", "loan"} <= set(named) and values["housing"] == values["loan"] == "no":
        words = ["no existing loans" if c == "housing" else phrases[c] for c in named if c != "loan"]
    return Explanation(_sentence(subject, words, get_product(product_id).ending), tuple(ranked))


def rule_explanation(product_id: str, ctx: CustomerContext) -> Explanation:
    """The explanation of a rule-scored product (``recommender.scoring.rule_score``).

    Raises:
        KeyError: not a rule-scored product id.
    """
    if product_id == "current_account":
        return Explanation(
            "You don't have a current account with us yet, and it is the simplest way to manage "
            "everyday spending and bills.",
            ("held",),
        )
    if product_id == "savings_account":
        healthy = (ctx.total_balance or 0) >= HEALTHY_BALANCE
        amount = "a healthy balance" if healthy else "money in your account"
        return Explanation(
            f"You keep {amount} and have no savings account with us, so easy-access savings could earn "
            "interest on what you don't need day to day.",
            ("balance", "held"),
        )
    raise KeyError(f"{product_id!r} has no rule-based reason")


def explain(product_id: str, ctx: CustomerContext) -> Explanation:
    """Why ``product_id`` suits the customer: one sentence and the features it names.

    Raises:
        KeyError: unknown product id.
        registry.ModelNotFound: a model-scored product and no promoted model.
    """
    get_product(product_id)
    if product_id in RULE_PRODUCTS:
        return rule_explanation(product_id, ctx)
    return model_explanation(product_id, ctx)


def reason_for(product_id: str, ctx: CustomerContext) -> str:
    """The sentence of :func:`explain`."""
    return explain(product_id, ctx).sentence
