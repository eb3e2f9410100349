"""The propensity models: which data set, target and feature set each one learns, and which product it scores.

A *task* is one supervised model; its name is its registry key (``<registry>/<task>/<version>/``). Tasks whose
``product`` is a catalogue id score that product in chat and batch; the others (Berka products the bank does
not sell through Nova yet) are trained and evaluated so that the comparison and the ranking metrics cover
every product of the data.

=====================  ================================  ==================================  ===================
task                   data (``settings.data_dir``)       target                              scores
=====================  ================================  ==================================  ===================
term_deposit           bank_marketing/bank-additional-    ``y`` = subscribed a term deposit   term_deposit
                       full-train.csv
housing_loan           bank_marketing/bank-full-train     ``housing`` = holds a housing loan  mortgage
personal_loan          bank_marketing/bank-full-train     ``loan`` = holds a personal loan    personal_loan
berka_card_classic     berka_financial/derived_client_    has a classic card                  credit_card
                       product_holdings.csv
berka_card_junior      (same)                             has a junior card                   -
berka_card_gold        (same)                             has a gold card                     -
berka_loan             (same)                             has a loan                          -
berka_insurance        (same)                             pays insurance by standing order    -
berka_leasing          (same)                             pays leasing by standing order      -
=====================  ================================  ==================================  ===================

Why these mappings: the CRM profile *is* the bank-marketing schema (customers are seeded from it), so the
bank-marketing models score the products they describe. For credit cards only Berka has data; its model sees
age and the other products held, which the CRM has, and imputes the rest (see :mod:`recommender.features`).
``berka_loan`` is evaluated but ``personal_loan`` is scored by the bank-marketing model, whose features the
CRM holds in full.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import partial
from pathlib import Path

import numpy as np
import pandas as pd  # type: ignore[import-untyped]

from recommender import features as F


@dataclass(frozen=True)
class Task:
    """One propensity model.

    Attributes:
        name: registry key.
        data_file: path relative to ``settings.data_dir``.
        source: citation and licence of the data.
        target: plain description of the positive class.
        features: the feature set the model reads (target's own column already removed).
        read: ``read(path) -> (X, y)``, the feature builder for training.
        product: the catalogue id this model scores in chat and batch, or ``None``.
        family: ``"bank"`` or ``"berka"`` (which ranking evaluation it belongs to).
    """

    name: str
    data_file: Path
    source: str
    target: str
    features: F.FeatureSet
    read: Callable[[Path], tuple[pd.DataFrame, np.ndarray]]
    product: str | None
    family: str


BANK_SOURCE = "UCI Bank Marketing (Moro, Cortez & Rita 2014, Decision Support Systems 62), CC BY 4.0"
BERKA_SOURCE = "PKDD'99 Financial data set (Berka & Sochorova 1999), relational.fit.cvut.cz; no licence stated"
BANK_ADDITIONAL_FILE = Path("bank_marketing") / "bank-additional-full-train.csv"
BANK_FULL_FILE = Path("bank_marketing") / "bank-full-train.csv"
BERKA_FILE = Path("berka_financial") / "derived_client_product_holdings.csv"

_BERKA_TEXT = {
    "card_classic": "holds a classic card",
    "card_junior": "holds a junior card",
    "card_gold": "holds a gold card",
    "loan": "has a loan",
    "insurance": "pays an insurance premium by standing order",
    "leasing": "pays a leasing instalment by standing order",
}


def _tasks() -> dict[str, Task]:
    tasks = [
        Task(
            "term_deposit",
            BANK_ADDITIONAL_FILE,
            BANK_SOURCE,
            "y == 'yes': subscribed a term deposit after the call",
            F.BANK_ADDITIONAL,
            F.bank_additional_frame,
            "term_deposit",
            "bank",
        ),
        Task(
            "housing_loan",
            BANK_FULL_FILE,
            BANK_SOURCE,
            "housing == 'yes': holds a housing loan",
            F.BANK_FULL.without("housing"),
            partial(F.bank_full_frame, target="housing"),
            "mortgage",
            "bank",
        ),
        Task(
            "personal_loan",
            BANK_FULL_FILE,
            BANK_SOURCE,
            "loan == 'yes': holds a personal loan",
            F.BANK_FULL.without("loan"),
            partial(F.bank_full_frame, target="loan"),
            "personal_loan",
            "bank",
        ),
    ]
    for target, (_column, dropped) in F.BERKA_TARGETS.items():
        tasks.append(
            Task(
                f"berka_{target}",
                BERKA_FILE,
                BERKA_SOURCE,
                _BERKA_TEXT[target],
                F.BERKA.without(*dropped),
                partial(F.berka_frame, target=target),
                "credit_card" if target == "card_classic" else None,
                "berka",
            )
        )
    return {t.name: t for t in tasks}


TASKS: Mapping[str, Task] = _tasks()
TASK_NAMES: tuple[str, ...] = tuple(TASKS)
#: catalogue product → the task that scores it.
PRODUCT_TASK: Mapping[str, str] = {t.product: t.name for t in TASKS.values() if t.product is not None}


def get_task(name: str) -> Task:
    """The task called ``name``.

    Raises:
        KeyError: unknown task (the message lists the known ones).
    """
    try:
        return TASKS[name]
    except KeyError:
        raise KeyError(f"unknown model {name!r}; known: {', '.join(TASK_NAMES)}") from None
