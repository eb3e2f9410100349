"""Read side: masking everywhere a number leaves profiles/, accounts, transactions, products, offers, hand-offs."""

from __future__ import annotations

import logging
import subprocess
import sys
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest
from sqlalchemy import Engine, text

import profiles
from profiles import (
    InvalidInput,
    NotFound,
    create_handoff,
    get_customer,
    last_offer_outcome,
    list_accounts,
    list_cards,
    list_payees,
    list_transactions,
    mask_number,
    products_held,
    record_offer,
)
from profiles.db import session_scope
from profiles.models import Card, HandoffRequest, Loan, Transaction
from tests.profiles.conftest import Built


@pytest.mark.parametrize(
    ("number", "masked"),
    [
        ("PT50000201231234567890154", "•••• 0154"),
        ("PT50 0002 0123 1234 5678 9015 4", "•••• 0154"),
        ("4999-9999-0000-1234", "•••• 1234"),
        ("12345", "•••• 2345"),
        ("1234", "••••"),
        ("", "••••"),
        (None, "••••"),
    ],
)
def test_mask_number(number: str | None, masked: str) -> None:
    assert mask_number(number) == masked


def test_numbers_leave_profiles_masked(alice: Built) -> None:
    shown = repr((list_accounts(alice.customer_id), list_payees(alice.customer_id), list_cards(alice.customer_id),
                  profiles.transfer(alice.customer_id, alice.current_id, to_account_id=alice.savings_id,
                                    amount="1", channel="web", actor="customer"),
                  list_transactions(alice.customer_id)))
    for number in (alice.current_number, alice.savings_number, alice.payee_iban, alice.card_number):
        assert number not in shown
        assert number[-4:] in shown


def test_no_numbers_or_contact_details_in_logs(alice: Built, caplog: pytest.LogCaptureFixture) -> None:
    customer = get_customer(alice.customer_id)
    with caplog.at_level(logging.DEBUG, logger="profiles"):
        profiles.transfer(alice.customer_id, alice.current_id, to_payee_id=alice.payee_id, amount="5",
                          channel="web", actor="customer")
        profiles.block_card(alice.customer_id, alice.debit_card_id, reason="lost", channel="web", actor="customer")
        profiles.update_contact(alice.customer_id, "email", "new.address@example.com", channel="web",
                                actor="customer")
        profiles.update_contact(alice.customer_id, "phone", "+351 963 000 000", channel="web", actor="customer")
    logged = "\n".join(r.getMessage() for r in caplog.records)
    assert logged  # something was logged, by id
    for secret in (alice.current_number, alice.payee_iban, alice.card_number, alice.card_number[-4:],
                   customer.email, "new.address@example.com", customer.phone, "+351963000000"):
        assert secret not in logged


def test_customer_view(alice: Built) -> None:
    view = get_customer(alice.customer_id)
    assert (view.id, view.first_name, view.marketing_consent) == (alice.customer_id, "Test", True)
    with pytest.raises(NotFound):
        get_customer(999_999)


def test_accounts_are_ordered_and_in_decimal(alice: Built) -> None:
    accounts = list_accounts(alice.customer_id)
    assert [a.kind for a in accounts] == ["current", "savings", "term_deposit"]
    assert all(isinstance(a.balance, Decimal) and a.currency == "EUR" for a in accounts)
    assert accounts[0].balance == Decimal("1000.00")
    with pytest.raises(NotFound):
        list_accounts(999_999)


def _add_transactions(account_id: int) -> None:
    now = datetime.now(UTC)
    rows = [
        (now - timedelta(days=1), "-12.30", "Pingo Doce"),
        (now - timedelta(days=3), "-9.99", "Netflix"),
        (now - timedelta(days=10), "-45.00", "Continente"),
        (now - timedelta(days=40), "-3.50", "Starbucks"),
        (now - timedelta(days=2), "1500.00", None),
    ]
    with session_scope() as s:
        s.add_all(Transaction(account_id=account_id, booked_at=when, amount=Decimal(amount), merchant=merchant,
                              description=merchant or "Salary") for when, amount, merchant in rows)


