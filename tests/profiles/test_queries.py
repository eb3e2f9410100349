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
    latest_offer_event,
    list_accounts,
    list_cards,
    list_handoffs,
    list_payees,
    list_transactions,
    mask_number,
    products_held,
    record_offer,
    redact,
    transactions_summary,
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


@pytest.mark.parametrize(
    ("text", "redacted"),
    [
        ("my card 4111 1111 1111 1111 was stolen", "my card •••• 1111 was stolen"),
        ("4111-1111-1111-1111", "•••• 1111"),
        ("4111111111111111.", "•••• 1111."),
        ("amex 3782 822463 10005", "amex •••• 0005"),
        ("12-digit 123456789012", "12-digit •••• 9012"),
        ("19 digits 6011 0009 9013 9424 123", "19 digits •••• 4123"),
        ("NIB 0002 0123 1234 5678 9015 4", "NIB •••• 0154"),
        ("iban PT50 0002 0123 1234 5678 9015 4 please help", "iban •••• 0154 please help"),
        ("pt50000201231234567890154", "•••• 0154"),
        ("GB82-WEST-1234-5698-7654-32, thanks", "•••• 5432, thanks"),
        ("card 5500 0000 0000 0004 | DE89370400440532013000", "card •••• 0004 | •••• 3000"),
        ("send 100 EUR on 2026-11-29, call 912 345 678", "send 100 EUR on 2026-11-29, call 912 345 678"),
        ("card ending 1234, ref 12345678901", "card ending 1234, ref 12345678901"),
        ("ORDER12 abcdefghijklmnop", "ORDER12 abcdefghijklmnop"),
        ("", ""),
    ],
)
def test_redact(text: str, redacted: str) -> None:
    assert redact(text) == redacted


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


def test_transactions_summary_counts_and_sums_every_match(alice: Built, bob: Built) -> None:
    _add_transactions(alice.current_id)
    _add_transactions(bob.current_id)
    # 150 more small payments: the summary is over all of them, not the first 10 (or 100) listed.
    start = datetime.now(UTC) - timedelta(days=5)
    with session_scope() as s:
        s.add_all(Transaction(account_id=alice.savings_id, booked_at=start + timedelta(minutes=i),
                              amount=Decimal("-0.10"), merchant="Metro Lisboa", description="Metro")
                  for i in range(150))
    rows = [(Decimal("-12.30"), "Pingo Doce"), (Decimal("-9.99"), "Netflix"), (Decimal("-45.00"), "Continente"),
            (Decimal("-3.50"), "Starbucks"), (Decimal("1500.00"), None)]
    assert transactions_summary(alice.customer_id, account_id=alice.current_id) == (5, sum(a for a, _ in rows))
    assert transactions_summary(alice.customer_id) == (155, Decimal("1429.21") - Decimal("15.00"))
    count, total = transactions_summary(alice.customer_id, merchant="METRO")
    assert (count, total) == (150, Decimal("-15.00"))
    assert isinstance(total, Decimal) and total.as_tuple().exponent == -2
    week = datetime.now(UTC) - timedelta(days=7)
    listed = list_transactions(alice.customer_id, since=week, limit=100)
    assert transactions_summary(alice.customer_id, since=week) == (153, Decimal("1500.00") - Decimal("22.29") - Decimal("15.00"))
    assert len(listed) == 100  # the list is capped; the summary is not
    assert transactions_summary(alice.customer_id, until=datetime.now(UTC).date() - timedelta(days=30)) == (
        1, Decimal("-3.50"))
    assert transactions_summary(alice.customer_id, merchant="100%_") == (0, Decimal("0.00"))
    assert transactions_summary(alice.customer_id, account_id=alice.term_id) == (0, Decimal("0.00"))
    with pytest.raises(NotFound):
        transactions_summary(alice.customer_id, account_id=bob.current_id)
    with pytest.raises(NotFound):
        transactions_summary(999_999)
    with pytest.raises(InvalidInput):
        transactions_summary(alice.customer_id, since=date(2026, 2, 1), until=date(2026, 1, 1))


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
    assert latest_offer_event(alice.customer_id) is None
    record_offer(alice.customer_id, "credit_card", "shown", channel="web")
    record_offer(alice.customer_id, "credit_card", "declined", channel="web")
    record_offer(bob.customer_id, "credit_card", "accepted", channel="web")
    outcome = last_offer_outcome(alice.customer_id, "credit_card")
    assert outcome is not None and outcome[0] == "declined"
    assert abs(outcome[1] - datetime.now(UTC)) < timedelta(minutes=1)
    assert last_offer_outcome(alice.customer_id, "mortgage") is None
    record_offer(alice.customer_id, "mortgage", "shown", channel="telegram")
    latest = latest_offer_event(alice.customer_id)
    assert latest is not None and latest[:2] == ("mortgage", "shown")
    assert latest[2].tzinfo is not None and abs(latest[2] - datetime.now(UTC)) < timedelta(minutes=1)
    assert latest_offer_event(bob.customer_id) is not None
    assert latest_offer_event(bob.customer_id)[:2] == ("credit_card", "accepted")  # type: ignore[index]
    assert latest_offer_event(999_999) is None
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
        create_handoff(customer_id=None, sender_id="s", channel="web", reason="   ")
    with pytest.raises(InvalidInput):
        create_handoff(customer_id=None, sender_id="", channel="web", reason="r")


def test_sqlite_pragmas(sqlite_db: Engine) -> None:
    with sqlite_db.connect() as conn:
        assert conn.execute(text("PRAGMA foreign_keys")).scalar() == 1
        assert (conn.execute(text("PRAGMA busy_timeout")).scalar() or 0) >= 5000
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


def test_handoff_reason_never_keeps_a_card_or_iban(alice: Built) -> None:
    """Whatever the caller passes, the stored reason and the staff queue show only the last 4 digits."""
    typed = ("my card 4111 1111 1111 1111 is blocked | or 4111-1111-1111-1112 | "
             "iban PT50 0002 0123 1234 5678 9015 4 | " + "x" * 150 + " 5500 0000 0000 0004")
    view = create_handoff(customer_id=alice.customer_id, sender_id="tg-1", channel="telegram", reason=typed)
    with session_scope() as s:
        row = s.get(HandoffRequest, view.id)
        assert row is not None
        stored = row.reason
    (listed,) = [h for h in list_handoffs("open") if h.id == view.id]
    expected = ("my card •••• 1111 is blocked | or •••• 1112 | iban •••• 0154 | " + "x" * 150)[:200]
    assert stored == listed.reason == view.reason == expected
    for digits in ("4111111111111111", "4111 1111", "0002 0123", "5500"):
        assert digits not in stored
