"""Import customers into the CRM store from the UCI Bank Marketing file (idempotent, deterministic).

    python -m profiles.seed [--limit N] [--demo-tokens] [--as-of YYYY-MM-DD]

Source: ``settings.data_dir/bank_marketing/bank-full-train.csv`` — UCI Bank Marketing (S. Moro, P. Cortez,
P. Rita, "A Data-Driven Approach to Predict the Success of Bank Telemarketing", Decision Support Systems,
2014), CC BY 4.0. Each row becomes customer ``id = row number`` (1-based, header excluded) with the row's
demographics (age, job, marital, education, default, housing, loan, contact); ``balance`` becomes the current
account's balance (EUR, kept as given, negative = overdrawn), housing=yes a mortgage, loan=yes a personal loan
and y=yes (subscribed a term deposit in the campaign) a term-deposit account.

Everything else (names, emails, phones, addresses, IBANs, card numbers, savings, payees, cards, ~8 card
payments over the 60 days before ``--as-of``, ~60% marketing consent) is synthetic and generated from
``random.Random(settings.seed + row)``: the same file, seed and as-of date always give the same data. Rows
already imported (by ``customers.source_row``) are skipped, so running it twice gives the same database; so
are rows of erased customers (``erasures.source_row``): an erasure is never undone by a later seed.

``--demo-tokens`` only prints the demo customers' tokens (it imports nothing; development only, ``profiles.demo``).

Customers 1..5 are demo customers: each has a current account with at least 1,000 EUR, a savings account,
at least one payee and an active debit card; 1..3 have a credit card; 1 and 2 have marketing consent and no
term deposit; 3 has no consent.
"""

from __future__ import annotations

import argparse
import csv
import logging
import random
import sys
import time
import unicodedata
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

from sqlalchemy import Table, insert, select, text
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session
from tqdm import tqdm  # type: ignore[import-untyped]

from profiles.db import get_engine, init_db, session_scope
from profiles.demo import DEMO_CUSTOMERS, DemoDisabled, demo_tokens
from profiles.models import (
    Account,
    Base,
    Card,
    Consent,
    Customer,
    Erasure,
    Loan,
    Payee,
    Transaction,
)
from profiles.schemas import REGIONS as REGION_NAMES
from profiles.settings import get_settings

log = logging.getLogger(__name__)

CHUNK = 2000
BANK_CODE = "0999"  # fictitious bank code of "Atlantic Bank"
OTHER_BANKS = ("0033", "0007", "0010", "0036", "0018", "0269", "0079")
CARD_BIN = "4999"

FEMALE = ("Maria", "Ana", "Beatriz", "Mariana", "Inês", "Sofia", "Joana", "Catarina", "Rita", "Carolina",
          "Marta", "Leonor", "Francisca", "Teresa", "Sara", "Patrícia", "Helena", "Isabel", "Cláudia", "Filipa")
MALE = ("João", "José", "António", "Francisco", "Manuel", "Pedro", "Tiago", "Rui", "Miguel", "Diogo",
        "Luís", "Carlos", "Paulo", "Ricardo", "Nuno", "Bruno", "Hugo", "André", "Rafael", "Gonçalo")
SURNAMES = ("Silva", "Santos", "Ferreira", "Pereira", "Oliveira", "Costa", "Rodrigues", "Martins", "Jesus",
            "Sousa", "Fernandes", "Gonçalves", "Gomes", "Lopes", "Marques", "Alves", "Almeida", "Ribeiro",
            "Pinto", "Carvalho", "Teixeira", "Moreira", "Correia", "Mendes", "Nunes", "Soares", "Vieira",
            "Monteiro", "Cardoso", "Rocha")
