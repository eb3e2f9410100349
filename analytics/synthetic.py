"""Synthetic customers for the batch-scoring benchmark, bulk-loaded into an empty CRM database.

    python -m analytics.synthetic --n 1000000 [--chunk 50000] [--as-of YYYY-MM-DD] [--quiet]

The target is the CRM database of the settings (``DATABASE_URL``); it must hold no customers yet (the
benchmark, ``benchmarks/batch_scoring.py``, gives it a fresh SQLite file or a private PostgreSQL schema).
Customer ids are 1..N; every row is generated with ``numpy.random.default_rng(seed)`` (``--seed``, default the
settings' seed), so the same N, seed, chunk size and as-of date give the same database.

How the profiles follow the real distributions:

- **Demographics, balance, loans, term deposit, contact history**: each synthetic customer is one row of the
  UCI Bank Marketing training file (``DATA_DIR/bank_marketing/bank-full-train.csv``, 36,168 rows; Moro, Cortez
  & Rita 2014, CC BY 4.0) drawn uniformly *with replacement*, and keeps that row's columns together (their
  joint distribution): age, job, marital, education, default, housing, loan, contact and balance. Exactly as
  ``profiles.seed`` maps a row: the balance is the current account's (EUR, negative = overdrawn), housing=yes a
  mortgage, loan=yes a personal loan, y=yes a term-deposit account.
- **Interactions** (the bank's real contact history of that row): ``campaign`` outbound campaign calls (the
  last on the row's day/month, the most recent such date before ``as_of``, earlier ones 1–7 days apart) and
  ``previous`` calls of earlier campaigns (the last ``pdays`` days before that, the others 7–60 days apart),
  capped at 50 each; kind ``campaign_message``, channel ``phone``, outcome in ``details``.
- **Everything the file has no column for** uses ``profiles.seed``'s distributions (its constants too):
  opened 90–3650 days before ``as_of``; savings account with p = 0.4 (100–30,000 EUR); debit card always,
  credit card p = 0.3; 1–2 payees; 6–10 card payments over the 60 days before ``as_of`` at the seed's merchants
  and price ranges; mortgage principal 60–350 kEUR with 20–95% outstanding, personal loan 2–25 kEUR with 10–95%
  outstanding; marketing consent p = 0.6 (consent row, source ``synthetic``); names, regions (NUTS II weights),
  addresses, phones, IBANs and card numbers with valid check digits, in the seed's formats. Household size,
  children and income stay unknown (NULL), as in the seed.

Loading is chunked (``--chunk`` customers at a time, every table of a chunk in one transaction) so memory stays
bounded whatever N is: SQLite through the driver's ``executemany``, PostgreSQL through ``COPY ... FROM STDIN``
(as ``profiles.seed`` does), explicit ids (no RETURNING), sequences moved past them at the end.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import time
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd  # type: ignore[import-untyped]
from sqlalchemy import Table, func, select, text
from tqdm import tqdm  # type: ignore[import-untyped]

from profiles.db import get_engine, init_db, session_scope
from profiles.models import (
    Account,
    Base,
    Card,
    Consent,
    Customer,
    Interaction,
    Loan,
    Payee,
    Transaction,
)
from profiles.seed import (
    BANK_CODE,
    CARD_BIN,
    FEMALE,
    MALE,
    MERCHANTS,
    OTHER_BANKS,
    REGIONS,
    STREETS,
    SURNAMES,
)
from profiles.settings import get_settings

log = logging.getLogger(__name__)

DEFAULT_N = 1_000_000
DEFAULT_CHUNK = 50_000
MAX_CONTACTS = 50  # cap of campaign / previous calls per customer (the file's maxima are 63 / 275)
SOURCE_COLUMNS = ("age", "job", "marital", "education", "default", "balance", "housing", "loan", "contact",
                  "day", "month", "campaign", "pdays", "previous", "poutcome", "y")
MONTHS = ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec")
_US_PER_DAY = 86_400_000_000
_US_PER_S = 1_000_000


@dataclass(frozen=True)
class SyntheticReport:
    """What one load wrote: ``customers`` and rows per table (``rows``), wall ``seconds``."""

    customers: int
    rows: dict[str, int]
    seconds: float

    @property
    def customers_per_second(self) -> float:
        return self.customers / self.seconds if self.seconds > 0 else 0.0


def _ascii(value: str) -> str:
    folded = unicodedata.normalize("NFKD", value).encode("ascii", "ignore").decode()
    return "".join(c for c in folded.lower() if c.isalnum())


def load_source(path: Path) -> pd.DataFrame:
    """The bank-marketing rows (columns ``SOURCE_COLUMNS``) to resample.

    Raises:
        FileNotFoundError: the file does not exist.
    """
    if not path.is_file():
        raise FileNotFoundError(f"bank-marketing file not found: {path}")
    frame = pd.read_csv(path, sep=";", usecols=list(SOURCE_COLUMNS))
    for column in ("job", "marital", "education", "contact", "month", "poutcome"):
        frame[column] = frame[column].astype(str).str.strip('"')
    for column in ("default", "housing", "loan", "y"):
        frame[column] = frame[column].astype(str).str.strip('"').eq("yes")
    return frame.reset_index(drop=True)


# --------------------------------------------------------------------------------------------- check digits


def _mod97(values: np.ndarray, digits_appended: int, appended: np.ndarray | int = 0) -> np.ndarray:
    """``(values * 10**digits_appended + appended) % 97`` without overflowing int64."""
    return ((values % 97) * (10**digits_appended % 97) + np.asarray(appended) % 97) % 97


def _ibans(bank: np.ndarray, branch: np.ndarray, account: np.ndarray) -> list[str]:
    """Portuguese IBANs (as ``profiles.seed._iban``): 4-digit bank, 4-digit branch, 11-digit account number."""
    base = bank.astype(np.int64) * 10**15 + branch.astype(np.int64) * 10**11 + account.astype(np.int64)
    nib_check = 98 - _mod97(base, 2)
    nib_mod = _mod97(base, 2, nib_check)
    iban_check = 98 - _mod97(nib_mod, 6, 252900)  # "PT" = 25 29, check digits "00"
    return [f"PT{c:02d}{b:019d}{n:02d}" for c, b, n in zip(iban_check.tolist(), base.tolist(), nib_check.tolist(), strict=True)]


def _luhn_numbers(partial: np.ndarray) -> list[str]:
    """15-digit numbers plus their Luhn check digit (16-digit card numbers)."""
    total = np.zeros(len(partial), dtype=np.int64)
    rest = partial.astype(np.int64).copy()
    for i in range(15):  # i = position from the right of the partial number
        d = rest % 10
        rest //= 10
        if i % 2 == 0:
            d = np.where(d > 4, d * 2 - 9, d * 2)
        total += d
    check = (10 - total % 10) % 10
    return [f"{p:015d}{c}" for p, c in zip(partial.tolist(), check.tolist(), strict=True)]


# ------------------------------------------------------------------------------------------------ generation


class _Columns(dict[str, list[Any]]):
    """One table's rows of a chunk as column lists (Python values)."""

    def count(self) -> int:
        return len(next(iter(self.values()))) if self else 0


