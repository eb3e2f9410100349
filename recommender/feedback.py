"""The feedback loop: customers' answers to our offers, as labelled training rows for the models that score them.

**Source.** The CRM records every offer answer: ``profiles.record_offer`` writes an ``OfferEvent`` (the bot: shown,
accepted, declined), and the conversation feed or staff may write an ``Interaction`` of kind ``offer`` whose
``details`` hold ``product`` and ``outcome``. Only answers count (``accepted`` → 1, ``declined`` → 0; ``shown`` is
not an answer). A customer's latest answer per product is their label for that product (one row per customer
and product: an OfferEvent and the feed's Interaction describing the same answer are not counted twice).

**Features.** The same feature builder as chat and batch (:func:`recommender.features.serving_frames`) on the
customer's profile as it is now (the CRM keeps no profile history), with the product itself removed from the
products held (a customer who accepted a mortgage now holds one: the model must not see its own answer), and the
offer history as it was when they answered: the latest answer to any other offer before it (``pdays``,
``previous``, ``poutcome``).

**Use.** ``python -m recommender.train`` adds each model's feedback rows to its training part only (the held-out
part stays the data set's, so versions remain comparable), after the family comparison (cross-validation on the
data set alone), each row repeated :data:`FEEDBACK_WEIGHT` times. The version's metadata ``feedback`` records how
many answers were used (accepted / declined), the weight and the sources; ``rows.train_total`` the training rows
with them. With no recorded answers (or no CRM database) training is exactly the data-set-only training.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import numpy as np
import pandas as pd  # type: ignore[import-untyped]

from recommender.features import CustomerContext, serving_frames
from recommender.tasks import Task

logger = logging.getLogger(__name__)

#: How many training rows one recorded answer counts as. A direct answer to our own offer is stronger evidence
#: of what this customer wants than a look-alike row of another bank's data, but there are few of them and they
#: come from customers we already chose to ask: 3 lets a few hundred answers move the model without letting a
#: handful swamp tens of thousands of data-set rows. A business assumption, to revisit once answers accumulate.
FEEDBACK_WEIGHT = 3
ANSWERS: Mapping[str, int] = {"accepted": 1, "declined": 0}


@dataclass(frozen=True)
class Answer:
    """One recorded answer: ``label`` 1 = accepted, 0 = declined; ``when`` aware UTC; ``source`` its table."""

    customer_id: int
    product: str
    label: int
    when: datetime
    source: str


def recorded_answers() -> list[Answer]:
    """Every accepted / declined offer answer in the CRM (``profiles.offers.offer_answers``: ``OfferEvent`` and
    ``Interaction`` kind ``offer``), for a catalogue product, as labels.

    Oldest first. No CRM database (a SQLite file that does not exist is not created), or one without these
    tables, gives ``[]``: training on the data sets alone.
    """
    from profiles.offers import offer_answers
    from recommender.catalogue import CATALOGUE

    return [Answer(a.customer_id, a.product, ANSWERS[a.outcome], a.when, a.source)
            for a in offer_answers() if a.product in CATALOGUE and a.outcome in ANSWERS]


def latest_per_customer_product(answers: Sequence[Answer]) -> list[Answer]:
    """Each customer's latest answer per product (the label), in ``answers`` order (oldest first)."""
    latest: dict[tuple[int, str], Answer] = {}
    for answer in sorted(answers, key=lambda a: a.when):
        latest[(answer.customer_id, answer.product)] = answer
    return sorted(latest.values(), key=lambda a: (a.when, a.customer_id, a.product))


def _previous_answer(answers: Sequence[Answer], answer: Answer) -> tuple[str, str, datetime] | None:
    """The customer's latest answer to another product before ``answer`` (the offer history it saw)."""
    best: Answer | None = None
    for a in answers:
        other = a.customer_id == answer.customer_id and a.product != answer.product and a.when < answer.when
        if other and (best is None or a.when > best.when):
            best = a
    if best is None:
        return None
    return (best.product, "accepted" if best.label else "declined", best.when)


def feedback_frame(task: Task, answers: Sequence[Answer]) -> tuple[pd.DataFrame, np.ndarray, dict[str, Any]]:
    """The labelled rows of ``task``'s product: ``(X, y, summary)``, X with ``task.features`` columns.

    ``summary``: ``{"answers", "accepted", "declined", "skipped"}`` (skipped: customers no longer in the CRM).
    A task without a catalogue product, or no answers for it, gives an empty frame.
    """
    import profiles
    from profiles.errors import NotFound
    from recommender.offers import total_balance

    summary = {"answers": 0, "accepted": 0, "declined": 0, "skipped": 0}
    mine = [a for a in latest_per_customer_product(answers) if task.product is not None and a.product == task.product]
    by_customer: dict[int, list[Answer]] = {}
    for a in answers:
        by_customer.setdefault(a.customer_id, []).append(a)
    contexts: list[CustomerContext] = []
    labels: list[int] = []
    for answer in mine:
        try:
            customer = profiles.get_customer(answer.customer_id)
            accounts = profiles.list_accounts(answer.customer_id)
            held = frozenset(profiles.products_held(answer.customer_id) - {answer.product})
        except NotFound:
            summary["skipped"] += 1
            continue
        contexts.append(
            CustomerContext(
                customer=customer,
                total_balance=total_balance(accounts),
                held=held,
                last_offer=_previous_answer(by_customer[answer.customer_id], answer),
                now=answer.when,
            )
        )
        labels.append(answer.label)
    summary["answers"] = len(labels)
    summary["accepted"] = int(sum(labels))
    summary["declined"] = len(labels) - summary["accepted"]
    X = serving_frames(task.features, contexts) if contexts else pd.DataFrame(columns=list(task.features.columns))
    return X, np.asarray(labels, dtype=np.int64), summary


def with_feedback(
    X_train: pd.DataFrame, y_train: np.ndarray, X_feedback: pd.DataFrame, y_feedback: np.ndarray,
    weight: int = FEEDBACK_WEIGHT,
) -> tuple[pd.DataFrame, np.ndarray]:
    """The training part with each feedback row repeated ``weight`` times after it (unchanged without rows)."""
    if len(y_feedback) == 0:
        return X_train, y_train
    if weight < 1:
        raise ValueError("weight must be at least 1")
    X_fb = pd.concat([X_feedback] * weight, ignore_index=True)[list(X_train.columns)]
    X = pd.concat([X_train.reset_index(drop=True), X_fb.astype(X_train.dtypes.to_dict())], ignore_index=True)
    return X, np.concatenate([y_train, np.tile(y_feedback, weight)])
