"""The seed: idempotent, deterministic, faithful to the bank-marketing file, demo customers as promised."""

from __future__ import annotations

import csv
import io
from contextlib import redirect_stdout
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

import jwt
import phonenumbers
import pytest
from sqlalchemy import Engine, func, select, text

from profiles import (
    get_customer,
    has_marketing_consent,
    list_accounts,
    list_cards,
    list_payees,
    normalise_contact,
    products_held,
    verify_token,
)
from profiles.card_billing import list_credit_cards
from profiles.db import init_db, session_scope
from profiles.models import Account, Base, Card, Customer, Loan, Payee, Transaction
from profiles.privacy import erase_customer
from profiles.seed import MERCHANTS, demo_tokens, main, seed
from profiles.settings import get_settings

AS_OF = date(2026, 11, 1)
LIMIT = 200
CSV_PATH = get_settings().data_dir / "bank_marketing" / "bank-full-train.csv"

pytestmark = pytest.mark.skipif(not CSV_PATH.is_file(), reason=f"{CSV_PATH} not present")


def dump() -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every table, in primary-key order."""
    with session_scope() as s:
        return {
            t.name: [tuple(r) for r in s.execute(select(t).order_by(*t.primary_key.columns))]
            for t in Base.metadata.sorted_tables
        }


def _source_rows(limit: int) -> list[dict[str, str]]:
    with CSV_PATH.open(newline="") as handle:
        return [row for _, row in zip(range(limit), csv.DictReader(handle, delimiter=";"), strict=False)]


def test_seed_is_idempotent_and_deterministic(db: Engine) -> None:
    first = seed(LIMIT, as_of=AS_OF, progress=False)
    assert (first.imported, first.skipped) == (LIMIT, 0)
    once = dump()
    second = seed(LIMIT, as_of=AS_OF, progress=False)
    assert (second.imported, second.skipped) == (0, LIMIT)
    assert dump() == once

    # From scratch in two steps (a smaller import, then the rest): the very same database.
    Base.metadata.drop_all(db)
    with db.begin() as conn:
        conn.execute(text("DROP TABLE alembic_version"))
    init_db()
    assert seed(LIMIT // 4, as_of=AS_OF, progress=False).imported == LIMIT // 4
    assert seed(LIMIT, as_of=AS_OF, progress=False).imported == LIMIT - LIMIT // 4
    assert dump() == once


def test_seed_follows_the_source_file(db: Engine) -> None:
    seed(LIMIT, as_of=AS_OF, progress=False)
    source = _source_rows(LIMIT)
    with session_scope() as s:
        customers = s.scalars(select(Customer).order_by(Customer.id)).all()
        assert [c.id for c in customers] == list(range(1, LIMIT + 1))
        current = dict(s.execute(select(Account.customer_id, Account.balance).where(Account.kind == "current")).all())
        loans = {(c, k) for c, k in s.execute(select(Loan.customer_id, Loan.kind))}
        terms = set(s.scalars(select(Account.customer_id).where(Account.kind == "term_deposit")))
        for customer, row in zip(customers, source, strict=True):
            assert (customer.age, customer.job, customer.marital, customer.education) == (
                int(row["age"]), row["job"], row["marital"], row["education"])
            assert customer.credit_default == (row["default"] == "yes")
            assert customer.housing_loan == (row["housing"] == "yes") == ((customer.id, "mortgage") in loans)
            assert customer.personal_loan == (row["loan"] == "yes") == ((customer.id, "personal_loan") in loans)
            assert customer.contact_channel == row["contact"]
            if customer.id > 5:
                assert current[customer.id] == Decimal(row["balance"])
                assert (customer.id in terms) == (row["y"] == "yes")


def _iban_ok(iban: str) -> bool:
    moved = iban[4:] + iban[:4]
    return int("".join(str(int(ch, 36)) for ch in moved)) % 97 == 1


def _luhn_ok(number: str) -> bool:
    total = 0
    for i, ch in enumerate(reversed(number)):
        d = int(ch) * (2 if i % 2 else 1)
        total += d - 9 if d > 9 else d
    return total % 10 == 0


def test_seeded_values_are_valid(db: Engine) -> None:
    seed(LIMIT, as_of=AS_OF, progress=False)
    midnight = datetime.combine(AS_OF, datetime.min.time(), tzinfo=UTC)
    with session_scope() as s:
        customers = s.scalars(select(Customer)).all()
        for c in customers:
            assert normalise_contact("email", c.email) == c.email
            assert phonenumbers.is_valid_number(phonenumbers.parse(c.phone)) and c.phone.startswith("+351")
            assert normalise_contact("address", c.address) == c.address
        numbers = [*s.scalars(select(Account.number)), *s.scalars(select(Payee.iban))]
        assert all(_iban_ok(n) and n.startswith("PT") and len(n) == 25 for n in numbers)
        cards = s.scalars(select(Card)).all()
        assert all(_luhn_ok(c.number) and len(c.number) == 16 and c.status == "active" for c in cards)
        assert {c.customer_id for c in cards if c.kind == "debit"} == {c.id for c in customers}
        tx = s.scalars(select(Transaction)).all()
        assert 6 * LIMIT <= len(tx) <= 10 * LIMIT
        assert {t.merchant for t in tx} <= set(MERCHANTS)
        assert all(midnight - timedelta(days=61) < t.booked_at < midnight and t.amount < 0 for t in tx)
        opted_in = s.scalar(select(func.count()).where(Customer.marketing_consent.is_(True)))
        assert 0.45 * LIMIT <= (opted_in or 0) <= 0.75 * LIMIT
        payees = dict(s.execute(select(Payee.customer_id, func.count()).group_by(Payee.customer_id)).all())
        assert set(payees) == {c.id for c in customers} and set(payees.values()) <= {1, 2}


def test_demo_customers(db: Engine) -> None:
    seed(10, as_of=AS_OF, progress=False)
    for cid in range(1, 6):
        accounts = list_accounts(cid)
        current = [a for a in accounts if a.kind == "current"]
        assert current and current[0].balance > 0
        assert any(a.kind == "savings" for a in accounts)
        assert list_payees(cid)
        cards = list_cards(cid)
        assert any(c.kind == "debit" and c.status == "active" for c in cards)
        assert any(c.kind == "credit" for c in cards) == (cid <= 3)
    for cid in (1, 2, 3):  # each credit card has a limit and a statement to pay (issue 11 item 9)
        (card,) = list_credit_cards(cid)
        assert card.credit_limit > 0 and 0 < card.statement_balance <= card.balance <= card.credit_limit
        assert 0 < card.minimum_due <= card.statement_balance and card.statement_due is not None
    with session_scope() as s:  # a debit card has none of it
        assert s.scalar(select(func.count()).select_from(Card).where(
            Card.kind == "debit", Card.credit_limit.is_not(None))) == 0
    for cid in (1, 2):
        assert has_marketing_consent(cid)
        assert "term_deposit" not in products_held(cid)
    assert not has_marketing_consent(3)


def test_demo_tokens_command(db: Engine, capsys: pytest.CaptureFixture[str]) -> None:
    # --demo-tokens only prints tokens: on an empty database it imports nothing and says so
    with redirect_stdout(io.StringIO()) as empty:
        assert main(["--demo-tokens"]) == 1
    assert empty.getvalue() == ""
    with session_scope() as s:
        assert s.scalar(select(func.count()).select_from(Customer)) == 0
    assert main(["--limit", "8", "--quiet", "--as-of", AS_OF.isoformat()]) == 0
    before = dump()
    out = io.StringIO()
    with redirect_stdout(out):
        assert main(["--demo-tokens"]) == 0
    assert dump() == before
    lines = out.getvalue().strip().splitlines()
    assert [int(line.split("\t")[0]) for line in lines] == [1, 2, 3, 4, 5]
    for line in lines:
        cid, name, token = line.split("\t")
        assert verify_token(token) == int(cid)
        customer = get_customer(int(cid))
        assert name == f"{customer.first_name} {customer.last_name}"
        claims = jwt.decode(token, options={"verify_signature": False})
        assert claims["exp"] - claims["iat"] == 24 * 3600


def test_the_seed_never_reimports_an_erased_customer(db: Engine) -> None:
    seed(8, as_of=AS_OF, progress=False)
    with session_scope() as s:
        emails = {c.id: c.email for c in s.scalars(select(Customer).where(Customer.id.in_((1, 4))))}
    for cid in (1, 4):
        erase_customer(cid, actor="root")
    report = seed(8, as_of=AS_OF, progress=False)
    assert (report.imported, report.skipped) == (0, 8)
    with session_scope() as s:
        assert s.scalars(select(Customer.id).order_by(Customer.id)).all() == [2, 3, 5, 6, 7, 8]
        assert s.scalar(select(func.count()).where(Customer.email.in_(emails.values()))) == 0
    assert [cid for cid, _, _ in demo_tokens()] == [2, 3, 5]
    # a larger seed later imports the new rows only
    assert seed(10, as_of=AS_OF, progress=False).imported == 2
    with session_scope() as s:
        assert s.get(Customer, 1) is None and s.get(Customer, 4) is None