# Per region of profiles.schemas.REGIONS (NUTS II, in that order): rough population weight, (city, postcode prefix).
_PLACES: tuple[tuple[int, tuple[tuple[str, int], ...]], ...] = (
    (35, (("Porto", 4000), ("Braga", 4700), ("Guimarães", 4800), ("Viana do Castelo", 4900),  # Norte
          ("Vila Real", 5000), ("Bragança", 5300))),
    (22, (("Coimbra", 3000), ("Aveiro", 3800), ("Viseu", 3500), ("Leiria", 2400),  # Centro
          ("Castelo Branco", 6000), ("Guarda", 6300))),
    (28, (("Lisboa", 1000), ("Amadora", 2700), ("Sintra", 2710),  # Área Metropolitana de Lisboa
          ("Cascais", 2750), ("Almada", 2800), ("Setúbal", 2900))),
    (7, (("Évora", 7000), ("Beja", 7800), ("Portalegre", 7300), ("Santarém", 2000))),  # Alentejo
    (4, (("Faro", 8000), ("Portimão", 8500), ("Lagos", 8600), ("Tavira", 8800))),  # Algarve
    (2, (("Ponta Delgada", 9500), ("Angra do Heroísmo", 9700))),  # Açores
    (2, (("Funchal", 9000), ("Machico", 9200))),  # Madeira
)
# The islands keep their own time (UTC-1 in the Azores); the mainland and Madeira are on Lisbon time.
REGION_TIME_ZONES: dict[str, str] = {"Região Autónoma dos Açores": "Atlantic/Azores",
                                     "Região Autónoma da Madeira": "Atlantic/Madeira"}
# (region, weight, places) per region, the form the seeders draw from.
REGIONS: tuple[tuple[str, int, tuple[tuple[str, int], ...]], ...] = tuple(
    (name, weight, places) for name, (weight, places) in zip(REGION_NAMES, _PLACES, strict=True)
)
_REGION_WEIGHTS = tuple(w for _, w, _ in REGIONS)
STREETS = ("Rua de Santa Catarina", "Avenida da Liberdade", "Rua Direita", "Rua do Comércio",
           "Avenida da República", "Rua 25 de Abril", "Rua da Igreja", "Travessa do Carmo",
           "Largo do Município", "Rua Miguel Bombarda", "Avenida dos Aliados", "Rua das Flores")
# merchant -> (min, max) spend in EUR, or fixed prices
MERCHANTS: dict[str, tuple[int, int] | tuple[str, ...]] = {
    "Continente": (8, 140), "Pingo Doce": (5, 110), "Lidl": (5, 90), "Amazon": (9, 160),
    "Uber": (5, 35), "Netflix": ("7.99", "11.99", "15.99"), "Spotify": ("6.99", "10.99", "13.99"),
    "EDP": (28, 95), "Vodafone": (18, 55), "Galp": (25, 85), "Zara": (19, 130), "IKEA": (15, 320),
    "Worten": (12, 450), "Starbucks": (3, 9),
}
_MERCHANT_NAMES = tuple(MERCHANTS)


@dataclass
class Plan:
    """Everything generated for one source row; account references are by kind until ids exist."""

    customer: dict[str, Any]
    accounts: list[dict[str, Any]] = field(default_factory=list)
    cards: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    transactions: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    payees: list[dict[str, Any]] = field(default_factory=list)
    loans: list[dict[str, Any]] = field(default_factory=list)
    consent: dict[str, Any] = field(default_factory=dict)


def _ascii(value: str) -> str:
    folded = unicodedata.normalize("NFKD", value).encode("ascii", "ignore").decode()
    return "".join(c for c in folded.lower() if c.isalnum())


def _iban(bank: str, branch: str, account: str) -> str:
    """A Portuguese IBAN (no spaces) with valid NIB and IBAN check digits."""
    base = f"{bank}{branch}{account}"
    nib = f"{base}{98 - int(base + '00') % 97:02d}"
    check = 98 - int(nib + "252900") % 97  # P=25, T=29, check '00'
    return f"PT{check:02d}{nib}"


def _luhn(partial: str) -> str:
    total = 0
    for i, ch in enumerate(reversed(partial)):
        d = int(ch)
        if i % 2 == 0:
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return partial + str((10 - total % 10) % 10)


def _digits(rng: random.Random, n: int) -> str:
    return f"{rng.randrange(10**n):0{n}d}"


def _cents(rng: random.Random, low: int, high: int) -> Decimal:
    return Decimal(rng.randrange(low * 100, high * 100 + 1)) / 100


def _yes(value: str) -> bool:
    return value.strip().strip('"').lower() == "yes"


# A debit card's credit columns: every card row has the same keys (one bulk insert, see _bulk_insert).
NO_STATEMENT: dict[str, Any] = dict.fromkeys(("credit_limit", "balance", "statement_balance", "minimum_due",
                                              "statement_due"))


