"""Synthetic benchmark customers: loaded on both backends, valid numbers, the source's distributions, repeatable."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pandas as pd
import pytest
from sqlalchemy import Engine, func, select

from analytics.synthetic import generate, load_source
from profiles.db import session_scope
from profiles.models import Account, Card, Consent, Customer, Interaction, Loan, Payee, Transaction
from profiles.seed import _iban, _luhn
from profiles.settings import get_settings

N = 3000
AS_OF = date(2026, 11, 29)


def _count(model: type) -> int:
    with session_scope() as session:
        return int(session.scalar(select(func.count()).select_from(model)) or 0)


def test_generate_loads_every_table_in_chunks(db: Engine) -> None:
    report = generate(N, chunk=700, seed=7, as_of=AS_OF, progress=False)
    assert report.customers == N == _count(Customer) == _count(Consent)
    for model, name in ((Account, "accounts"), (Card, "cards"), (Payee, "payees"), (Transaction, "transactions"),
                        (Loan, "loans"), (Interaction, "interactions")):
        assert report.rows[name] == _count(model), name
    with session_scope() as session:
        # every customer has exactly one current account with a debit card, 6..10 payments and 1..2 payees
        assert session.scalar(select(func.count()).select_from(Account).where(Account.kind == "current")) == N
        assert session.scalar(select(func.count()).select_from(Card).where(Card.kind == "debit")) == N
        per_customer = session.execute(
            select(Account.customer_id, func.count()).join(Transaction, Transaction.account_id == Account.id)
            .group_by(Account.customer_id)).all()
        assert len(per_customer) == N and all(6 <= n <= 10 for _, n in per_customer)
        # cards hang off their owner's current account
        mismatched = session.scalar(
            select(func.count()).select_from(Card).join(Account, Account.id == Card.account_id)
            .where((Account.customer_id != Card.customer_id) | (Account.kind != "current")))
        assert mismatched == 0
        ibans = list(session.scalars(select(Account.number))) + list(session.scalars(select(Payee.iban)))
        assert all(_iban(i[4:8], i[8:12], i[12:23]) == i for i in ibans)
        cards = list(session.scalars(select(Card.number)))
        assert all(len(c) == 16 and _luhn(c[:-1]) == c for c in cards)
        assert len(set(cards)) == len(cards)
        # money round-trips exactly (integer cents on SQLite, NUMERIC on PostgreSQL)
        amounts = list(session.scalars(select(Transaction.amount).limit(200)))
        assert all(isinstance(a, Decimal) and a < 0 and a == a.quantize(Decimal("0.01")) for a in amounts)
        latest = session.scalar(select(func.max(Transaction.booked_at)))
        assert latest is not None and latest.date() < AS_OF


def test_customers_follow_the_bank_marketing_rows(db: Engine) -> None:
    generate(N, chunk=1000, seed=11, as_of=AS_OF, progress=False)
    source = load_source(get_settings().data_dir / "bank_marketing" / "bank-full-train.csv")
    with session_scope() as session:
        rows = session.execute(select(Customer.id, Customer.age, Customer.job, Customer.housing_loan,
                                      Customer.personal_loan)).all()
        mortgages = session.scalar(select(func.count()).select_from(Loan).where(Loan.kind == "mortgage"))
        deposits = session.scalar(select(func.count()).select_from(Account).where(Account.kind == "term_deposit"))
        calls = session.scalar(select(func.count()).select_from(Interaction)
                               .where(Interaction.details["campaign"].as_string() == "term_deposit"))
    frame = pd.DataFrame(rows, columns=["id", "age", "job", "housing", "loan"])
    # joint columns kept together: mortgage iff housing=yes, and the shares match the file (binomial, 4 sigma)
    assert mortgages == int(frame["housing"].sum())
    for column, synthetic in (("housing", frame["housing"].mean()), ("loan", frame["loan"].mean()),
                              ("y", (deposits or 0) / N)):
        p = source[column].mean()
        assert abs(synthetic - p) < 4 * (p * (1 - p) / N) ** 0.5, column
    assert abs(frame["age"].mean() - source["age"].mean()) < 4 * source["age"].std() / N**0.5
    assert set(frame["job"]) <= set(source["job"])
    # one campaign call per unit of the file's 'campaign' column (capped at 50): mean within 4 sigma
    expected = source["campaign"].clip(upper=50)
    assert abs(calls / N - expected.mean()) < 4 * expected.std() / N**0.5  # type: ignore[operator]


def test_same_seed_same_customers(sqlite_db: Engine, tmp_path: object, override_settings: object) -> None:
    generate(200, chunk=64, seed=3, as_of=AS_OF, progress=False)
    with session_scope() as session:
        first = session.execute(select(Customer.first_name, Customer.email, Customer.age).order_by(Customer.id)).all()
        first_accounts = session.execute(select(Account.number, Account.balance).order_by(Account.id)).all()
    override_settings(database_url=f"sqlite:///{tmp_path}/again.db")  # type: ignore[operator]
    generate(200, chunk=64, seed=3, as_of=AS_OF, progress=False)
    with session_scope() as session:
        assert session.execute(select(Customer.first_name, Customer.email, Customer.age).order_by(Customer.id)).all() == first
        assert session.execute(select(Account.number, Account.balance).order_by(Account.id)).all() == first_accounts


def test_refuses_a_database_that_holds_customers(db: Engine) -> None:
    generate(10, chunk=10, seed=1, as_of=AS_OF, progress=False)
    with pytest.raises(ValueError, match="already holds customers"):
        generate(10, chunk=10, seed=1, as_of=AS_OF, progress=False)
    assert _count(Customer) == 10
    with pytest.raises(ValueError):
        generate(0)
