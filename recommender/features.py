"""The one feature builder: training files and CRM profiles to the same model columns, for every model.

Three sources train the propensity models (:data:`TASKS` in :mod:`recommender.tasks` says which model uses which):

* ``bank_additional`` — UCI Bank Marketing ``bank-additional-full-train.csv`` (Moro, Cortez & Rita 2014,
  CC BY 4.0): phone campaigns of a Portuguese bank, May 2008 – Nov 2010, with the economy at the time of the call.
  Target: subscribed a term deposit.
* ``bank_full`` — UCI Bank Marketing ``bank-full-train.csv`` (same source): customer attributes with the
  average yearly balance. Targets: holds a housing loan; holds a personal loan.
* ``berka`` — PKDD'99 Financial data of a Czech bank (Berka & Sochorova, 1999; 1993-98),
  ``derived_client_product_holdings.csv``: one row per client-account with product flags. Targets: classic,
  junior and gold card, loan, insurance and leasing standing orders.

Each feature set is a fixed list of numeric (``float64``) and categorical (``object``, lower-case strings)
columns. The same set is built from a CRM profile by :func:`serving_frame` (chat) and :func:`serving_frames`
(batch): both go through :func:`profile_row`, so training, chat and batch see identical columns.

**Never used**: ``duration`` (known only after the call being predicted) and, for each target, the target's own
column and anything derived from it (``loan_amount``, ``loan_status`` and ``n_orders_uver`` for the Berka loan;
the housing column for the housing model, ...). :data:`EXCLUDED` lists them.

**CRM mapping and imputation** (``NaN`` = missing; the model pipelines fill it, see
:func:`recommender.train.build_preprocessor`: numeric gaps get the training median, categorical gaps the category
``"unknown"``, which is either a source category or an all-zero one-hot row):

=====================  ==================================================  =========================================
model column           CRM source                                          when the CRM lacks it
=====================  ==================================================  =========================================
age                    ``CustomerView.age``                                median age of the training data
job, marital           ``job``, ``marital`` (bank-marketing categories)    "unknown"
education              ``education`` (primary/secondary/tertiary); the     "unknown"
                       bank-additional levels are mapped to these three
default                ``credit_default`` → yes/no                         "unknown"
housing, loan          ``housing_loan`` / ``personal_loan`` flags, or a    "unknown"
                       mortgage / personal loan held
contact                ``contact_channel``                                 "unknown"
balance                sum of the EUR accounts (bank_full)                 training median
month                  :data:`ECONOMY_MONTH` (the month of the economy)    -
day_of_week            not a customer trait                                "unknown" (all-zero one-hot)
campaign               1 (this conversation is the first contact)          -
pdays, previous,       the latest offer event (``profiles.latest_offer_   no answered offer: 999 / 0 / "nonexistent",
poutcome               event``) if answered: days since, 1, accepted →     the source's own "not contacted" values
                       success, declined → failure (shown: not counted)
economy (emp.var.rate, :data:`ECONOMY`: the last period of the source data   -
cons.price.idx, ...)   (Nov 2010); a deployment would feed current figures
Berka gender           not in the CRM                                      "unknown" (all-zero one-hot)
Berka tenure_years     not in ``CustomerView``                             training median
Berka disp_type        "owner" (a CRM customer owns their accounts)        -
Berka stmt_frequency   not in the CRM                                      "unknown"
Berka card_classic     credit card held                                    -
Berka card_junior,     not offered by us: 0                                -
card_gold, leasing
Berka loan             personal loan or mortgage held                      -
Berka insurance,       not exposed by ``profiles`` services                training median (0)
household, n_orders
=====================  ==================================================  =========================================
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import pandas as pd  # type: ignore[import-untyped]

from profiles.schemas import EDUCATION, JOBS, MARITAL

logger = logging.getLogger(__name__)

UNKNOWN = "unknown"
NEVER_CONTACTED_PDAYS = 999.0
#: Reference date of the Berka data (its last month is Dec 1998): ages and tenures are counted to it.
BERKA_REFERENCE = date(1999, 1, 1)
#: Economic indicators fed to the term-deposit model when scoring a CRM customer: the last period of the source
#: data (Nov 2010, Banco de Portugal / INE figures as published with the data set).
ECONOMY: Mapping[str, float] = {
    "emp.var.rate": -1.1,
    "cons.price.idx": 94.767,
    "cons.conf.idx": -50.8,
    "euribor3m": 1.028,
    "nr.employed": 4963.6,
}
#: The month of :data:`ECONOMY`: the call month fed with it (the source's month is a campaign period, not a
#: customer trait; tying it to the economy keeps a customer's score from changing with the calendar).
ECONOMY_MONTH = "nov"
EXCLUDED: frozenset[str] = frozenset(
    {"duration", "loan_amount", "loan_status", "n_orders_uver", "n_permanent_orders", "client_id", "account_id"}
)

_MONTHS = ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec")
_DAYS = ("mon", "tue", "wed", "thu", "fri")

#: The categories of the bank-marketing sources (bank-names.txt, bank-additional-names.txt) after mapping.
CATEGORIES: Mapping[str, frozenset[str]] = {
    "job": frozenset({*JOBS, UNKNOWN}),  # the profile's vocabularies: one definition, profiles.schemas
    "marital": frozenset({*MARITAL, UNKNOWN}),
    "education": frozenset({*EDUCATION, UNKNOWN}),
    "default": frozenset({"yes", "no", UNKNOWN}),
    "housing": frozenset({"yes", "no", UNKNOWN}),
    "loan": frozenset({"yes", "no", UNKNOWN}),
    "contact": frozenset({"cellular", "telephone", UNKNOWN}),
    "month": frozenset(_MONTHS),
    "day_of_week": frozenset(_DAYS),
    "poutcome": frozenset({"success", "failure", "nonexistent"}),
    "gender": frozenset({"f", "m"}),
    "disp_type": frozenset({"owner", "disponent"}),
    "stmt_frequency": frozenset({"monthly", "weekly", "after_transaction"}),
}

#: Spellings a source or the CRM may use for a category.
_ALIASES: Mapping[str, Mapping[str, str]] = {
    "job": {"admin": "admin.", "blue collar": "blue-collar", "self employed": "self-employed"},
    "marital": {"widowed": "divorced"},  # the source's "divorced" means divorced or widowed
    "education": {
        "basic.4y": "primary",
        "basic.6y": "primary",
        "basic.9y": "primary",
        "illiterate": "primary",
        "high.school": "secondary",
        "professional.course": "secondary",
        "university.degree": "tertiary",
    },
    "contact": {"mobile": "cellular", "cell": "cellular", "phone": "telephone", "landline": "telephone"},
    "poutcome": {"unknown": "nonexistent", "other": "failure"},
    "stmt_frequency": {
        "poplatek mesicne": "monthly",
        "poplatek tydne": "weekly",
        "poplatek po obratu": "after_transaction",
    },
}


@dataclass(frozen=True)
class FeatureSet:
    """The columns one model reads: ``numeric`` (float64) then ``categorical`` (object), in this order."""

    name: str
    numeric: tuple[str, ...]
    categorical: tuple[str, ...]

    @property
    def columns(self) -> tuple[str, ...]:
        """All columns, numeric first."""
        return (*self.numeric, *self.categorical)

    def without(self, *dropped: str) -> FeatureSet:
        """The same set minus ``dropped`` (a target's own column)."""
        return FeatureSet(
            self.name,
            tuple(c for c in self.numeric if c not in dropped),
            tuple(c for c in self.categorical if c not in dropped),
        )


_BANK_PROFILE = ("job", "marital", "education", "default", "housing", "loan")
#: Term deposit (bank_additional): profile + the campaign history + the economy at the time of the call.
BANK_ADDITIONAL = FeatureSet(
    "bank_additional",
    numeric=("age", "campaign", "pdays", "previous", *ECONOMY),
    categorical=(*_BANK_PROFILE, "contact", "month", "day_of_week", "poutcome"),
)
#: Housing / personal loan (bank_full): customer traits only (campaign timing is not a trait of the customer).
BANK_FULL = FeatureSet("bank_full", numeric=("age", "balance"), categorical=_BANK_PROFILE)
_BERKA_HOLDINGS = ("card_classic", "card_junior", "card_gold", "loan", "insurance", "leasing", "household")
#: Berka: demographics, tenure and the other products held (0/1 numerics).
BERKA = FeatureSet(
    "berka",
    numeric=("age", "tenure_years", *_BERKA_HOLDINGS, "n_other_orders"),
    categorical=("gender", "disp_type", "stmt_frequency"),
)


class ProfileLike(Protocol):
    """The attributes of ``profiles.schemas.CustomerView`` this module reads (``None`` = unknown)."""

    @property
    def age(self) -> int | None: ...
    @property
    def job(self) -> str | None: ...
    @property
    def marital(self) -> str | None: ...
    @property
    def education(self) -> str | None: ...
    @property
    def credit_default(self) -> bool | None: ...
    @property
    def housing_loan(self) -> bool | None: ...
    @property
    def personal_loan(self) -> bool | None: ...
    @property
    def contact_channel(self) -> str | None: ...


@dataclass(frozen=True)
class CustomerContext:
    """Everything the recommender knows about one customer when scoring (chat and batch alike).

    Attributes:
        customer: the CRM profile (``profiles.schemas.CustomerView`` or the same attributes).
        total_balance: EUR, the sum of the customer's EUR accounts; ``None`` if unknown.
        held: catalogue ids of the products held (``profiles.products_held``).
        last_offer: ``profiles.latest_offer_event``: ``(product, outcome, when)`` or ``None``.
        credit_band: the CRM's credit-risk band (``CustomerScore.credit_band``) or ``None`` if not scored.
        now: the scoring time (aware UTC); sets the days since the last answered offer (``pdays``).
    """

    customer: ProfileLike
    total_balance: Decimal | None = None
    held: frozenset[str] = frozenset()
    last_offer: tuple[str, str, datetime] | None = None
    credit_band: str | None = None
    now: datetime = field(default_factory=lambda: datetime.now(UTC))


def _category(column: str, value: object) -> object:
    """One categorical value as a known lower-case category, or ``NaN`` when missing or unrecognised."""
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return np.nan
    text = str(value).strip().lower()
    if not text:
        return np.nan
    text = _ALIASES.get(column, {}).get(text, text)
    if text not in CATEGORIES[column]:
        logger.debug("unrecognised %s value treated as missing", column)
        return np.nan
    return text


def _yes_no(flag: bool | None) -> object:
    return np.nan if flag is None else ("yes" if flag else "no")


def coerce(frame: pd.DataFrame, features: FeatureSet) -> pd.DataFrame:
    """``frame[features.columns]`` with float numerics and categoricals normalised to :data:`CATEGORIES`.

    A column absent from ``frame`` is all ``NaN`` (imputed by the pipeline).
    """
    columns: dict[str, Any] = {}
    for column in features.numeric:
        values = frame[column] if column in frame else pd.Series(np.nan, index=frame.index)
        columns[column] = pd.Series(
            pd.to_numeric(values, errors="coerce").to_numpy(dtype="float64"), index=frame.index, dtype="float64"
        )
    for column in features.categorical:
        raw = frame[column].tolist() if column in frame else [None] * len(frame)
        columns[column] = pd.Series([_category(column, v) for v in raw], index=frame.index, dtype="object")
    return pd.DataFrame(columns, index=frame.index, columns=list(features.columns))


def _read_bank_csv(path: str | Path, required: Iterable[str]) -> pd.DataFrame:
    raw = pd.read_csv(path, sep=";", dtype=str, keep_default_na=False, na_values=[""])
    missing = [c for c in required if c not in raw.columns]
    if missing:
        raise ValueError(f"{path}: missing column(s) {', '.join(missing)} (is it ';'-separated?)")
    if raw.empty:
        raise ValueError(f"{path}: no rows")
    return raw


def _yes_no_target(raw: pd.DataFrame, column: str, path: str | Path) -> np.ndarray:
    target = raw[column].fillna("").str.strip().str.lower()
    bad = ~target.isin(["yes", "no"])
    if bad.any():
        raise ValueError(f"{path}: column {column} must be yes/no; {int(bad.sum())} row(s) are not")
    return (target == "yes").to_numpy(dtype=np.int64)


def bank_additional_frame(path: str | Path) -> tuple[pd.DataFrame, np.ndarray]:
    """Read ``bank-additional-full-train.csv`` into :data:`BANK_ADDITIONAL` features and the term-deposit target.

    ``pdays`` keeps the source's 999 for "never contacted before". ``duration`` is read and dropped.

    Returns:
        ``(X, y)``: ``X`` of shape ``(n, 19)``; ``y`` int64 ``(n,)``, 1 = subscribed a term deposit.

    Raises:
        FileNotFoundError: no such file.
        ValueError: a required column is missing, no rows, or ``y`` is not yes/no.
    """
    raw = _read_bank_csv(path, (*BANK_ADDITIONAL.columns, "y"))
    return coerce(raw, BANK_ADDITIONAL), _yes_no_target(raw, "y", path)


def bank_full_frame(path: str | Path, target: str) -> tuple[pd.DataFrame, np.ndarray]:
    """Read ``bank-full-train.csv`` into :data:`BANK_FULL` features without ``target``, and ``target`` as 0/1.

    Args:
        path: the ``;``-separated file.
        target: ``"housing"`` (holds a housing loan) or ``"loan"`` (holds a personal loan).

    Returns:
        ``(X, y)``: ``X`` of shape ``(n, 7)`` (the target's column left out); ``y`` int64 ``(n,)``.

    Raises:
        FileNotFoundError, ValueError: as :func:`bank_additional_frame`; ValueError for another ``target``.
    """
    if target not in ("housing", "loan"):
        raise ValueError(f"bank_full target must be housing or loan, not {target!r}")
    raw = _read_bank_csv(path, BANK_FULL.columns)
    return coerce(raw, BANK_FULL.without(target)), _yes_no_target(raw, target, path)


#: Berka targets: name → how it is read from the holdings file, and the columns it must not see.
BERKA_TARGETS: Mapping[str, tuple[str, tuple[str, ...]]] = {
    "card_classic": ("has_card_classic", ("card_classic",)),
    "card_junior": ("has_card_junior", ("card_junior",)),
    "card_gold": ("has_card_gold", ("card_gold",)),
    "loan": ("has_loan", ("loan",)),
    "insurance": ("n_orders_pojistne", ("insurance",)),
    "leasing": ("n_orders_leasing", ("leasing",)),
}


def _years(later: pd.Series, earlier: pd.Series) -> pd.Series:
    return (later - earlier).dt.days / 365.25


def berka_frame(path: str | Path, target: str) -> tuple[pd.DataFrame, np.ndarray]:
    """Read ``derived_client_product_holdings.csv`` into :data:`BERKA` features without ``target`` and the target.

    Age and tenure are in years at :data:`BERKA_REFERENCE`. Holdings are 0/1 (a standing order of that kind
    counts as holding insurance / leasing / a household payment). ``n_other_orders`` counts the standing
    orders that are neither the target's kind nor loan repayments.

    Args:
        path: the holdings file (comma-separated, one row per client-account).
        target: a key of :data:`BERKA_TARGETS`.

    Returns:
        ``(X, y)``: ``X`` of shape ``(n, 13)``, ``y`` int64 ``(n,)``, 1 = holds the product.

    Raises:
        FileNotFoundError: no such file.
        ValueError: unknown target or a missing column.
    """
    if target not in BERKA_TARGETS:
        raise ValueError(f"unknown Berka target {target!r}; known: {', '.join(BERKA_TARGETS)}")
    raw = pd.read_csv(path)
    needed = ("gender", "birth_date", "account_opened", "disp_type", "stmt_frequency", "n_permanent_orders")
    missing = [c for c in needed if c not in raw.columns]
    if missing:
        raise ValueError(f"{path}: missing column(s) {', '.join(missing)}")
    ref = pd.Timestamp(BERKA_REFERENCE)
    frame = pd.DataFrame(index=raw.index)
    frame["age"] = _years(pd.Series(ref, index=raw.index), pd.to_datetime(raw["birth_date"]))
    frame["tenure_years"] = _years(pd.Series(ref, index=raw.index), pd.to_datetime(raw["account_opened"]))
    frame["card_classic"] = raw["has_card_classic"]
    frame["card_junior"] = raw["has_card_junior"]
    frame["card_gold"] = raw["has_card_gold"]
    frame["loan"] = raw["has_loan"]
    frame["insurance"] = (raw["n_orders_pojistne"] > 0).astype(int)
    frame["leasing"] = (raw["n_orders_leasing"] > 0).astype(int)
    frame["household"] = (raw["n_orders_sipo"] > 0).astype(int)
    own_orders = {"insurance": "n_orders_pojistne", "leasing": "n_orders_leasing"}.get(target)
    others = raw["n_permanent_orders"] - raw["n_orders_uver"]
    if own_orders:
        others = others - raw[own_orders]
    frame["n_other_orders"] = others
    frame["gender"] = raw["gender"]
    frame["disp_type"] = raw["disp_type"]
    frame["stmt_frequency"] = raw["stmt_frequency"]
    column, dropped = BERKA_TARGETS[target]
    y = (raw[column] > 0).to_numpy(dtype=np.int64)
    return coerce(frame, BERKA.without(*dropped)), y


# --- Serving: CRM profile → model columns ----------------------------------------------------------------


def _offer_history(last: tuple[str, str, datetime] | None, now: datetime) -> dict[str, Any]:
    if last is None or last[1] not in ("accepted", "declined"):
        return {"pdays": NEVER_CONTACTED_PDAYS, "previous": 0.0, "poutcome": "nonexistent"}
    _product, outcome, when = last
    when = when if when.tzinfo else when.replace(tzinfo=UTC)
    days = max(0, (now - when).days)
    return {"pdays": float(days), "previous": 1.0, "poutcome": "success" if outcome == "accepted" else "failure"}


def profile_row(ctx: CustomerContext) -> dict[str, Any]:
    """Every model column any feature set reads, for one CRM customer (see the module table).

    Unknown values are ``None``; :func:`coerce` turns them into ``NaN`` for the pipeline to impute.
    """
    c = ctx.customer
    now = ctx.now if ctx.now.tzinfo else ctx.now.replace(tzinfo=UTC)
    held = ctx.held
    housing = True if "mortgage" in held else c.housing_loan
    personal = True if "personal_loan" in held else c.personal_loan
    row: dict[str, Any] = {
        "age": c.age,
        "job": c.job,
        "marital": c.marital,
        "education": c.education,
        "default": _yes_no(c.credit_default),
        "housing": _yes_no(housing),
        "loan": _yes_no(personal),
        "contact": c.contact_channel,
        "balance": None if ctx.total_balance is None else float(ctx.total_balance),
        "month": ECONOMY_MONTH,
        "day_of_week": None,
        "campaign": 1.0,
        **_offer_history(ctx.last_offer, now),
        **ECONOMY,
        # Berka columns
        "tenure_years": None,
        "card_classic": 1.0 if "credit_card" in held else 0.0,
        "card_junior": 0.0,
        "card_gold": 0.0,
        "insurance": None,
        "leasing": 0.0,
        "household": None,
        "n_other_orders": None,
        "gender": None,
        "disp_type": "owner",
        "stmt_frequency": None,
    }
    return row


def berka_loan(ctx: CustomerContext) -> float:
    """The Berka ``loan`` column of a CRM customer: 1.0 if any loan (personal loan or mortgage) is held."""
    return 1.0 if {"personal_loan", "mortgage"} & ctx.held else 0.0


def serving_frames(features: FeatureSet, contexts: Sequence[CustomerContext]) -> pd.DataFrame:
    """Model input for many customers (batch scoring): one row per context, columns ``features.columns``.

    The Berka ``loan`` column means "holds any loan" while the bank-marketing ``loan`` is the personal-loan
    flag: the feature set's name decides which one is built.
    """
    rows = serving_rows(features, contexts)
    frame = pd.DataFrame(rows, columns=sorted({k for r in rows for k in r} | set(features.columns)))
    return coerce(frame, features)


def serving_rows(features: FeatureSet, contexts: Sequence[CustomerContext]) -> list[dict[str, Any]]:
    """:func:`profile_row` of each context, with the Berka ``loan`` meaning for a Berka feature set."""
    rows = []
    for ctx in contexts:
        row = profile_row(ctx)
        if features.name == "berka":
            row["loan"] = berka_loan(ctx)
        rows.append(row)
    return rows


def _number(value: object) -> float:
    """One numeric value as :func:`coerce` reads it (``pd.to_numeric(errors="coerce")``): NaN if not a number."""
    if value is None:
        return float("nan")
    try:
        return float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return float("nan")


_category_memo: dict[tuple[str, object], object] = {}


def values_from_rows(
    features: FeatureSet, rows: Sequence[Mapping[str, Any]]
) -> tuple[np.ndarray, list[tuple[object, ...]]]:
    """The values :func:`coerce` would put in a frame of ``rows``, without pandas (the fast scoring path).

    Returns:
        ``(numeric, categorical)``: a float64 array ``(len(rows), len(features.numeric))`` (``NaN`` = missing)
        and one tuple per row of the categorical values (a known category, or ``NaN``), in column order.
    """
    n = len(rows)
    numeric = np.empty((n, len(features.numeric)), dtype=np.float64)
    for j, column in enumerate(features.numeric):
        values = [row.get(column) for row in rows]
        try:  # numbers and None (-> NaN) convert in one call
            numeric[:, j] = np.array(values, dtype=np.float64)
        except (TypeError, ValueError):  # a string or another object: one value at a time
            numeric[:, j] = [_number(v) for v in values]
    memo = _category_memo
    columns = []
    for column in features.categorical:
        out = []
        for row in rows:
            raw = row.get(column)
            try:
                value = memo[(column, raw)]
            except KeyError:
                value = _category(column, raw)
                if len(memo) < 10_000:
                    memo[(column, raw)] = value
            except TypeError:  # an unhashable value
                value = _category(column, raw)
            out.append(value)
        columns.append(out)
    categorical: list[tuple[object, ...]] = list(zip(*columns, strict=True)) if columns else [()] * n
    return numeric, categorical


def row_values(features: FeatureSet, numeric: np.ndarray, categorical: Sequence[object]) -> dict[str, Any]:
    """Column → value of one row of :func:`values_from_rows` (``numeric``: that row's 1-d array)."""
    return {
        **dict(zip(features.numeric, numeric.tolist(), strict=True)),
        **dict(zip(features.categorical, categorical, strict=True)),
    }


def serving_values(
    features: FeatureSet, contexts: Sequence[CustomerContext]
) -> tuple[np.ndarray, list[tuple[object, ...]]]:
    """Model input for many customers as arrays: :func:`values_from_rows` of :func:`serving_rows`.

    The same values as :func:`serving_frames` (which the reference path and the explanations' frames use).
    """
    return values_from_rows(features, serving_rows(features, contexts))


def serving_frame(features: FeatureSet, ctx: CustomerContext) -> pd.DataFrame:
    """Model input for one customer (chat): a ``(1, len(features.columns))`` frame."""
    return serving_frames(features, [ctx])
