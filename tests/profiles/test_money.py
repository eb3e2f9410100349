"""Money is exact on both backends: NUMERIC(14, 2) on PostgreSQL, integer cents on SQLite (never a binary REAL)."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path

import pytest
from alembic import command
from alembic.config import Config
from sqlalchemy import Engine, create_engine, func, select, text

from profiles import LimitExceeded, list_accounts, remaining_daily_limit, transactions_summary, transfer
from profiles.db import BASELINE_REVISION, MIGRATIONS, init_db, session_scope
from profiles.models import Account, Transaction, Transfer, utcnow
from tests.profiles.conftest import Built


def test_a_balance_of_point_one_plus_point_two_round_trips_exactly(db: Engine, make_customer: Callable[..., Built]) -> None:
    who = make_customer(balance="0.10")
    with session_scope() as s:
        account = s.get(Account, who.current_id)
        assert account is not None
        account.balance = account.balance + Decimal("0.20")
    (current, *_) = list_accounts(who.customer_id)
    assert current.balance == Decimal("0.30") and str(current.balance) == "0.30"
    with session_scope() as s:
        # Compared in SQL: a stored 0.30000000000000004 (REAL) would not equal 0.30.
        assert s.scalar(select(func.count()).where(Account.id == who.current_id,
                                                   Account.balance == Decimal("0.30"))) == 1


def test_sums_in_sql_stay_exact(db: Engine, make_customer: Callable[..., Built]) -> None:
    who = make_customer()
    with session_scope() as s:
        s.add_all(Transaction(account_id=who.savings_id, booked_at=utcnow(), amount=Decimal(a), description="t")
                  for a in ["0.10", "0.20"] * 1000 + ["-0.30"] * 999)
    mine = Transaction.account_id == who.savings_id
    with session_scope() as s:
        total = s.scalar(select(func.sum(Transaction.amount)).where(mine))
        # Compared inside the database, before any rounding on the way out: binary floats would miss.
        exact = s.scalar(select(func.sum(Transaction.amount) == Decimal("0.30")).where(mine))
        first_two = s.scalar(select(func.sum(Transaction.amount) == Decimal("0.30")).where(
            mine, Transaction.id <= select(func.min(Transaction.id) + 1).where(mine).scalar_subquery()))
    assert total == Decimal("0.30") and isinstance(total, Decimal)
    assert exact and first_two
    assert transactions_summary(who.customer_id, account_id=who.savings_id) == (2999, Decimal("0.30"))


def test_the_daily_limit_sum_is_exact(db: Engine, make_customer: Callable[..., Built],
                                      override_settings: Callable[..., None]) -> None:
    url = str(db.url.render_as_string(hide_password=False))
    override_settings(database_url=url, daily_transfer_limit="0.30")
    who = make_customer(balance="10.00")
    transfer(who.customer_id, who.current_id, to_account_id=who.savings_id, amount="0.10", channel="web", actor="t")
    transfer(who.customer_id, who.current_id, to_account_id=who.savings_id, amount="0.20", channel="web", actor="t")
    with session_scope() as s:
        sent = s.scalar(select(func.sum(Transfer.amount)).where(Transfer.customer_id == who.customer_id))
    assert sent == Decimal("0.30")
    assert remaining_daily_limit(who.customer_id) == Decimal("0.00")
    with pytest.raises(LimitExceeded):
        transfer(who.customer_id, who.current_id, to_account_id=who.savings_id, amount="0.01", channel="web",
                 actor="t")


def test_sqlite_stores_integer_cents(sqlite_db: Engine, make_customer: Callable[..., Built]) -> None:
    who = make_customer(balance="1234.56")
    with sqlite_db.connect() as conn:
        stored = conn.execute(text("SELECT balance, typeof(balance) FROM accounts WHERE id = :id"),
                              {"id": who.current_id}).one()
        assert tuple(stored) == (123456, "integer")
        assert conn.exec_driver_sql("PRAGMA user_version").scalar() == 1


def _issue2_sqlite_file(path: Path) -> None:
    """A file as the first release wrote it: the baseline schema (migration 0001), money as NUMERIC euros, no
    alembic_version table, PRAGMA user_version 0."""
    engine = create_engine(f"sqlite:///{path}")
    with engine.begin() as conn:
        config = Config()
        config.set_main_option("script_location", str(MIGRATIONS))
        config.attributes["connection"] = conn
        command.upgrade(config, BASELINE_REVISION)
        conn.exec_driver_sql("DROP TABLE alembic_version")
    engine.dispose()
    with sqlite3.connect(path) as conn:
        conn.execute("PRAGMA foreign_keys=OFF")
        conn.executemany("INSERT INTO accounts (id, customer_id, kind, name, number, balance, currency, created_at) "
                         "VALUES (?, 1, 'current', 'c', ?, ?, 'EUR', '2020-01-01 00:00:00')",
                         [(1, "PT1", 1000.00), (2, "PT2", 0.30), (3, "PT3", -12.34)])


def test_init_db_upgrades_an_old_sqlite_file_to_cents(tmp_path: Path, override_settings: Callable[..., None]) -> None:
    """A file written by the first release (money as euros, no migrations table) keeps its values and reaches
    the newest schema revision."""
    path = tmp_path / "old.db"
    _issue2_sqlite_file(path)
    override_settings(database_url=f"sqlite:///{path}")
    init_db()
    init_db()  # idempotent: not converted twice
    with session_scope() as s:
        assert dict(s.execute(select(Account.id, Account.balance)).all()) == {
            1: Decimal("1000.00"), 2: Decimal("0.30"), 3: Decimal("-12.34")
        }
        assert s.execute(select(Account.closed_at)).scalars().all() == [None, None, None]  # column from 0002
