"""The feature builder against real rows on SQLite and PostgreSQL: every aggregate, window and imputation."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from sqlalchemy import Engine, update

from analytics.features import COLUMNS, INCOME_BY_JOB, build_features, empty_frame
from profiles.db import session_scope
from profiles.models import (
    Account,
    Card,
    Customer,
    InsurancePolicy,
    Interaction,
    Loan,
    OfferEvent,
    Transaction,
)
from tests.profiles.conftest import build_customer

AS_OF = datetime(2026, 6, 30, 12, 0, tzinfo=UTC)


def _populate() -> tuple[int, int]:
    """One rich customer and one bare one; returns their ids."""
    rich = build_customer(balance="1000.00", savings="500.00", term="2000.00", consent=True)
    bare = build_customer(balance="-50.00", savings="0.00")
    with session_scope() as s:
        s.execute(update(Customer).where(Customer.id == rich.customer_id).values(
            created_at=AS_OF - timedelta(days=730), annual_income=Decimal("40000.00"), household_size=4,
            children=2, preferred_channel="telegram", job="management", marital="married"))
        s.execute(update(Customer).where(Customer.id == bare.customer_id).values(
            created_at=AS_OF - timedelta(days=10), job="student", marital="single"))
        # A closed account does not count; a blocked card does not count.
        s.add(Account(customer_id=rich.customer_id, kind="savings", name="old", number="PT50000000000000000000099",
                      balance=Decimal("999.00"), closed_at=AS_OF - timedelta(days=5)))
        s.execute(update(Card).where(Card.id == bare.debit_card_id).values(status="blocked"))
        s.add(Card(customer_id=rich.customer_id, account_id=rich.current_id, kind="credit",
                   number="4999000000000001", status="active"))
        s.add_all([
            Loan(customer_id=rich.customer_id, kind="mortgage", principal=Decimal("150000.00"),
                 outstanding=Decimal("100000.00"), created_at=AS_OF - timedelta(days=400)),
            Loan(customer_id=rich.customer_id, kind="personal_loan", principal=Decimal("5000.00"),
                 outstanding=Decimal("2500.00"), created_at=AS_OF - timedelta(days=100)),
            Loan(customer_id=rich.customer_id, kind="personal_loan", principal=Decimal("9000.00"),
                 outstanding=Decimal("0.00"), created_at=AS_OF - timedelta(days=900),
                 closed_at=AS_OF - timedelta(days=200)),
            InsurancePolicy(customer_id=rich.customer_id, kind="home", monthly_premium=Decimal("20.50")),
            InsurancePolicy(customer_id=rich.customer_id, kind="life", monthly_premium=Decimal("10.00")),
        ])
        s.add_all([
            Transaction(account_id=rich.current_id, booked_at=AS_OF - timedelta(days=3), amount=Decimal("-40.10"),
                        merchant="EDP", description="bill"),
            Transaction(account_id=rich.current_id, booked_at=AS_OF - timedelta(days=20), amount=Decimal("-9.90"),
                        merchant="Uber", description="ride"),
            Transaction(account_id=rich.current_id, booked_at=AS_OF - timedelta(days=30), amount=Decimal("1500.00"),
                        merchant=None, description="salary"),
            Transaction(account_id=rich.savings_id, booked_at=AS_OF - timedelta(days=120), amount=Decimal("-100.00"),
                        merchant="Vodafone", description="outside the window"),
        ])
        s.add_all([
            Interaction(customer_id=rich.customer_id, kind="chat_message", channel="telegram", direction="inbound",
                        summary="hi", actor="customer", occurred_at=AS_OF - timedelta(days=2)),
            Interaction(customer_id=rich.customer_id, kind="chat_message", channel="telegram", direction="inbound",
                        summary="balance", actor="customer", occurred_at=AS_OF - timedelta(days=1)),
            Interaction(customer_id=rich.customer_id, kind="complaint", channel="web", direction="inbound",
                        summary="fees", actor="customer", occurred_at=AS_OF - timedelta(days=6)),
            Interaction(customer_id=rich.customer_id, kind="chat_message", channel="telegram", direction="outbound",
                        summary="reply", actor="bot", occurred_at=AS_OF - timedelta(days=1)),
            Interaction(customer_id=rich.customer_id, kind="staff_note", channel="staff", direction="internal",
                        summary="old note", actor="staff", occurred_at=AS_OF - timedelta(days=200)),
        ])
        s.add_all([
            OfferEvent(customer_id=rich.customer_id, product="credit_card", outcome="shown", channel="web"),
            OfferEvent(customer_id=rich.customer_id, product="credit_card", outcome="accepted", channel="web"),
            OfferEvent(customer_id=rich.customer_id, product="mortgage", outcome="declined", channel="web"),
        ])
    return rich.customer_id, bare.customer_id


def test_every_aggregate_window_and_imputation(db: Engine) -> None:
    rich_id, bare_id = _populate()
    with session_scope() as s:
        frame = build_features(s, [bare_id, rich_id, 987654], as_of=AS_OF)

    assert list(frame.index) == [rich_id, bare_id]  # ascending, unknown id left out
    assert list(frame.columns) == list(COLUMNS)
    rich, bare = frame.loc[rich_id], frame.loc[bare_id]

    assert rich["tenure_days"] == pytest.approx(730)
    assert rich["annual_income_eur"] == 40000.0 and not rich["income_imputed"]
    assert rich["household_size"] == 4 and rich["children"] == 2
    assert rich["preferred_channel"] == "telegram"
    assert rich["balance_current_eur"] == 1000.0  # balances are the accounts' own, not re-summed from transactions
    assert rich["balance_savings_eur"] == 500.0  # the closed savings account (999) is left out
    assert rich["balance_term_deposit_eur"] == 2000.0
    assert rich["n_accounts"] == 3
    assert rich["n_debit_cards"] == 1 and rich["n_credit_cards"] == 1 and rich["has_credit_card"]
    assert rich["n_mortgages"] == 1 and rich["n_personal_loans"] == 1  # the closed loan is left out
    assert rich["loans_outstanding_eur"] == 102500.0
    assert rich["loans_principal_eur"] == 155000.0
    assert rich["personal_loans_principal_eur"] == 5000.0
    assert rich["mortgages_outstanding_eur"] == 100000.0
    assert rich["loan_age_days"] == pytest.approx(400)
    assert rich["n_insurance_policies"] == 2 and rich["insurance_premium_monthly_eur"] == pytest.approx(30.5)
    # current, savings, term deposit, credit card, personal loan, mortgage, home and life insurance
    assert rich["product_count"] == 8
    assert rich["txn_count_90d"] == 3  # the 120-day-old one is outside the window
    assert rich["txn_out_eur_90d"] == pytest.approx(50.0)
    assert rich["txn_in_eur_90d"] == pytest.approx(1500.0)
    assert rich["household_payments_90d"] == 1  # EDP inside the window; Vodafone outside
    assert rich["last_txn_days"] == pytest.approx(3)
    assert rich["interactions_90d"] == 4 and rich["inbound_90d"] == 3 and rich["complaints_90d"] == 1
    assert rich["recency_days"] == pytest.approx(1)
    assert rich["last_activity_days"] == pytest.approx(1)
    assert rich["channel_counts_90d"] == {"telegram": 2, "web": 1}
    assert (rich["offers_shown"], rich["offers_accepted"], rich["offers_declined"]) == (1, 1, 1)

    # Imputations for a customer with no stated income/household and no activity.
    assert bare["income_imputed"] and bare["annual_income_eur"] == INCOME_BY_JOB["student"]
    assert bare["household_size"] == 1 and bare["children"] == 0
    assert bare["preferred_channel"] == "unknown"
    assert bare["balance_total_eur"] == -50.0
    assert bare["n_debit_cards"] == 0  # blocked
    assert bare["product_count"] == 2  # current + savings accounts
    assert math.isnan(bare["recency_days"]) and math.isnan(bare["last_txn_days"])
    assert math.isnan(bare["last_activity_days"]) and math.isnan(bare["loan_age_days"])
    assert bare["channel_counts_90d"] == {} and bare["interactions_90d"] == 0


def test_contiguous_range_reads_the_same_as_an_id_list(db: Engine) -> None:
    ids = [build_customer().customer_id for _ in range(4)]
    with session_scope() as s:
        by_list = build_features(s, ids, as_of=AS_OF)
        by_range = build_features(s, ids, as_of=AS_OF, contiguous=True)
    assert by_list.equals(by_range)
    assert len(by_list) == 4


def test_no_customer_gives_an_empty_frame_with_every_column(db: Engine) -> None:
    with session_scope() as s:
        frame = build_features(s, [424242], as_of=AS_OF)
    assert frame.empty and list(frame.columns) == list(COLUMNS)
    assert list(empty_frame().columns) == list(COLUMNS)
    with session_scope() as s:
        assert build_features(s, [], as_of=AS_OF).empty


def test_the_window_ends_at_as_of(db: Engine) -> None:
    built = build_customer()
    with session_scope() as s:
        s.add_all([
            Transaction(account_id=built.current_id, booked_at=AS_OF + timedelta(days=1), amount=Decimal("-5.00"),
                        merchant="EDP", description="after as_of"),
            Transaction(account_id=built.current_id, booked_at=AS_OF - timedelta(days=89), amount=Decimal("-7.00"),
                        merchant="Lidl", description="inside"),
            Transaction(account_id=built.current_id, booked_at=AS_OF - timedelta(days=91), amount=Decimal("-9.00"),
                        merchant="Lidl", description="before the window"),
        ])
    with session_scope() as s:
        row = build_features(s, [built.customer_id], as_of=AS_OF).iloc[0]
    assert row["txn_count_90d"] == 1 and row["txn_out_eur_90d"] == 7.0 and row["household_payments_90d"] == 0