class _Generator:
    """Generates chunk after chunk; ids continue across chunks."""

    def __init__(self, source: pd.DataFrame, seed: int, as_of: date, dialect: str) -> None:
        self.source = source
        self.rng = np.random.default_rng(seed)
        self.dialect = dialect
        self.midnight_us = int(datetime.combine(as_of, datetime.min.time(), tzinfo=UTC).timestamp() * _US_PER_S)
        self.as_of = as_of
        self.next_id = {"accounts": 1, "cards": 1, "loans": 1, "transactions": 1, "payees": 1, "interactions": 1,
                        "consents": 1}
        self.first_ascii = {n: _ascii(n) for n in FEMALE + MALE}
        self.last_ascii = {n: _ascii(n) for n in SURNAMES}
        weights = np.array([w for _, w, _ in REGIONS], dtype=float)
        self.region_p = weights / weights.sum()
        self.merchants = list(MERCHANTS)
        # Days from as_of back to the most recent (month, day) on or before it, for every month/day pair.
        self.month_index = {m: i + 1 for i, m in enumerate(MONTHS)}

    # value formatting per backend ---------------------------------------------------------------------
    def money(self, cents: np.ndarray) -> list[Any]:
        """Money values: integer cents on SQLite (as ``models.Money`` stores them), text euros on PostgreSQL."""
        values = cents.astype(np.int64)
        if self.dialect == "sqlite":
            return values.tolist()
        return [f"{'-' if c < 0 else ''}{abs(c) // 100}.{abs(c) % 100:02d}" for c in values.tolist()]

    def times(self, micros: np.ndarray) -> list[str]:
        """Datetimes (UTC microseconds since the epoch) as ``models.UTCDateTime`` stores them."""
        text_values = np.datetime_as_string(micros.astype("datetime64[us]"), unit="us")
        if self.dialect == "sqlite":
            return [t.replace("T", " ") for t in text_values.tolist()]
        return [f"{t}+00" for t in text_values.tolist()]

    def ids(self, table: str, n: int) -> np.ndarray:
        start = self.next_id[table]
        self.next_id[table] = start + n
        return np.arange(start, start + n, dtype=np.int64)

    # one chunk -------------------------------------------------------------------------------------------
    def chunk(self, first_id: int, n: int) -> dict[str, _Columns]:
        rng = self.rng
        cid = np.arange(first_id, first_id + n, dtype=np.int64)
        rows = self.source.iloc[rng.integers(0, len(self.source), n)].reset_index(drop=True)
        created = self.midnight_us - rng.integers(90, 3651, n) * _US_PER_DAY - rng.integers(0, 86_400, n) * _US_PER_S
        out: dict[str, _Columns] = {}

        # customers ---------------------------------------------------------------------------------------
        female = rng.random(n) < 0.5
        first = np.where(female, np.array(FEMALE, dtype=object)[rng.integers(0, len(FEMALE), n)],
                         np.array(MALE, dtype=object)[rng.integers(0, len(MALE), n)])
        surnames = np.array(SURNAMES, dtype=object)
        last_one = surnames[rng.integers(0, len(SURNAMES), n)]
        double = rng.random(n) < 0.3
        last = np.where(double, surnames[rng.integers(0, len(SURNAMES), n)] + " " + last_one, last_one)
        region_i = rng.choice(len(REGIONS), size=n, p=self.region_p)
        city_pick = rng.random(n)
        street = np.array(STREETS, dtype=object)[rng.integers(0, len(STREETS), n)]
        number = rng.integers(1, 251, n)
        post_a = rng.integers(0, 100, n)
        post_b = rng.integers(0, 1000, n)
        regions, addresses = [], []
        for r, c, s, h, pa, pb in zip(region_i.tolist(), city_pick.tolist(), street.tolist(), number.tolist(),
                                      post_a.tolist(), post_b.tolist(), strict=True):
            name, _, cities = REGIONS[r]
            city, postcode = cities[int(c * len(cities))]
            regions.append(name)
            addresses.append(f"{s}, {h}, {postcode + pa:04d}-{pb:03d} {city}")
        ids = cid.tolist()
        emails = [f"{self.first_ascii[f]}.{self.last_ascii[ln.split()[-1]]}{i}@example.com"
                  for f, ln, i in zip(first.tolist(), last.tolist(), ids, strict=True)]
        phone_prefix = np.array(list("1236"))[rng.integers(0, 4, n)]
        phones = [f"+3519{p}{d:07d}" for p, d in zip(phone_prefix.tolist(), rng.integers(0, 10**7, n).tolist(), strict=True)]
        consent = rng.random(n) < 0.6
        created_text = self.times(created)
        out["customers"] = _Columns(
            id=ids, source_row=[None] * n, first_name=first.tolist(), last_name=last.tolist(), email=emails,
            phone=phones, address=addresses, region=regions, age=rows["age"].astype(int).tolist(),
            job=rows["job"].tolist(), marital=rows["marital"].tolist(), education=rows["education"].tolist(),
            credit_default=rows["default"].tolist(), housing_loan=rows["housing"].tolist(),
            personal_loan=rows["loan"].tolist(), contact_channel=rows["contact"].tolist(),
            household_size=[None] * n, children=[None] * n, annual_income=[None] * n, preferred_channel=[None] * n,
            updated_at=[None] * n, marketing_consent=consent.tolist(), created_at=created_text, version=[1] * n,
        )
        out["consents"] = _Columns(
            id=self.ids("consents", n).tolist(), customer_id=ids, purpose=["marketing"] * n, channel=["all"] * n,
            granted=consent.tolist(), source=["synthetic"] * n, updated_at=created_text,
        )

        # accounts: current always, savings p=0.4, term deposit when y=yes ------------------------------------
        branch = rng.integers(0, 10_000, n)
        savings = rng.random(n) < 0.4
        deposit = rows["y"].to_numpy(dtype=bool)
        kinds = [("current", 1, np.ones(n, dtype=bool)), ("savings", 2, savings), ("term_deposit", 3, deposit)]
        owner_parts, kind_parts, digit_parts = [], [], []
        for kind, kind_digit, mask in kinds:
            owner_parts.append(np.flatnonzero(mask))
            kind_parts.append(np.full(int(mask.sum()), kind, dtype=object))
            digit_parts.append(np.full(int(mask.sum()), kind_digit, dtype=np.int64))
        owner = np.concatenate(owner_parts)
        account_kind = np.concatenate(kind_parts)
        digit = np.concatenate(digit_parts)
        order = np.lexsort((digit, owner))  # per customer: current, savings, term deposit
        owner, account_kind, digit = owner[order], account_kind[order], digit[order]
        m = len(owner)
        balance = np.zeros(m, dtype=np.int64)
        is_current, is_savings, is_deposit = (account_kind == "current"), (account_kind == "savings"), (account_kind == "term_deposit")
        balance[is_current] = rows["balance"].to_numpy(dtype=np.int64)[owner[is_current]] * 100
        balance[is_savings] = rng.integers(100 * 100, 30_000 * 100 + 1, int(is_savings.sum()))
        balance[is_deposit] = rng.integers(2, 41, int(is_deposit.sum())) * 500 * 100
        account_no = cid[owner] * 1000 + digit * 100 + rng.integers(0, 100, m)
        account_ids = self.ids("accounts", m)
        names = {"current": "Current account", "savings": "Savings account", "term_deposit": "Term deposit 12 months"}
        out["accounts"] = _Columns(
            id=account_ids.tolist(), customer_id=cid[owner].tolist(), kind=account_kind.tolist(),
            name=[names[k] for k in account_kind.tolist()],
            number=_ibans(np.full(m, int(BANK_CODE)), branch[owner], account_no),
            balance=self.money(balance), currency=["EUR"] * m, created_at=self.times(created[owner]),
            closed_at=[None] * m,
        )
        current_account = account_ids[is_current]  # one per customer, in customer order

        # cards: debit always, credit p=0.3, both on the current account --------------------------------------
        credit = rng.random(n) < 0.3
        card_owner = np.concatenate([np.arange(n), np.flatnonzero(credit)])
        card_digit = np.concatenate([np.ones(n, dtype=np.int64), np.full(int(credit.sum()), 2, dtype=np.int64)])
        order = np.lexsort((card_digit, card_owner))
        card_owner, card_digit = card_owner[order], card_digit[order]
        k = len(card_owner)
        partial = int(CARD_BIN) * 10**11 + cid[card_owner] * 1000 + card_digit * 100 + rng.integers(0, 100, k)
        out["cards"] = _Columns(
            id=self.ids("cards", k).tolist(), customer_id=cid[card_owner].tolist(),
            account_id=current_account[card_owner].tolist(),
            kind=np.where(card_digit == 1, "debit", "credit").tolist(), number=_luhn_numbers(partial),
            status=["active"] * k, blocked_reason=[None] * k, blocked_at=[None] * k,
            created_at=self.times(created[card_owner]), closed_at=[None] * k,
        )

        # payees: 1-2 per customer ----------------------------------------------------------------------------
        payee_count = rng.integers(1, 3, n)
        payee_owner = np.repeat(np.arange(n), payee_count)
        p = len(payee_owner)
        payee_first = np.array(FEMALE + MALE, dtype=object)[rng.integers(0, len(FEMALE) + len(MALE), p)]
        payee_last = surnames[rng.integers(0, len(SURNAMES), p)]
        other_banks = np.array([int(b) for b in OTHER_BANKS])[rng.integers(0, len(OTHER_BANKS), p)]
        out["payees"] = _Columns(
            id=self.ids("payees", p).tolist(), customer_id=cid[payee_owner].tolist(),
            name=(payee_first + " " + payee_last).tolist(),
            iban=_ibans(other_banks, rng.integers(0, 10_000, p), rng.integers(0, 10**11, p)),
            created_at=self.times(created[payee_owner]),
        )

        # transactions: 6-10 card payments on the current account over the last 60 days -----------------------
        tx_count = rng.integers(6, 11, n)
        tx_owner = np.repeat(np.arange(n), tx_count)
        t = len(tx_owner)
        merchant_i = rng.integers(0, len(self.merchants), t)
        amount = np.zeros(t, dtype=np.int64)
        for index, merchant in enumerate(self.merchants):
            spec = MERCHANTS[merchant]
            mask = merchant_i == index
            count = int(mask.sum())
            if isinstance(spec[0], str):
                prices = np.array([round(float(s) * 100) for s in spec], dtype=np.int64)
                amount[mask] = prices[rng.integers(0, len(prices), count)]
            else:
                amount[mask] = rng.integers(int(spec[0]) * 100, int(spec[1]) * 100 + 1, count)
        booked = (self.midnight_us - rng.integers(1, 61, t) * _US_PER_DAY
                  + rng.integers(8 * 3600, 22 * 3600 + 1, t) * _US_PER_S)
        merchant_names = np.array(self.merchants, dtype=object)[merchant_i]
        out["transactions"] = _Columns(
            id=self.ids("transactions", t).tolist(), account_id=current_account[tx_owner].tolist(),
            booked_at=self.times(booked), amount=self.money(-amount), merchant=merchant_names.tolist(),
            description=("Card payment " + merchant_names).tolist(), transfer_id=[None] * t,
        )

        # loans: mortgage when housing=yes, personal loan when loan=yes ----------------------------------------
        housing = rows["housing"].to_numpy(dtype=bool)
        personal = rows["loan"].to_numpy(dtype=bool)
        loan_owner = np.concatenate([np.flatnonzero(housing), np.flatnonzero(personal)])
        loan_kind = np.concatenate([np.full(int(housing.sum()), "mortgage", dtype=object),
                                    np.full(int(personal.sum()), "personal_loan", dtype=object)])
        principal = np.concatenate([rng.integers(60, 351, int(housing.sum())) * 1000 * 100,
                                    rng.integers(4, 51, int(personal.sum())) * 500 * 100])
        share = np.concatenate([rng.integers(20, 96, int(housing.sum())), rng.integers(10, 96, int(personal.sum()))])
        outstanding = principal * share // 100
        order = np.argsort(loan_owner, kind="stable")
        loan_owner, loan_kind, principal, outstanding = loan_owner[order], loan_kind[order], principal[order], outstanding[order]
        q = len(loan_owner)
        out["loans"] = _Columns(
            id=self.ids("loans", q).tolist(), customer_id=cid[loan_owner].tolist(), kind=loan_kind.tolist(),
            principal=self.money(principal), outstanding=self.money(outstanding),
            created_at=self.times(created[loan_owner]), closed_at=[None] * q,
        )

        out["interactions"] = self._interactions(rows, cid)
        return out

    def _last_contact(self, rows: pd.DataFrame) -> np.ndarray:
        """UTC microseconds of each row's last campaign call: its day/month, the latest such date <= as_of."""
        month = rows["month"].map(self.month_index).to_numpy(dtype=np.int64)
        day = rows["day"].to_numpy(dtype=np.int64)
        year = np.where((month > self.as_of.month) | ((month == self.as_of.month) & (day > self.as_of.day)),
                        self.as_of.year - 1, self.as_of.year)
        dates = pd.to_datetime(pd.DataFrame({"year": year, "month": month, "day": np.minimum(day, 28)}))
        # day capped at 28: every month has it (a 29-31 call moves a few days, leap years never matter)
        micros = dates.to_numpy(dtype="datetime64[us]").astype(np.int64)
        return micros + self.rng.integers(9 * 3600, 20 * 3600, len(rows)) * _US_PER_S

    def _interactions(self, rows: pd.DataFrame, cid: np.ndarray) -> _Columns:
        rng = self.rng
        n = len(rows)
        last = self._last_contact(rows)
        campaign = np.minimum(rows["campaign"].to_numpy(dtype=np.int64), MAX_CONTACTS)
        previous = np.minimum(rows["previous"].to_numpy(dtype=np.int64), MAX_CONTACTS)
        pdays = rows["pdays"].to_numpy(dtype=np.int64)
        # campaign calls: the last at `last`, earlier ones 1-7 days apart (cumulative gaps per customer)
        owner_c = np.repeat(np.arange(n), campaign)
        gaps_c = rng.integers(1, 8, len(owner_c)) * _US_PER_DAY
        start_c = np.repeat(np.cumsum(campaign) - campaign, campaign)
        step_c = np.arange(len(owner_c)) - start_c  # 0 = the last call
        gaps_c[step_c == 0] = 0
        offset_c = _group_cumsum(gaps_c, start_c)
        when_c = last[owner_c] - offset_c
        outcome_c = np.where(step_c == 0, np.where(rows["y"].to_numpy(dtype=bool)[owner_c], "yes", "no"), "contacted")
        # previous campaigns: the last pdays before `last`, earlier ones 7-60 days apart
        has_prev = (previous > 0) & (pdays > 0)
        previous = np.where(has_prev, previous, 0)
        owner_p = np.repeat(np.arange(n), previous)
        gaps_p = rng.integers(7, 61, len(owner_p)) * _US_PER_DAY
        start_p = np.repeat(np.cumsum(previous) - previous, previous)
        step_p = np.arange(len(owner_p)) - start_p
        gaps_p[step_p == 0] = 0
        when_p = last[owner_p] - pdays[owner_p] * _US_PER_DAY - _group_cumsum(gaps_p, start_p)
        outcome_p = np.where(step_p == 0, rows["poutcome"].to_numpy(dtype=object)[owner_p], "unknown")

        owner = np.concatenate([owner_c, owner_p])
        when = np.concatenate([when_c, when_p])
        outcome = np.concatenate([outcome_c.astype(object), outcome_p.astype(object)])
        campaign_name = np.concatenate([np.full(len(owner_c), "term_deposit", dtype=object),
                                        np.full(len(owner_p), "previous", dtype=object)])
        order = np.lexsort((when, owner))
        owner, when, outcome, campaign_name = owner[order], when[order], outcome[order], campaign_name[order]
        k = len(owner)
        details_cache: dict[tuple[str, str], str] = {}

        def details(c: str, o: str) -> str:
            key = (c, o)
            if key not in details_cache:
                details_cache[key] = json.dumps({"campaign": c, "outcome": o})
            return details_cache[key]

        summaries = {"term_deposit": "Term-deposit campaign call", "previous": "Earlier campaign call"}
        return _Columns(
            id=self.ids("interactions", k).tolist(), customer_id=cid[owner].tolist(),
            kind=["campaign_message"] * k, channel=["phone"] * k, direction=["outbound"] * k,
            summary=[summaries[c] for c in campaign_name.tolist()], sender_id=[None] * k, actor=["campaign"] * k,
            details=[details(c, o) for c, o in zip(campaign_name.tolist(), outcome.tolist(), strict=True)],
            event_key=[None] * k, occurred_at=self.times(when),
        )


