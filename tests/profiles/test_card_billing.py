"""Credit cards: limit and balance, and paying the bill from an account (profiles/card_billing.py)."""

from __future__ import annotations

import threading
from decimal import Decimal

import pytest
from sqlalchemy import select

from profiles import InsufficientFunds, InvalidInput, NotAllowed, NotFound, list_accounts
from profiles.accounts import account_details
from profiles.card_billing import (
    AlreadyPaid,
    bill_amount,
    check_card_payment,
    find_card_payment,
    list_credit_cards,
    pay_card_bill,
)
from profiles.db import session_scope
from profiles.models import AuditLog, Card, CardPayment, Transaction
from tests.profiles.conftest import Built, snapshot


def _credit_card(customer: Built, *, owed: str = "400.00", statement: str = "300.00", minimum: str = "25.00",
                 limit: str = "2000.00") -> int:
    with session_scope() as s:
        card = Card(customer_id=customer.customer_id, account_id=customer.current_id, kind="credit",
                    number=f"4999888{customer.customer_id:07d}22", status="active", credit_limit=Decimal(limit),
                    balance=Decimal(owed), statement_balance=Decimal(statement), minimum_due=Decimal(minimum))
        s.add(card)
        s.flush()
        return card.id


def _balance(customer: Built) -> Decimal:
    return next(a.balance for a in list_accounts(customer.customer_id) if a.id == customer.current_id)


def test_credit_cards_show_limit_owed_and_available(alice: Built) -> None:
    card_id = _credit_card(alice)
    (card,) = list_credit_cards(alice.customer_id)  # the debit card is not a credit card
    assert (card.id, card.credit_limit, card.balance, card.available) == (
        card_id, Decimal("2000.00"), Decimal("400.00"), Decimal("1600.00"))
    assert card.masked_number.endswith("22") and "4999888" not in card.masked_number


def test_bill_amount_choices(alice: Built) -> None:
    _credit_card(alice)
    (card,) = list_credit_cards(alice.customer_id)
    assert bill_amount(card, "full") == Decimal("300.00")
    assert bill_amount(card, "minimum") == Decimal("25.00")
    assert bill_amount(card, "balance") == Decimal("400.00")
    assert bill_amount(card, "120.5") == Decimal("120.50")
    for bad in ("400.01", "0", "-3", "1.234", "lots"):
        with pytest.raises(InvalidInput):
            bill_amount(card, bad)


def test_pay_full_statement_moves_money_once_and_audits(alice: Built) -> None:
    card_id = _credit_card(alice)
    result = pay_card_bill(alice.customer_id, card_id, alice.current_id, amount="300.00", channel="rest",
                           actor=f"customer:{alice.customer_id}", idempotency_key="k1")
    assert result.from_account.balance == Decimal("700.00") == _balance(alice)
    assert (result.card.balance, result.card.statement_balance, result.card.minimum_due) == (
        Decimal("100.00"), Decimal("0.00"), Decimal("0.00"))
    before = snapshot()
    with pytest.raises(AlreadyPaid):  # a replayed confirmation: nothing moves
        pay_card_bill(alice.customer_id, card_id, alice.current_id, amount="300.00", channel="rest",
                      actor="customer", idempotency_key="k1")
    assert snapshot() == before
    made = find_card_payment(alice.customer_id, "k1")
    assert made is not None and made.amount == Decimal("300.00")
    with session_scope() as s:
        (row,) = s.scalars(select(Transaction).where(Transaction.description.like("Credit card payment%"))).all()
        assert row.amount == Decimal("-300.00") and "4999888" not in row.description
        audit = s.scalars(select(AuditLog).where(AuditLog.entity == "card_payment")).one()
        assert audit.entity_id == result.payment_id


def test_refusals_write_nothing(alice: Built, bob: Built) -> None:
    card_id = _credit_card(alice)
    before = snapshot()
    # (customer, card, source account, amount, error)
    cases: list[tuple[int, int, int | None, str, type[Exception]]] = [
        (alice.customer_id, card_id, alice.current_id, "500", InvalidInput),  # more than owed
        (alice.customer_id, alice.debit_card_id, alice.current_id, "10", NotAllowed),  # a debit card has no bill
        (bob.customer_id, card_id, bob.current_id, "10", NotFound),  # another customer's card
        (alice.customer_id, card_id, bob.current_id, "10", NotFound),  # another customer's account
        (alice.customer_id, card_id, alice.term_id, "10", NotAllowed),  # a term deposit
    ]
    for n, (customer_id, card, account, amount, error) in enumerate(cases):
        assert account is not None
        with pytest.raises(error):
            check_card_payment(customer_id, card, amount, account)
        with pytest.raises(error):
            pay_card_bill(customer_id, card, account, amount=amount, channel="rest", actor="customer",
                          idempotency_key=f"bad{n}")
    assert snapshot() == before


def test_not_more_than_available_in_the_account(bob: Built) -> None:
    card_id = _credit_card(bob, owed="900.00", statement="800.00")
    with pytest.raises(InsufficientFunds):
        pay_card_bill(bob.customer_id, card_id, bob.current_id, amount="800", channel="rest", actor="customer",
                      idempotency_key="k")


def test_concurrent_replays_pay_once(alice: Built) -> None:
    card_id = _credit_card(alice)
    outcomes: list[str] = []

    def pay() -> None:
        try:
            pay_card_bill(alice.customer_id, card_id, alice.current_id, amount="25", channel="rest",
                          actor="customer", idempotency_key="same")
            outcomes.append("paid")
        except AlreadyPaid:
            outcomes.append("already")

    threads = [threading.Thread(target=pay) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(outcomes) == ["already"] * 3 + ["paid"]
    assert _balance(alice) == Decimal("975.00")
    with session_scope() as s:
        assert len(s.scalars(select(CardPayment)).all()) == 1


def test_account_details_full_iban_only_for_the_owner(alice: Built) -> None:
    details = account_details(alice.customer_id)
    assert [d.kind for d in details] == ["current", "savings", "term_deposit"]
    assert details[0].iban.replace(" ", "") == alice.current_number
    assert details[0].holder.startswith("Test Customer") and details[0].bic
    with pytest.raises(NotFound):
        account_details(999_999)
