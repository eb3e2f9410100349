"""Staff reports: aggregates of the analyses for the dashboard, and one customer's 360 page with its read logged.

Every aggregate is one SQL query over ``customer_scores`` (joined to ``customers`` and open accounts) grouped in
the database, so the cost does not grow with Python memory: nothing loads all rows. Scores are those the batch
scorer (``python -m analytics.batch``) last wrote; customers it has not scored yet are counted apart.

Units: money in EUR (``Decimal`` for balances, ``float`` for CLV as stored), probabilities in [0, 1], ages in
years. Results are frozen dataclasses.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any, Final

from sqlalchemy import case, func, select
from sqlalchemy.orm import Session

from profiles.access import add_access
from profiles.customer360 import Customer360, InteractionView, build_360, interaction_view
from profiles.customers import load_customer
from profiles.db import session_scope
from profiles.errors import InvalidInput
from profiles.models import Account, Customer, CustomerScore, Interaction

CHURN_BINS: Final = 20  # churn-probability histogram: [0, 0.05), [0.05, 0.1), ... [0.95, 1.0]
PAGE_TIMELINE: Final = 50
TOP_MAX: Final = 50
UNSCORED: Final = "(no segment)"


@dataclass(frozen=True, slots=True)
class SegmentProfile:
    """One segment's size and profile: ``customers`` scored into it, ``share`` of all scored customers (0..1),
    mean ``age`` (years), mean ``balance`` (EUR, sum of the customer's open accounts), mean ``products`` held,
    mean and total ``clv`` (EUR), mean ``churn_probability``. Means ignore customers without that value."""

    segment: str
    customers: int
    share: float
    mean_age: float | None
    mean_balance: Decimal | None
    mean_products: float | None
    mean_clv: float | None
    total_clv: float | None
    mean_churn: float | None


@dataclass(frozen=True, slots=True)
class ChurnBin:
    """Customers whose churn probability is in [``lower``, ``upper``) (the last bin includes 1.0) and in ``band``."""

    lower: float
    upper: float
    band: str
    customers: int


@dataclass(frozen=True, slots=True)
class BandCount:
    """Customers in one churn-risk ``band`` and their mean churn probability."""

    band: str
    customers: int
    mean_probability: float | None


@dataclass(frozen=True, slots=True)
class ScoringStatus:
    """How current the scores are: ``customers`` in the CRM, ``scored`` of them, the latest ``computed_at``
    (None when nothing is scored) and that row's ``model_versions`` (analysis -> version)."""

    customers: int
    scored: int
    last_computed_at: datetime | None
    model_versions: tuple[tuple[str, str], ...]


@dataclass(frozen=True, slots=True)
class RiskRow:
    """A customer on the highest-churn-risk list: id, name, segment, churn probability, band, CLV (EUR)."""

    customer_id: int
    name: str
    segment: str | None
    churn_probability: float
    churn_band: str | None
    clv: float | None


@dataclass(frozen=True, slots=True)
class Dashboard:
    """Everything the staff dashboard shows (see each dataclass)."""

    status: ScoringStatus
    segments: tuple[SegmentProfile, ...]
    churn_bins: tuple[ChurnBin, ...]
    churn_bands: tuple[BandCount, ...]


@dataclass(frozen=True, slots=True)
class CustomerPage:
    """One customer's 360 (``profiles.customer360.Customer360``) and their latest ``timeline`` (newest first,
    at most 50 interactions)."""

    view: Customer360
    timeline: tuple[InteractionView, ...]


def _float(value: Any) -> float | None:
    return None if value is None else float(value)


def scoring_status(session: Session) -> ScoringStatus:
    """Customers, scored customers, latest scoring time and its model versions."""
    customers = session.scalar(select(func.count()).select_from(Customer)) or 0
    scored, last = session.execute(select(func.count(), func.max(CustomerScore.computed_at))).one()
    versions: tuple[tuple[str, str], ...] = ()
    if last is not None:
        latest = session.scalar(select(CustomerScore.model_versions).order_by(CustomerScore.computed_at.desc()).limit(1))
        versions = tuple(sorted((str(k), str(v)) for k, v in (latest or {}).items()))
    return ScoringStatus(customers=int(customers), scored=int(scored or 0), last_computed_at=last,
                         model_versions=versions)


def segment_profiles(session: Session) -> tuple[SegmentProfile, ...]:
    """Size and profile of every segment, largest first (customers not yet segmented under ``UNSCORED``).

    Two grouped queries: scores joined to customers (count, age, products, CLV, churn), and open accounts joined
    to scores (total balance per segment; the mean counts a customer without an open account as 0 EUR).
    """
    segment = func.coalesce(CustomerScore.segment, UNSCORED)
    rows = session.execute(
        select(
            segment.label("segment"),
            func.count().label("customers"),
            func.avg(Customer.age),
            func.avg(CustomerScore.product_count),
            func.avg(CustomerScore.clv),
            func.sum(CustomerScore.clv),
            func.avg(CustomerScore.churn_probability),
        )
        .select_from(CustomerScore)
        .join(Customer, Customer.id == CustomerScore.customer_id)
        .group_by(segment)
        .order_by(func.count().desc(), segment)
    ).all()
    balances: dict[str, Decimal] = {
        str(name): total if isinstance(total, Decimal) else Decimal(str(total or 0))
        for name, total in session.execute(
            select(segment, func.sum(Account.balance))  # Money-typed sum: EUR on both backends
            .select_from(Account)
            .join(CustomerScore, CustomerScore.customer_id == Account.customer_id)
            .where(Account.closed_at.is_(None))
            .group_by(segment)
        )
    }
    total = sum(int(r[1]) for r in rows) or 1
    return tuple(
        SegmentProfile(segment=str(name), customers=int(count), share=int(count) / total, mean_age=_float(age),
                       mean_balance=(balances.get(str(name), Decimal("0")) / int(count)).quantize(Decimal("0.01")),
                       mean_products=_float(products), mean_clv=_float(clv), total_clv=_float(clv_sum),
                       mean_churn=_float(churn))
        for name, count, age, products, clv, clv_sum, churn in rows
    )


def churn_distribution(session: Session) -> tuple[tuple[ChurnBin, ...], tuple[BandCount, ...]]:
    """Histogram of churn probability (``CHURN_BINS`` bins of 0.05, by band) and the count per band (ordered by
    mean probability, lowest risk first). Customers without a churn probability are left out."""
    p = CustomerScore.churn_probability
    bin_index = case(*[(p < (i + 1) / CHURN_BINS, i) for i in range(CHURN_BINS - 1)], else_=CHURN_BINS - 1)
    band = func.coalesce(CustomerScore.churn_band, "unbanded")
    rows = session.execute(
        select(bin_index.label("bin"), band.label("band"), func.count())
        .where(p.is_not(None))
        .group_by(bin_index, band)
        .order_by(bin_index, band)
    ).all()
    bins = tuple(ChurnBin(lower=int(i) / CHURN_BINS, upper=(int(i) + 1) / CHURN_BINS, band=str(b), customers=int(n))
                 for i, b, n in rows)
    band_rows = session.execute(
        select(band, func.count(), func.avg(p)).where(p.is_not(None)).group_by(band).order_by(func.avg(p))
    ).all()
    bands = tuple(BandCount(band=str(b), customers=int(n), mean_probability=_float(m)) for b, n, m in band_rows)
    return bins, bands


_dashboards: OrderedDict[tuple[str, ScoringStatus], Dashboard] = OrderedDict()
_dashboards_lock = threading.Lock()
DASHBOARD_CACHE: Final = 8


def dashboard() -> Dashboard:
    """The aggregate dashboard in one read transaction (no personal data: safe for the marketing role).

    The aggregates are cached per database and scoring status (customers, scored customers, latest
    ``computed_at``): any new score or customer changes the status and so recomputes them; the status query
    runs every time (about 1.7 s at 1,000,000 customers on SQLite, the aggregates about 7 s more).
    """
    with session_scope() as session:
        status = scoring_status(session)
        key = (session.get_bind().engine.url.render_as_string(hide_password=True), status)
        with _dashboards_lock:
            cached = _dashboards.get(key)
            if cached is not None:
                _dashboards.move_to_end(key)
                return cached
        bins, bands = churn_distribution(session)
        result = Dashboard(status=status, segments=segment_profiles(session), churn_bins=bins, churn_bands=bands)
    with _dashboards_lock:
        _dashboards[key] = result
        while len(_dashboards) > DASHBOARD_CACHE:
            _dashboards.popitem(last=False)
    return result


def highest_churn_risk(limit: int = 10, *, staff: str, role: str) -> tuple[RiskRow, ...]:
    """The ``limit`` (1..50) scored customers with the highest churn probability; each one shown is logged in the
    access log (action ``staff_page``) in the same transaction.

    Raises:
        InvalidInput: limit out of range (field ``limit``), empty staff or role.
    """
    if not 1 <= limit <= TOP_MAX:
        raise InvalidInput(f"limit must be between 1 and {TOP_MAX}.", field="limit")
    stmt = (
        select(Customer.id, Customer.first_name, Customer.last_name, CustomerScore.segment,
               CustomerScore.churn_probability, CustomerScore.churn_band, CustomerScore.clv)
        .join(CustomerScore, CustomerScore.customer_id == Customer.id)
        .where(CustomerScore.churn_probability.is_not(None))
        .order_by(CustomerScore.churn_probability.desc(), Customer.id)
        .limit(limit)
    )
    with session_scope(write=True) as session:
        rows = tuple(RiskRow(customer_id=r[0], name=f"{r[1]} {r[2]}", segment=r[3], churn_probability=float(r[4] or 0.0),
                             churn_band=r[5], clv=_float(r[6])) for r in session.execute(stmt))
        for row in rows:
            add_access(session, staff=staff, role=role, customer_id=row.customer_id, action="staff_page",
                       detail="dashboard: highest churn risk list")
        return rows


def customer_page(customer_id: int, *, staff: str, role: str) -> CustomerPage:
    """One customer's 360 and latest 50 interactions, read in one transaction that also writes the access-log
    row (action ``read_360``, detail ``staff page``): the read is never shown without being logged.

    Raises:
        NotFound: no such customer (nothing is logged).
        InvalidInput: empty staff or role.
    """
    with session_scope(write=True) as session:
        view = build_360(session, load_customer(session, customer_id))
        timeline = tuple(
            interaction_view(i) for i in session.scalars(
                select(Interaction).where(Interaction.customer_id == customer_id)
                .order_by(Interaction.occurred_at.desc(), Interaction.id.desc()).limit(PAGE_TIMELINE))
        )
        add_access(session, staff=staff, role=role, customer_id=customer_id, action="read_360", detail="staff page")
        return CustomerPage(view=view, timeline=timeline)

