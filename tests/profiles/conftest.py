"""Fixtures for profiles/ tests: customers built directly in the database, and a snapshot of its state."""

from __future__ import annotations

import itertools
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import Engine, func, select

from profiles.db import session_scope
from profiles.models import Account, AuditLog, Base, Card, Consent, Customer, Payee, utcnow

_serial = itertools.count(1)


@dataclass(frozen=True)
class Built:
    customer_id: int
    current_id: int
    savings_id: int
    term_id: int | None
    payee_id: int
    debit_card_id: int
    current_number: str
    savings_number: str
    payee_iban: str
    card_number: str
    payee_name: str


def build_customer(
    *,
    balance: str = "1000.00",
    savings: str = "500.00",
    term: str | None = None,
    consent: bool = False,
    email: str | None = None,
    phone: str = "+351912345678",
) -> Built:
    """Insert one customer with a current and a savings account, a payee and a debit card."""
    n = next(_serial)
    with session_scope() as s:
        customer = Customer(
            first_name="Test", last_name=f"Customer{n}", email=email or f"test{n}@example.com", phone=phone,
            address=f"Rua Direita, {n}, 1000-001 Lisboa", region="Área Metropolitana de Lisboa", age=40,
            job="technician", marital="single", education="secondary", contact_channel="cellular",
            marketing_consent=consent,
        )
        s.add(customer)
        s.flush()
        s.add(Consent(customer_id=customer.id, purpose="marketing", channel="all", granted=consent,
                      source="test", updated_at=utcnow()))
        current = Account(customer_id=customer.id, kind="current", name="Current account",
                          number=f"PT50099900{n:011d}01", balance=Decimal(balance))
        saving = Account(customer_id=customer.id, kind="savings", name="Savings account",
                         number=f"PT50099900{n:011d}02", balance=Decimal(savings))
        s.add_all([current, saving])
        term_account = None
        if term is not None:
            term_account = Account(customer_id=customer.id, kind="term_deposit", name="Term deposit",
                                   number=f"PT50099900{n:011d}03", balance=Decimal(term))
            s.add(term_account)
        payee = Payee(customer_id=customer.id, name=f"Payee of {n}", iban=f"PT50003300{n:011d}99")
        s.add(payee)
        s.flush()
        card = Card(customer_id=customer.id, account_id=current.id, kind="debit",
                    number=f"49999999{n:06d}11", status="active")
        s.add(card)
        s.flush()
        return Built(
            customer_id=customer.id, current_id=current.id, savings_id=saving.id,
            term_id=term_account.id if term_account else None, payee_id=payee.id, debit_card_id=card.id,
            current_number=current.number, savings_number=saving.number, payee_iban=payee.iban,
            card_number=card.number, payee_name=payee.name,
        )


@pytest.fixture
def make_customer() -> Callable[..., Built]:
    """``make_customer(balance="100.00", ...)`` -> ``Built``; request ``db`` (or ``pg_db``) alongside."""
    return build_customer


@pytest.fixture
def alice(db: Engine) -> Built:
    return build_customer(balance="1000.00", savings="500.00", term="2000.00", consent=True)


@pytest.fixture
def bob(db: Engine) -> Built:
    return build_customer(balance="300.00", savings="50.00")


def snapshot() -> dict[str, Any]:
    """Every row count and every account balance, card status and customer row: equal before/after = no write."""
    with session_scope() as s:
        counts = {
            t.name: s.scalar(select(func.count()).select_from(t)) for t in Base.metadata.sorted_tables
        }
        balances = dict(s.execute(select(Account.id, Account.balance)).all())
        cards = dict(s.execute(select(Card.id, Card.status)).all())
        customers = [tuple(r) for r in s.execute(select(Customer.__table__).order_by(Customer.id))]
        return {"counts": counts, "balances": balances, "cards": cards, "customers": customers}


def audit_rows(customer_id: int) -> list[AuditLog]:
    with session_scope() as s:
        return list(s.scalars(select(AuditLog).where(AuditLog.customer_id == customer_id).order_by(AuditLog.id)))