def test_list_transactions_filters(alice: Built, bob: Built) -> None:
    _add_transactions(alice.current_id)
    _add_transactions(bob.current_id)
    newest = list_transactions(alice.customer_id)
    assert [t.merchant for t in newest] == ["Pingo Doce", None, "Netflix", "Continente", "Starbucks"]
    assert all(t.account_id == alice.current_id for t in newest)
    assert all(t.booked_at.tzinfo is not None for t in newest)
    assert [t.merchant for t in list_transactions(alice.customer_id, merchant="pingo")] == ["Pingo Doce"]
    assert list_transactions(alice.customer_id, merchant="100%_") == []
    week = list_transactions(alice.customer_id, since=datetime.now(UTC) - timedelta(days=7))
    assert len(week) == 3
    assert len(list_transactions(alice.customer_id, until=datetime.now(UTC).date() - timedelta(days=30))) == 1
    assert len(list_transactions(alice.customer_id, limit=2)) == 2
    assert list_transactions(alice.customer_id, account_id=alice.savings_id) == []
    with pytest.raises(NotFound):
        list_transactions(alice.customer_id, account_id=bob.current_id)
    with pytest.raises(InvalidInput):
        list_transactions(alice.customer_id, limit=0)
    with pytest.raises(InvalidInput):
        list_transactions(alice.customer_id, since=date(2026, 2, 1), until=date(2026, 1, 1))


def test_products_held(alice: Built, bob: Built) -> None:
    assert products_held(bob.customer_id) == {"current_account", "savings_account"}
    with session_scope() as s:
        s.add(Card(customer_id=alice.customer_id, account_id=alice.current_id, kind="credit",
                   number="4999000011112222", status="blocked"))
        s.add(Loan(customer_id=alice.customer_id, kind="mortgage", principal=Decimal("100000"),
                   outstanding=Decimal("50000")))
    assert products_held(alice.customer_id) == {
        "current_account", "savings_account", "term_deposit", "credit_card", "mortgage"
    }
    assert products_held(alice.customer_id) <= set(profiles.PRODUCT_IDS)


def test_offers(alice: Built, bob: Built) -> None:
    assert last_offer_outcome(alice.customer_id, "credit_card") is None
    record_offer(alice.customer_id, "credit_card", "shown", channel="web")
    record_offer(alice.customer_id, "credit_card", "declined", channel="web")
    record_offer(bob.customer_id, "credit_card", "accepted", channel="web")
    outcome = last_offer_outcome(alice.customer_id, "credit_card")
    assert outcome is not None and outcome[0] == "declined"
    assert abs(outcome[1] - datetime.now(UTC)) < timedelta(minutes=1)
    assert last_offer_outcome(alice.customer_id, "mortgage") is None
    with pytest.raises(InvalidInput):
        record_offer(alice.customer_id, "credit_card", "maybe", channel="web")
    with pytest.raises(InvalidInput):
        record_offer(alice.customer_id, "yacht", "shown", channel="web")
    with pytest.raises(NotFound):
        record_offer(999_999, "credit_card", "shown", channel="web")


def test_handoff(alice: Built) -> None:
    anonymous = create_handoff(customer_id=None, sender_id="web-123", channel="socketio", reason="wants a human")
    known = create_handoff(customer_id=alice.customer_id, sender_id="tg-9", channel="telegram", reason="x" * 500)
    assert anonymous.status == known.status == "open"
    assert known.created_at.tzinfo is not None
    with session_scope() as s:
        row = s.get(HandoffRequest, known.id)
        assert row is not None and (row.customer_id, len(row.reason)) == (alice.customer_id, 200)
    with pytest.raises(NotFound):
        create_handoff(customer_id=999_999, sender_id="s", channel="web", reason="r")
    with pytest.raises(InvalidInput):
        create_handoff(customer_id=None, sender_id="", channel="web", reason="r")


def test_sqlite_pragmas(sqlite_db: Engine) -> None:
    with sqlite_db.connect() as conn:
        assert conn.execute(text("PRAGMA foreign_keys")).scalar() == 1
        assert conn.execute(text("PRAGMA busy_timeout")).scalar() >= 5000
        assert conn.execute(text("PRAGMA journal_mode")).scalar() == "wal"


def test_session_scope_rolls_back(db: Engine, make_customer: Callable[..., Built]) -> None:
    built = make_customer()
    with pytest.raises(RuntimeError), session_scope() as s:
        s.execute(text("UPDATE accounts SET balance = 0 WHERE id = :id"), {"id": built.current_id})
        raise RuntimeError("boom")
    assert list_accounts(built.customer_id)[0].balance == Decimal("1000.00")


def test_importing_profiles_opens_no_database(tmp_path: object) -> None:
    code = (
        "import profiles, profiles.db as db, profiles.seed, sys\n"
        "assert db._engine is None and db._sessionmaker is None\n"
        "assert 'psycopg' not in sys.modules\n"
    )
    env = {"DATABASE_URL": "postgresql+psycopg://nobody@127.0.0.1:1/none", "PATH": ""}
    subprocess.run([sys.executable, "-c", code], check=True, env=env, cwd=str(profiles.settings.ROOT))