def _credit_statement(row: int, midnight: datetime) -> dict[str, Any]:
    """A credit card's limit, balance owed and last statement (EUR), from a generator of its own so the
    rest of the row's draws stay as they were. Demo customers 1..3 always owe something."""
    rng = random.Random(f"credit-card-{row}")
    limit = Decimal(rng.choice((1500, 2000, 3000, 5000))).quantize(Decimal("0.01"))
    statement = _cents(rng, 150, 900) if row <= 3 or rng.random() < 0.7 else Decimal("0.00")
    balance = statement + _cents(rng, 0, 300)
    minimum = min(statement, max(Decimal("25.00"), (statement * Decimal("0.05")).quantize(Decimal("0.01"))))
    return {"credit_limit": limit, "balance": balance, "statement_balance": statement, "minimum_due": minimum,
            "statement_due": (midnight + timedelta(days=rng.randint(5, 20))).date()}


def plan_row(row: int, record: dict[str, str], seed: int, as_of: date) -> Plan:
    """Generate one customer and their products from CSV ``record`` (row number ``row``), deterministically."""
    rng = random.Random(seed + row)
    demo = row in DEMO_CUSTOMERS
    midnight = datetime.combine(as_of, datetime.min.time(), tzinfo=UTC)
    created = midnight - timedelta(days=rng.randint(90, 3650), seconds=rng.randrange(86400))

    first = rng.choice(FEMALE if rng.random() < 0.5 else MALE)
    last = f"{rng.choice(SURNAMES)} {rng.choice(SURNAMES)}" if rng.random() < 0.3 else rng.choice(SURNAMES)
    region, _, cities = rng.choices(REGIONS, weights=_REGION_WEIGHTS)[0]
    city, postcode = rng.choice(cities)
    address = (f"{rng.choice(STREETS)}, {rng.randint(1, 250)}, "
               f"{postcode + rng.randrange(100):04d}-{rng.randrange(1000):03d} {city}")
    consent = rng.random() < 0.6
    if row in (1, 2):
        consent = True
    elif row == 3:
        consent = False
    customer: dict[str, Any] = {
        "id": row,
        "source_row": row,
        "first_name": first,
        "last_name": last,
        "email": f"{_ascii(first)}.{_ascii(last.split()[-1])}{row}@example.com",
        "phone": f"+3519{rng.choice('1236')}{_digits(rng, 7)}",
        "address": address,
        "region": region,
        "age": int(record["age"]),
        "job": record["job"].strip('"'),
        "marital": record["marital"].strip('"'),
        "education": record["education"].strip('"'),
        "credit_default": _yes(record["default"]),
        "housing_loan": _yes(record["housing"]),
        "personal_loan": _yes(record["loan"]),
        "contact_channel": record["contact"].strip('"'),
        "marketing_consent": consent,
        "created_at": created,
        "version": 1,
        "time_zone": REGION_TIME_ZONES.get(region),  # None: the bank's zone (Europe/Lisbon)
    }
    plan = Plan(customer=customer)
    # The trigger dates come from their own generator: the main one's sequence (every other value) is unchanged.
    dates = random.Random(f"trigger-dates:{seed}:{row}")
    today = as_of
    branch = _digits(rng, 4)

    def account(kind: str, digit: int, name: str, balance: Decimal) -> None:
        number = _iban(BANK_CODE, branch, f"{row:08d}{digit}{_digits(rng, 2)}")
        matures = today + timedelta(days=dates.randint(1, 365)) if kind == "term_deposit" else None
        plan.accounts.append({"customer_id": row, "kind": kind, "name": name, "number": number,
                              "balance": balance, "currency": "EUR", "created_at": created, "matures_on": matures})

    balance = Decimal(int(record["balance"])).quantize(Decimal("0.01"))
    if demo and balance < 1000:
        balance = _cents(rng, 1000, 4000)
    account("current", 1, "Current account", balance)
    if demo or rng.random() < 0.4:
        account("savings", 2, "Savings account", _cents(rng, 100, 30000))
    if _yes(record.get("y", "no")) and row not in (1, 2):
        account("term_deposit", 3, "Term deposit 12 months", Decimal(rng.randint(2, 40) * 500))

    def card(kind: str, digit: int) -> None:
        number = _luhn(f"{CARD_BIN}{row:08d}{digit}{_digits(rng, 2)}")
        plan.cards.append(("current", {"customer_id": row, "kind": kind, "number": number,
                                       "status": "active", "created_at": created,
                                       "expires_on": today + timedelta(days=dates.randint(1, 4 * 365)),
                                       **(_credit_statement(row, midnight) if kind == "credit" else NO_STATEMENT)}))

    card("debit", 1)
    if row in (1, 2, 3) or (not demo and rng.random() < 0.3):
        card("credit", 2)

    for _ in range(rng.randint(1, 2)):
        payee_first = rng.choice(FEMALE + MALE)
        iban = _iban(rng.choice(OTHER_BANKS), _digits(rng, 4), _digits(rng, 11))
        if all(p["iban"] != iban for p in plan.payees):
            plan.payees.append({"customer_id": row, "name": f"{payee_first} {rng.choice(SURNAMES)}",
                                "iban": iban, "created_at": created})

    for _ in range(rng.randint(6, 10)):
        merchant = rng.choice(_MERCHANT_NAMES)
        spec = MERCHANTS[merchant]
        if isinstance(spec[0], str):
            amount = Decimal(str(rng.choice(spec)))
        else:
            low, high = int(spec[0]), int(spec[1])
            amount = _cents(rng, low, high)
        booked = midnight - timedelta(days=rng.randint(1, 60)) + timedelta(seconds=rng.randint(8 * 3600, 22 * 3600))
        plan.transactions.append(("current", {"booked_at": booked, "amount": -amount, "merchant": merchant,
                                              "description": f"Card payment {merchant}", "transfer_id": None}))

    if customer["housing_loan"]:
        principal = Decimal(rng.randint(60, 350) * 1000)
        outstanding = (principal * Decimal(rng.randint(20, 95)) / 100).quantize(Decimal("0.01"))
        plan.loans.append({"customer_id": row, "kind": "mortgage", "principal": principal,
                           "outstanding": outstanding, "created_at": created,
                           "next_payment_on": today + timedelta(days=dates.randint(1, 30))})
    if customer["personal_loan"]:
        principal = Decimal(rng.randint(4, 50) * 500)
        outstanding = (principal * Decimal(rng.randint(10, 95)) / 100).quantize(Decimal("0.01"))
        plan.loans.append({"customer_id": row, "kind": "personal_loan", "principal": principal,
                           "outstanding": outstanding, "created_at": created,
                           "next_payment_on": today + timedelta(days=dates.randint(1, 30))})
    plan.consent = {"customer_id": row, "purpose": "marketing", "channel": "all", "granted": consent,
                    "source": "seed", "updated_at": created}
    return plan


