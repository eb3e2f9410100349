"""The one feature builder of the analyses: CRM tables -> a pandas frame, one row per customer.

:func:`build_features` is used by model training mappings (churn, credit, segments), by the batch scoring
(:mod:`analytics.batch`) and, through ``score_customers``, by the API alike. It reads a set of
customers with a fixed number of grouped SQL queries (no per-customer query), so a chunk of thousands of
customers costs the same handful of round trips on SQLite and PostgreSQL.

The frame's index is ``customer_id`` (int, ascending). Its columns are :data:`COLUMNS` (name -> unit and
imputation when missing); every money column is a ``float`` in EUR, every ``*_days`` column a ``float`` in days
measured back from ``as_of`` (the time of the run, UTC, unless given). "Open" means ``closed_at IS NULL``;
cards count only when also ``status = 'active'``. Windows ("90d") are ``(as_of - 90 days, as_of]``.

Nothing here writes to the database.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any, Final

import numpy as np
import pandas as pd  # type: ignore[import-untyped]
from sqlalchemy import ColumnElement, and_, case, func, select
from sqlalchemy.orm import InstrumentedAttribute, Session

from profiles.models import (
    Account,
    Card,
    Customer,
    InsurancePolicy,
    Interaction,
    Loan,
    OfferEvent,
    Transaction,
)

WINDOW_DAYS: Final = 90
UNKNOWN: Final = "unknown"

#: Merchants whose card payments are household bills (energy, telecoms): the CRM analogue of Berka's
#: "SIPO" (household) standing orders, read by the credit model.
HOUSEHOLD_MERCHANTS: Final = ("EDP", "Vodafone", "Galp", "MEO", "NOS", "EPAL", "Endesa", "Iberdrola")

#: Annual gross income (EUR) assumed when ``customers.annual_income`` is missing, by the bank-marketing job
#: category. Base 18,000 EUR = about the Portuguese average monthly gross earnings (~1,300 EUR) x 14 payments
#: (INE/Pordata order of magnitude), scaled by a relative factor per job. These are Atlantic Bank planning
#: assumptions, not measured figures; a customer's stated income always wins.
INCOME_BY_JOB: Final[dict[str, float]] = {
    "management": 32_400.0,
    "entrepreneur": 27_000.0,
    "self-employed": 21_600.0,
    "technician": 21_600.0,
    "admin.": 18_000.0,
    "services": 14_400.0,
    "blue-collar": 14_400.0,
    "housemaid": 10_800.0,
    "retired": 12_600.0,
    "unemployed": 7_200.0,
    "student": 5_400.0,
    UNKNOWN: 18_000.0,
}

#: Every column of the frame: unit, meaning, and the imputation applied when the CRM has no value.
COLUMNS: Final[dict[str, str]] = {
    "age": "years (customers.age); never missing in the CRM (NOT NULL)",
    "job": "bank-marketing job category (customers.job); empty -> 'unknown'",
    "marital": "married / single / divorced (customers.marital); empty -> 'unknown'",
    "education": "primary / secondary / tertiary / unknown (customers.education); empty -> 'unknown'",
    "region": "NUTS II region (customers.region); empty -> 'unknown'",
    "household_size": "people in the household incl. the customer; missing -> 2 if married else 1, plus children",
    "children": "dependent children; missing -> 0",
    "annual_income_eur": "EUR/year gross (customers.annual_income); missing -> INCOME_BY_JOB[job]",
    "income_imputed": "bool: annual_income_eur came from INCOME_BY_JOB",
    "tenure_days": "days since customers.created_at (relationship start); never missing",
    "credit_default": "bool: customers.credit_default (credit in default, bank-marketing 'default')",
    "marketing_consent": "bool: customers.marketing_consent",
    "preferred_channel": "customers.preferred_channel (set by the feed); missing -> 'unknown'",
    "balance_current_eur": "EUR, sum of open current accounts (negative = overdrawn); none -> 0",
    "balance_savings_eur": "EUR, sum of open savings accounts; none -> 0",
    "balance_term_deposit_eur": "EUR, sum of open term deposits; none -> 0",
    "balance_total_eur": "EUR, sum of the three above",
    "n_accounts": "count of open accounts; none -> 0",
    "has_current_account": "bool", "has_savings_account": "bool", "has_term_deposit": "bool",
    "n_debit_cards": "count of open active debit cards; none -> 0",
    "n_credit_cards": "count of open active credit cards; none -> 0",
    "has_credit_card": "bool: n_credit_cards > 0",
    "n_personal_loans": "count of open personal loans; none -> 0",
    "n_mortgages": "count of open mortgages; none -> 0",
    "loans_outstanding_eur": "EUR still owed on open loans; none -> 0",
    "loans_principal_eur": "EUR originally lent on open loans; none -> 0",
    "personal_loans_principal_eur": "EUR originally lent on open personal loans; none -> 0",
    "personal_loans_outstanding_eur": "EUR still owed on open personal loans; none -> 0",
    "mortgages_outstanding_eur": "EUR still owed on open mortgages; none -> 0",
    "loan_age_days": "days since the oldest open loan was opened; no loan -> NaN",
    "n_insurance_policies": "count of open insurance policies; none -> 0",
    "insurance_premium_monthly_eur": "EUR/month, sum of open policies' premiums; none -> 0",
    "product_count": "distinct products held: current_account, savings_account, term_deposit, credit_card, "
    "personal_loan, mortgage, and each insurance kind (0..10)",
    "txn_count_90d": "count of transactions on the customer's accounts in the window; none -> 0",
    "txn_out_eur_90d": "EUR paid out in the window (positive number); none -> 0",
    "txn_in_eur_90d": "EUR paid in in the window; none -> 0",
    "household_payments_90d": "count of payments to HOUSEHOLD_MERCHANTS in the window; none -> 0",
    "last_txn_days": "days since the last transaction (all time); never -> NaN",
    "interactions_90d": "count of interactions (any kind and direction) in the window; none -> 0",
    "inbound_90d": "count of inbound interactions (the customer talking to us) in the window; none -> 0",
    "complaints_90d": "count of interactions of kind 'complaint' in the window; none -> 0",
    "recency_days": "days since the last interaction (all time); never -> NaN",
    "last_activity_days": "days since the last transaction or interaction, whichever is later; never -> NaN",
    "channel_counts_90d": "dict channel -> inbound interactions in the window; none -> {}",
    "offers_accepted": "count of offers accepted (offer_events, all time); none -> 0",
    "offers_declined": "count of offers declined (all time); none -> 0",
    "offers_shown": "count of offers shown (all time); none -> 0",
}

_MONEY_COLUMNS = (
    "balance_current_eur", "balance_savings_eur", "balance_term_deposit_eur", "loans_outstanding_eur",
    "loans_principal_eur", "personal_loans_principal_eur", "personal_loans_outstanding_eur", "mortgages_outstanding_eur",
    "insurance_premium_monthly_eur", "txn_out_eur_90d", "txn_in_eur_90d",
)
_COUNT_COLUMNS = (
    "n_accounts", "n_debit_cards", "n_credit_cards", "n_personal_loans", "n_mortgages", "n_insurance_policies",
    "txn_count_90d", "household_payments_90d", "interactions_90d", "inbound_90d", "complaints_90d",
    "offers_accepted", "offers_declined", "offers_shown",
)


def _ids_filter(column: InstrumentedAttribute[int], ids: Sequence[int], contiguous: bool) -> ColumnElement[bool]:
    if contiguous:
        return column.between(ids[0], ids[-1])
    return column.in_(list(ids))


def _num(value: Any) -> float:
    return 0.0 if value is None else float(value)


def _as_datetime(value: Any) -> datetime | None:
    """MAX()/MIN() over a datetime column, as an aware UTC datetime (SQLite may give naive or text)."""
    if value is None:
        return None
    moment = value if isinstance(value, datetime) else datetime.fromisoformat(str(value))
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def build_features(
    session: Session,
    customer_ids: Iterable[int],
    *,
    as_of: datetime | None = None,
    contiguous: bool = False,
) -> pd.DataFrame:
    """Return the feature frame (see :data:`COLUMNS`) for ``customer_ids``, index ``customer_id`` ascending.

    Args:
        session: an open session (read only is enough).
        customer_ids: the customers to read; ids that do not exist are left out of the frame.
        as_of: the time "now" for windows and ``*_days`` (aware; default: the current time, UTC).
        contiguous: the caller guarantees ``customer_ids`` are *every* customer id between the smallest and
            the largest (a keyset-pagination chunk), so the queries use ``BETWEEN`` instead of ``IN``.

    Returns:
        A ``pandas.DataFrame`` with the :data:`COLUMNS` columns (money ``float`` EUR, counts ``int``, flags
        ``bool``, ``*_days`` ``float`` with NaN for "never"); empty (with those columns) when no id exists.
    """
    ids = sorted(set(customer_ids))
    now = as_of or datetime.now(UTC)
    if now.tzinfo is None:
        now = now.replace(tzinfo=UTC)
    if not ids:
        return empty_frame()
    since = now - timedelta(days=WINDOW_DAYS)

    customers = session.execute(
        select(
            Customer.id, Customer.age, Customer.job, Customer.marital, Customer.education, Customer.region,
            Customer.household_size, Customer.children, Customer.annual_income, Customer.created_at,
            Customer.credit_default, Customer.marketing_consent, Customer.preferred_channel,
        )
        .where(_ids_filter(Customer.id, ids, contiguous))
        .order_by(Customer.id)
    ).all()
    if not customers:
        return empty_frame()
    agg: dict[int, dict[str, Any]] = defaultdict(dict)

    for cid, kind, n, total in session.execute(
        select(Account.customer_id, Account.kind, func.count(), func.sum(Account.balance))
        .where(_ids_filter(Account.customer_id, ids, contiguous), Account.closed_at.is_(None))
        .group_by(Account.customer_id, Account.kind)
    ):
        row = agg[cid]
        row[f"n_{kind}"] = int(n)
        row[f"balance_{kind}_eur"] = _num(total)

    for cid, kind, n in session.execute(
        select(Card.customer_id, Card.kind, func.count())
        .where(_ids_filter(Card.customer_id, ids, contiguous), Card.closed_at.is_(None), Card.status == "active")
        .group_by(Card.customer_id, Card.kind)
    ):
        agg[cid][f"n_{kind}_cards"] = int(n)

    for cid, kind, n, outstanding, principal, opened in session.execute(
        select(
            Loan.customer_id, Loan.kind, func.count(), func.sum(Loan.outstanding), func.sum(Loan.principal),
            func.min(Loan.created_at),
        )
        .where(_ids_filter(Loan.customer_id, ids, contiguous), Loan.closed_at.is_(None))
        .group_by(Loan.customer_id, Loan.kind)
    ):
        row = agg[cid]
        row[f"n_{kind}"] = int(n)
        row[f"{kind}_outstanding"] = _num(outstanding)
        row[f"{kind}_principal"] = _num(principal)
        first = _as_datetime(opened)
        if first is not None:
            previous = row.get("loan_opened")
            row["loan_opened"] = first if previous is None else min(previous, first)

    for cid, _kind, n, premium in session.execute(
        select(InsurancePolicy.customer_id, InsurancePolicy.kind, func.count(), func.sum(InsurancePolicy.monthly_premium))
        .where(_ids_filter(InsurancePolicy.customer_id, ids, contiguous), InsurancePolicy.closed_at.is_(None))
        .group_by(InsurancePolicy.customer_id, InsurancePolicy.kind)
    ):
        row = agg[cid]
        row["insurance_kinds"] = row.get("insurance_kinds", 0) + 1
        row["n_insurance_policies"] = row.get("n_insurance_policies", 0) + int(n)
        row["insurance_premium_monthly_eur"] = row.get("insurance_premium_monthly_eur", 0.0) + _num(premium)

    in_window = and_(Transaction.booked_at > since, Transaction.booked_at <= now)
    for cid, n, out, inn, household, last in session.execute(
        select(
            Account.customer_id,
            func.sum(case((in_window, 1), else_=0)),
            func.sum(case((and_(in_window, Transaction.amount < 0), Transaction.amount), else_=None)),
            func.sum(case((and_(in_window, Transaction.amount > 0), Transaction.amount), else_=None)),
            func.sum(case((and_(in_window, Transaction.merchant.in_(HOUSEHOLD_MERCHANTS)), 1), else_=0)),
            func.max(Transaction.booked_at),
        )
        .join(Account, Account.id == Transaction.account_id)
        .where(_ids_filter(Account.customer_id, ids, contiguous))
        .group_by(Account.customer_id)
    ):
        row = agg[cid]
        row["txn_count_90d"] = int(n or 0)
        row["txn_out_eur_90d"] = -_num(out)
        row["txn_in_eur_90d"] = _num(inn)
        row["household_payments_90d"] = int(household or 0)
        row["last_txn"] = _as_datetime(last)

    i_window = and_(Interaction.occurred_at > since, Interaction.occurred_at <= now)
    for cid, n, inbound, complaints, last in session.execute(
        select(
            Interaction.customer_id,
            func.sum(case((i_window, 1), else_=0)),
            func.sum(case((and_(i_window, Interaction.direction == "inbound"), 1), else_=0)),
            func.sum(case((and_(i_window, Interaction.kind == "complaint"), 1), else_=0)),
            func.max(Interaction.occurred_at),
        )
        .where(_ids_filter(Interaction.customer_id, ids, contiguous))
        .group_by(Interaction.customer_id)
    ):
        row = agg[cid]
        row["interactions_90d"] = int(n or 0)
        row["inbound_90d"] = int(inbound or 0)
        row["complaints_90d"] = int(complaints or 0)
        row["last_interaction"] = _as_datetime(last)

    for cid, channel, n in session.execute(
        select(Interaction.customer_id, Interaction.channel, func.count())
        .where(
            _ids_filter(Interaction.customer_id, ids, contiguous),
            i_window,
            Interaction.direction == "inbound",
        )
        .group_by(Interaction.customer_id, Interaction.channel)
    ):
        agg[cid].setdefault("channels", {})[channel] = int(n)

    for cid, outcome, n in session.execute(
        select(OfferEvent.customer_id, OfferEvent.outcome, func.count())
        .where(_ids_filter(OfferEvent.customer_id, ids, contiguous))
        .group_by(OfferEvent.customer_id, OfferEvent.outcome)
    ):
        agg[cid][f"offers_{outcome}"] = int(n)

    return _assemble(customers, agg, now)


def _text_column(values: pd.Series) -> pd.Series:
    cleaned = values.fillna("").astype(str).str.strip()
    return cleaned.str.lower().where(cleaned != "", UNKNOWN)


def _days_column(now: datetime, values: pd.Series) -> pd.Series:
    """Days from each datetime (aware, or None/NaT = never -> NaN) to ``now``, never negative."""
    moments = pd.to_datetime(values, utc=True)
    return ((pd.Timestamp(now) - moments).dt.total_seconds() / 86400.0).clip(lower=0.0).astype("float64")


def _assemble(customers: Sequence[Any], agg: dict[int, dict[str, Any]], now: datetime) -> pd.DataFrame:
    """The frame from the customers' rows and the per-customer aggregates, column by column (vectorised)."""
    base = pd.DataFrame(
        [tuple(c) for c in customers],
        columns=["customer_id", "age", "job", "marital", "education", "region", "household_size", "children",
                 "annual_income", "created_at", "credit_default", "marketing_consent", "preferred_channel"],
    ).set_index("customer_id")
    extra = pd.DataFrame.from_dict(agg, orient="index") if agg else pd.DataFrame(index=base.index)
    extra = extra.reindex(base.index)

    def col(name: str, default: Any = 0) -> pd.Series:
        if name not in extra.columns:
            return pd.Series(default, index=base.index, dtype=object if default is None else None)
        return extra[name] if default is None else extra[name].fillna(default)

    out = pd.DataFrame(index=base.index)
    out["age"] = base["age"].astype("float64")
    out["job"] = _text_column(base["job"])
    out["marital"] = _text_column(base["marital"])
    out["education"] = _text_column(base["education"])
    region = base["region"].fillna("").astype(str).str.strip()
    out["region"] = region.where(region != "", UNKNOWN)
    children = pd.to_numeric(base["children"]).fillna(0).astype("int64")
    default_household = pd.Series(np.where(out["marital"] == "married", 2, 1), index=base.index) + children
    out["household_size"] = pd.to_numeric(base["household_size"]).fillna(default_household).astype("int64")
    out["children"] = children
    income_known = base["annual_income"].notna()
    imputed_income = out["job"].map(INCOME_BY_JOB).fillna(INCOME_BY_JOB[UNKNOWN]).astype("float64")
    stated_income = pd.to_numeric(base["annual_income"].map(lambda v: None if v is None else float(v)))
    out["annual_income_eur"] = stated_income.where(income_known, imputed_income).astype("float64")
    out["income_imputed"] = ~income_known
    out["tenure_days"] = _days_column(now, base["created_at"])
    out["credit_default"] = base["credit_default"].astype(bool)
    out["marketing_consent"] = base["marketing_consent"].astype(bool)
    out["preferred_channel"] = _text_column(base["preferred_channel"])

    current = col("balance_current_eur", 0.0)
    savings = col("balance_savings_eur", 0.0)
    term = col("balance_term_deposit_eur", 0.0)
    n_current, n_savings, n_term = col("n_current"), col("n_savings"), col("n_term_deposit")
    n_credit = col("n_credit_cards")
    n_personal, n_mortgage = col("n_personal_loan"), col("n_mortgage")
    out["balance_current_eur"] = current
    out["balance_savings_eur"] = savings
    out["balance_term_deposit_eur"] = term
    out["balance_total_eur"] = current + savings + term
    out["n_accounts"] = n_current + n_savings + n_term
    out["has_current_account"] = n_current > 0
    out["has_savings_account"] = n_savings > 0
    out["has_term_deposit"] = n_term > 0
    out["n_debit_cards"] = col("n_debit_cards")
    out["n_credit_cards"] = n_credit
    out["has_credit_card"] = n_credit > 0
    out["n_personal_loans"] = n_personal
    out["n_mortgages"] = n_mortgage
    personal_out, mortgage_out = col("personal_loan_outstanding", 0.0), col("mortgage_outstanding", 0.0)
    personal_principal = col("personal_loan_principal", 0.0)
    out["loans_outstanding_eur"] = personal_out + mortgage_out
    out["loans_principal_eur"] = personal_principal + col("mortgage_principal", 0.0)
    out["personal_loans_principal_eur"] = personal_principal
    out["personal_loans_outstanding_eur"] = personal_out
    out["mortgages_outstanding_eur"] = mortgage_out
    out["loan_age_days"] = _days_column(now, col("loan_opened", None))
    out["n_insurance_policies"] = col("n_insurance_policies")
    out["insurance_premium_monthly_eur"] = col("insurance_premium_monthly_eur", 0.0)
    out["product_count"] = (
        (n_current > 0).astype(int) + (n_savings > 0).astype(int) + (n_term > 0).astype(int)
        + (n_credit > 0).astype(int) + (n_personal > 0).astype(int) + (n_mortgage > 0).astype(int)
        + col("insurance_kinds")
    )
    out["txn_count_90d"] = col("txn_count_90d")
    out["txn_out_eur_90d"] = col("txn_out_eur_90d", 0.0)
    out["txn_in_eur_90d"] = col("txn_in_eur_90d", 0.0)
    out["household_payments_90d"] = col("household_payments_90d")
    last_txn = _days_column(now, col("last_txn", None))
    out["last_txn_days"] = last_txn
    out["interactions_90d"] = col("interactions_90d")
    out["inbound_90d"] = col("inbound_90d")
    out["complaints_90d"] = col("complaints_90d")
    recency = _days_column(now, col("last_interaction", None))
    out["recency_days"] = recency
    out["last_activity_days"] = np.fmin(last_txn, recency)
    out["channel_counts_90d"] = [dict(sorted(c.items())) if isinstance(c, dict) else {} for c in col("channels", None)]
    out["offers_accepted"] = col("offers_accepted")
    out["offers_declined"] = col("offers_declined")
    out["offers_shown"] = col("offers_shown")
    return _typed(out[list(COLUMNS)])