def _group_cumsum(values: np.ndarray, group_start: np.ndarray) -> np.ndarray:
    """Cumulative sum of ``values`` restarting at each group (``group_start[i]`` = index where i's group begins)."""
    if len(values) == 0:
        return values
    total = np.cumsum(values)
    before = np.concatenate([[0], total])[group_start]
    return total - before


# ---------------------------------------------------------------------------------------------------- loading

TABLE_ORDER = ("customers", "consents", "accounts", "cards", "payees", "transactions", "loans", "interactions")
_MODELS: dict[str, type[Base]] = {
    "customers": Customer, "consents": Consent, "accounts": Account, "cards": Card, "payees": Payee,
    "transactions": Transaction, "loans": Loan, "interactions": Interaction,
}


def _table(name: str) -> Table:
    table = _MODELS[name].__table__
    assert isinstance(table, Table)
    return table


def _write_chunk(raw: Any, dialect: str, chunk: dict[str, _Columns]) -> None:
    """Write every table of a chunk in one transaction of the driver connection ``raw``."""
    if dialect == "sqlite":
        cursor = raw.cursor()
        cursor.execute("BEGIN IMMEDIATE")
        try:
            for name in TABLE_ORDER:
                cols = chunk[name]
                if not cols.count():
                    continue
                names = list(cols)
                sql = f"INSERT INTO {name} ({', '.join(names)}) VALUES ({', '.join('?' * len(names))})"
                cursor.executemany(sql, zip(*(cols[c] for c in names), strict=True))
            cursor.execute("COMMIT")
        except BaseException:
            cursor.execute("ROLLBACK")
            raise
        finally:
            cursor.close()
        return
    with raw.transaction(), raw.cursor() as cursor:
        for name in TABLE_ORDER:
            cols = chunk[name]
            if not cols.count():
                continue
            names = list(cols)
            with cursor.copy(f"COPY {name} ({', '.join(names)}) FROM STDIN") as copy:
                for row in zip(*(cols[c] for c in names), strict=True):
                    copy.write_row(row)