def read_rows(path: Path, limit: int | None = None) -> Iterator[tuple[int, dict[str, str]]]:
    """Yield ``(row_number, record)`` from the semicolon-separated file; row 1 is the first data row."""
    with path.open(newline="", encoding="utf-8") as handle:
        for row, record in enumerate(csv.DictReader(handle, delimiter=";"), start=1):
            if limit is not None and row > limit:
                return
            yield row, record


def _table(model: type[Base]) -> Table:
    table = model.__table__
    assert isinstance(table, Table)
    return table


def _bulk_insert(session: Session, model: type[Base], rows: list[dict[str, Any]]) -> None:
    """Insert rows that all have the same keys: COPY on PostgreSQL, Core executemany elsewhere."""
    if not rows:
        return
    table = _table(model)
    connection = session.connection()
    if connection.dialect.name != "postgresql":
        session.execute(insert(table), rows)
        return
    columns = list(rows[0])  # our own model's column names: plain identifiers
    raw = connection.connection.driver_connection
    assert raw is not None
    with raw.cursor() as cursor, cursor.copy(f"COPY {table.name} ({', '.join(columns)}) FROM STDIN") as copy:
        for row in rows:
            copy.write_row([row[c] for c in columns])


def _insert_chunk(session: Session, plans: list[Plan]) -> None:
    """Bulk-insert one chunk; only accounts need their new ids back (for cards and transactions)."""
    _bulk_insert(session, Customer, [p.customer for p in plans])
    accounts = [a for p in plans for a in p.accounts]
    ids = session.scalars(insert(Account).returning(Account.id, sort_by_parameter_order=True), accounts).all()
    account_id = {(a["customer_id"], a["kind"]): i for a, i in zip(accounts, ids, strict=True)}
    cards: list[dict[str, Any]] = []
    transactions: list[dict[str, Any]] = []
    for p in plans:
        cid = p.customer["id"]
        cards.extend({**c, "account_id": account_id[(cid, kind)]} for kind, c in p.cards)
        transactions.extend({**t, "account_id": account_id[(cid, kind)]} for kind, t in p.transactions)
    _bulk_insert(session, Card, cards)
    _bulk_insert(session, Transaction, transactions)
    _bulk_insert(session, Payee, [r for p in plans for r in p.payees])
    _bulk_insert(session, Loan, [r for p in plans for r in p.loans])
    _bulk_insert(session, Consent, [p.consent for p in plans])