def _typed(frame: pd.DataFrame) -> pd.DataFrame:
    for column in _MONEY_COLUMNS + ("age", "annual_income_eur", "balance_total_eur", "tenure_days",
                                     "loan_age_days", "last_txn_days", "recency_days", "last_activity_days"):
        frame[column] = frame[column].astype("float64")
    for column in _COUNT_COLUMNS + ("household_size", "children", "product_count"):
        frame[column] = frame[column].astype("int64")
    for column in ("income_imputed", "credit_default", "marketing_consent", "has_current_account",
                   "has_savings_account", "has_term_deposit", "has_credit_card"):
        frame[column] = frame[column].astype(bool)
    frame.index = frame.index.astype("int64")
    frame.index.name = "customer_id"
    return frame


def empty_frame() -> pd.DataFrame:
    """A frame with the :data:`COLUMNS` columns and no row (what :func:`build_features` returns for no id)."""
    frame = pd.DataFrame({c: pd.Series(dtype=object) for c in COLUMNS}, index=pd.Index([], name="customer_id"))
    return _typed(frame)


def summarise(frame: pd.DataFrame) -> dict[str, float]:
    """Means of the numeric columns (a quick look at a frame; used in logs and tests)."""
    numeric = frame.select_dtypes(include=[np.number, bool])
    return {k: float(v) for k, v in numeric.mean().items()}