def _sync_sequences(tables: Iterable[str]) -> None:
    engine = get_engine()
    if engine.dialect.name != "postgresql":
        return
    with engine.begin() as conn:
        for name in tables:
            conn.execute(text(
                f"SELECT setval(pg_get_serial_sequence('{name}', 'id'), "
                f"COALESCE((SELECT MAX(id) FROM {name}), 0) + 1, false)"
            ))


def generate(
    n: int = DEFAULT_N,
    *,
    chunk: int = DEFAULT_CHUNK,
    seed: int | None = None,
    as_of: date | None = None,
    csv_path: Path | None = None,
    progress: bool = True,
) -> SyntheticReport:
    """Create the schema (``init_db``) and load ``n`` synthetic customers with their products and contact history
    into the settings' database, ``chunk`` customers per transaction. Rows per customer on average: 1.5 accounts,
    1.3 cards, 1.5 payees, 8 transactions, 0.7 loans, 3.3 interactions, 1 consent.

    Raises:
        ValueError: ``n`` < 1 or ``chunk`` < 1, or the database already holds customers.
        FileNotFoundError: the bank-marketing file is missing.
    """
    if n < 1 or chunk < 1:
        raise ValueError("n and chunk must be at least 1")
    settings = get_settings()
    source = load_source(csv_path or settings.data_dir / "bank_marketing" / "bank-full-train.csv")
    init_db()
    with session_scope() as session:
        if session.scalar(select(func.count()).select_from(Customer)):
            raise ValueError("the target database already holds customers: give an empty database")
    engine = get_engine()
    dialect = engine.dialect.name
    generator = _Generator(source, settings.seed if seed is None else seed, as_of or datetime.now(UTC).date(), dialect)
    rows = dict.fromkeys(TABLE_ORDER, 0)
    started = time.perf_counter()
    pooled = engine.raw_connection()
    try:
        raw = pooled.driver_connection
        assert raw is not None
        if dialect == "sqlite":
            raw.execute("PRAGMA synchronous=OFF")
        with tqdm(total=n, unit="customer", desc="synthetic", disable=not progress, smoothing=0.1) as bar:
            for first in range(1, n + 1, chunk):
                size = min(chunk, n + 1 - first)
                data = generator.chunk(first, size)
                _write_chunk(raw, dialect, data)
                for name in TABLE_ORDER:
                    rows[name] += data[name].count()
                del data
                bar.update(size)
        if dialect == "sqlite":
            raw.execute("PRAGMA synchronous=NORMAL")
    finally:
        pooled.close()
    _sync_sequences(TABLE_ORDER)
    with engine.connect() as conn:  # fresh planner statistics for the batch's queries
        conn.exec_driver_sql("ANALYZE")
        if dialect != "sqlite":
            conn.commit()
    report = SyntheticReport(customers=n, rows=rows, seconds=time.perf_counter() - started)
    log.info("synthetic: %d customers, %s rows, %.1f s", n, rows, report.seconds)
    return report


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m analytics.synthetic",
                                     description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--n", type=int, default=DEFAULT_N, help="customers to generate (default 1,000,000)")
    parser.add_argument("--chunk", type=int, default=DEFAULT_CHUNK, help="customers per transaction")
    parser.add_argument("--seed", type=int, default=None, help="random seed (default: the settings' seed)")
    parser.add_argument("--as-of", type=date.fromisoformat, default=None, help="history ends on this date (default today)")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    parser.add_argument("--json", action="store_true", help="print the report as one JSON line on stdout")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    try:
        report = generate(args.n, chunk=args.chunk, seed=args.seed, as_of=args.as_of, progress=not args.quiet)
    except (ValueError, FileNotFoundError) as exc:
        print(f"synthetic: {exc}", file=sys.stderr)
        return 2
    if args.json:
        print(json.dumps({"customers": report.customers, "rows": report.rows, "seconds": round(report.seconds, 2)}))
    else:
        print(f"synthetic: {report.customers} customers, {sum(report.rows.values())} rows in {report.seconds:.1f} s "
              f"({report.customers_per_second:,.0f} customers/s)", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