def _sync_sequences() -> None:
    """After explicit customer ids, move PostgreSQL's id sequence past them."""
    engine = get_engine()
    if engine.dialect.name != "postgresql":
        return
    with engine.begin() as conn:
        conn.execute(text(
            "SELECT setval(pg_get_serial_sequence('customers', 'id'), "
            "COALESCE((SELECT MAX(id) FROM customers), 0) + 1, false)"
        ))


@dataclass(frozen=True)
class SeedReport:
    imported: int
    skipped: int
    seconds: float


def seed(
    limit: int | None = None,
    *,
    csv_path: Path | None = None,
    as_of: date | None = None,
    progress: bool = True,
) -> SeedReport:
    """Create the tables and import up to ``limit`` rows (None/0: ``settings.seed_customers``, 0 = all).

    Rows already imported, and rows of erased customers (``erasures.source_row``), are skipped (``skipped``). Dates are relative to ``as_of`` (default: today, UTC).

    Raises:
        FileNotFoundError: the CSV file does not exist.
    """
    settings = get_settings()
    path = csv_path or settings.data_dir / "bank_marketing" / "bank-full-train.csv"
    if not path.is_file():
        raise FileNotFoundError(f"bank-marketing file not found: {path}")
    limit = limit or settings.seed_customers or None
    day = as_of or datetime.now(UTC).date()
    started = time.perf_counter()
    init_db()
    with session_scope() as session:
        done = set(session.scalars(select(Customer.source_row).where(Customer.source_row.is_not(None))))
        done |= set(session.scalars(select(Erasure.source_row).where(Erasure.source_row.is_not(None))))
    source = list(read_rows(path, limit))
    rows = [(row, rec) for row, rec in source if row not in done]
    skipped = len(source) - len(rows)
    with tqdm(total=len(rows), unit="customer", desc="import", disable=not progress) as bar:
        for start in range(0, len(rows), CHUNK):
            chunk = rows[start:start + CHUNK]
            plans = [plan_row(row, rec, settings.seed, day) for row, rec in chunk]
            with session_scope(write=True) as session:
                _insert_chunk(session, plans)
            bar.update(len(chunk))
    _sync_sequences()
    report = SeedReport(imported=len(rows), skipped=skipped, seconds=time.perf_counter() - started)
    log.info("seed: %d imported, %d already there or erased, %.1f s", report.imported, report.skipped, report.seconds)
    return report


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m profiles.seed", description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--limit", type=int, default=None, help="import only the first N rows")
    parser.add_argument("--demo-tokens", action="store_true",
                        help="only print 'id<TAB>name<TAB>token' (24 h) for the demo customers 1..5 present "
                             "(imports nothing)")
    parser.add_argument("--as-of", type=date.fromisoformat, default=None,
                        help="date the synthetic history ends (default: today, UTC)")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    if args.demo_tokens:
        try:
            tokens = demo_tokens()
        except DemoDisabled as exc:
            print(f"seed: {exc} (demo customers exist only in development)", file=sys.stderr)
            return 1
        except SQLAlchemyError:  # no database or no schema yet
            tokens = []
        for cid, name, token in tokens:
            print(f"{cid}\t{name}\t{token}")
        if not tokens:
            print("seed: no demo customer in the database (run python -m profiles.seed first)", file=sys.stderr)
            return 1
        return 0
    report = seed(args.limit, as_of=args.as_of, progress=not args.quiet)
    print(f"seed: {report.imported} customers imported, {report.skipped} already there or erased, "
          f"{report.seconds:.1f} s", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
