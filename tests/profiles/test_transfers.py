"""Transfers: the amount rules, ownership, the daily limit, atomicity and concurrency."""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import timedelta
from decimal import Decimal

import pytest
from sqlalchemy import Engine, func, select

import profiles
import profiles.transfers as transfers_module
from profiles import (
    InsufficientFunds,
    InvalidInput,
    LimitExceeded,
    NotAllowed,
    NotFound,
    ProfileError,
    list_accounts,
    transfer,
    validate_amount,
)
from profiles.db import session_scope
from profiles.models import AuditLog, Transaction, Transfer, utcnow
from tests.profiles.conftest import Built, audit_rows, snapshot


def _balance(customer_id: int, account_id: int) -> Decimal:
    return next(a.balance for a in list_accounts(customer_id) if a.id == account_id)


def test_transfer_between_own_accounts_moves_exact_amount(alice: Built) -> None:
    result = transfer(alice.customer_id, alice.current_id, to_account_id=alice.savings_id,
                      amount=Decimal("123.45"), channel="web", actor=f"customer:{alice.customer_id}")

    assert result.amount == Decimal("123.45")
    assert result.from_account.balance == Decimal("876.55")
    assert result.to_account is not None and result.to_account.balance == Decimal("623.45")
    assert _balance(alice.customer_id, alice.current_id) == Decimal("876.55")
    assert _balance(alice.customer_id, alice.savings_id) == Decimal("623.45")
    with session_scope() as s:
        rows = s.scalars(select(Transaction).where(Transaction.transfer_id == result.transfer_id)).all()
        assert sorted((r.account_id, r.amount) for r in rows) == sorted(
            [(alice.current_id, Decimal("-123.45")), (alice.savings_id, Decimal("123.45"))]
        )
        record = s.get(Transfer, result.transfer_id)
        assert record is not None
        assert (record.channel, record.actor, record.status) == ("web", f"customer:{alice.customer_id}", "completed")
    (audit,) = audit_rows(alice.customer_id)
    assert (audit.entity, audit.entity_id, audit.channel) == ("transfer", result.transfer_id, "web")
    assert alice.current_number not in (audit.new_value or "")


def test_transfer_to_payee_debits_only_the_source(alice: Built) -> None:
    before = snapshot()
    result = transfer(alice.customer_id, alice.current_id, to_payee_id=alice.payee_id, amount="50",
                      channel="telegram", actor="customer")
    after = snapshot()
    assert result.to_account is None
    assert result.to_name == alice.payee_name  # the saved payee's name exactly ("Payee of <n>")
    assert after["balances"][alice.current_id] == before["balances"][alice.current_id] - Decimal("50.00")
    assert after["balances"][alice.savings_id] == before["balances"][alice.savings_id]
    assert after["counts"]["transactions"] == before["counts"]["transactions"] + 1
    assert after["counts"]["transfers"] == before["counts"]["transfers"] + 1
    assert after["counts"]["audit_log"] == before["counts"]["audit_log"] + 1


@pytest.mark.parametrize("amount", ["-5", "0", "0.001", "0.00", "abc", "NaN", "Infinity", ""])
def test_bad_amounts_are_refused_without_writing(alice: Built, amount: str) -> None:
    before = snapshot()
    with pytest.raises(InvalidInput) as err:
        transfer(alice.customer_id, alice.current_id, to_account_id=alice.savings_id, amount=amount,
                 channel="web", actor="customer")
    assert err.value.field == "amount"
    assert err.value.user_message
    assert snapshot() == before


@pytest.mark.parametrize("amount", [Decimal("-5"), Decimal("0"), Decimal("0.001"), -5, 0])
def test_bad_decimal_amounts_are_refused(alice: Built, amount: Decimal | int) -> None:
    before = snapshot()
    with pytest.raises(InvalidInput):
        transfer(alice.customer_id, alice.current_id, to_payee_id=alice.payee_id, amount=amount,
                 channel="web", actor="customer")
    with pytest.raises(InvalidInput):
        validate_amount(alice.customer_id, amount, alice.current_id)
    assert snapshot() == before


def test_float_amounts_are_a_programming_error(alice: Built) -> None:
    with pytest.raises(TypeError):
        transfer(alice.customer_id, alice.current_id, to_payee_id=alice.payee_id, amount=1.5,  # type: ignore[arg-type]
                 channel="web", actor="customer")


def test_above_available_balance_is_insufficient_funds(alice: Built) -> None:
    before = snapshot()
    with pytest.raises(InsufficientFunds) as err:
        transfer(alice.customer_id, alice.current_id, to_account_id=alice.savings_id,
                 amount=Decimal("1000.01"), channel="web", actor="customer")
    assert "€1,000.00" in err.value.user_message
    assert alice.current_number not in err.value.user_message
    assert alice.current_number[-4:] in err.value.user_message
    assert snapshot() == before
    # The whole balance can go.
    transfer(alice.customer_id, alice.current_id, to_account_id=alice.savings_id,
             amount=Decimal("1000.00"), channel="web", actor="customer")
    assert _balance(alice.customer_id, alice.current_id) == Decimal("0.00")


def test_overdrawn_account_has_nothing_available(db: Engine, make_customer: Callable[..., Built]) -> None:
    carol = make_customer(balance="-50.00")
    before = snapshot()
    with pytest.raises(InsufficientFunds) as err:
        transfer(carol.customer_id, carol.current_id, to_payee_id=carol.payee_id, amount="0.01",
                 channel="web", actor="customer")
    assert "€0.00" in err.value.user_message
    assert snapshot() == before


def test_daily_limit(alice: Built, override_settings: Callable[..., None]) -> None:
    override_settings(daily_transfer_limit="100.00")
    transfer(alice.customer_id, alice.current_id, to_payee_id=alice.payee_id, amount="60",
             channel="web", actor="customer")
    assert profiles.remaining_daily_limit(alice.customer_id) == Decimal("40.00")
    before = snapshot()
    with pytest.raises(LimitExceeded) as err:
        transfer(alice.customer_id, alice.savings_id, to_payee_id=alice.payee_id, amount="40.01",
                 channel="web", actor="customer")
    assert "40.00" in err.value.user_message
    with pytest.raises(LimitExceeded):
        validate_amount(alice.customer_id, Decimal("40.01"))
    assert snapshot() == before
    transfer(alice.customer_id, alice.savings_id, to_payee_id=alice.payee_id, amount="40",
             channel="web", actor="customer")
    assert profiles.remaining_daily_limit(alice.customer_id) == Decimal("0.00")


def test_daily_limit_counts_only_today_utc(alice: Built, override_settings: Callable[..., None]) -> None:
    override_settings(daily_transfer_limit="100.00")
    with session_scope() as s:
        s.add(Transfer(customer_id=alice.customer_id, from_account_id=alice.current_id,
                       to_payee_id=alice.payee_id, amount=Decimal("100.00"), channel="web", actor="customer",
                       created_at=utcnow() - timedelta(days=1)))
    assert validate_amount(alice.customer_id, "100", alice.current_id) == Decimal("100.00")


def test_daily_limit_is_per_customer(alice: Built, bob: Built, override_settings: Callable[..., None]) -> None:
    override_settings(daily_transfer_limit="100.00")
    paid = transfer(alice.customer_id, alice.current_id, to_payee_id=alice.payee_id, amount="100",
                    channel="web", actor="customer")
    assert paid.amount == Decimal("100.00")
    # Alice spending her whole limit leaves Bob's untouched
    assert profiles.remaining_daily_limit(alice.customer_id) == Decimal("0.00")
    assert profiles.remaining_daily_limit(bob.customer_id) == Decimal("100.00")
    paid = transfer(bob.customer_id, bob.current_id, to_payee_id=bob.payee_id, amount="100",
                    channel="web", actor="customer")
    assert paid.amount == Decimal("100.00")
    assert profiles.remaining_daily_limit(bob.customer_id) == Decimal("0.00")
    assert _balance(alice.customer_id, alice.current_id) == Decimal("900.00")
    assert _balance(bob.customer_id, bob.current_id) == Decimal("200.00")

    # now a further transfer by either of them, from any of their accounts, is over their own limit
    before = snapshot()
    for who in (alice, bob):
        for source in (who.current_id, who.savings_id):
            with pytest.raises(LimitExceeded):
                transfer(who.customer_id, source, to_payee_id=who.payee_id, amount="0.01", channel="web",
                         actor="customer")
    assert snapshot() == before
    assert (_balance(alice.customer_id, alice.savings_id), _balance(bob.customer_id, bob.savings_id)) == (
        Decimal("500.00"), Decimal("50.00"))


def test_another_customers_accounts_and_payees_are_not_found(alice: Built, bob: Built) -> None:
    before = snapshot()
    attempts = [
        {"from_account_id": bob.current_id, "to_account_id": alice.savings_id},  # source is Bob's
        {"from_account_id": alice.current_id, "to_account_id": bob.current_id},  # destination is Bob's
        {"from_account_id": alice.current_id, "to_payee_id": bob.payee_id},  # Bob's payee
        {"from_account_id": 10_000, "to_payee_id": alice.payee_id},  # no such account
    ]
    for kwargs in attempts:
        with pytest.raises(NotFound) as err:
            transfer(alice.customer_id, amount="10", channel="web", actor="customer", **kwargs)  # type: ignore[arg-type]
        message = err.value.user_message
        for secret in (bob.current_number, bob.current_number[-4:], bob.payee_iban[-4:], "Customer"):
            assert secret not in message
    with pytest.raises(NotFound):
        validate_amount(alice.customer_id, "10", bob.current_id)
    assert snapshot() == before


def test_destination_rules(alice: Built) -> None:
    before = snapshot()
    with pytest.raises(InvalidInput):
        transfer(alice.customer_id, alice.current_id, to_account_id=alice.current_id, amount="1",
                 channel="web", actor="customer")
    with pytest.raises(InvalidInput):
        transfer(alice.customer_id, alice.current_id, amount="1", channel="web", actor="customer")
    with pytest.raises(InvalidInput):
        transfer(alice.customer_id, alice.current_id, to_account_id=alice.savings_id,
                 to_payee_id=alice.payee_id, amount="1", channel="web", actor="customer")
    assert alice.term_id is not None
    with pytest.raises(NotAllowed):
        transfer(alice.customer_id, alice.term_id, to_account_id=alice.current_id, amount="1",
                 channel="web", actor="customer")
    with pytest.raises(NotAllowed):
        transfer(alice.customer_id, alice.current_id, to_account_id=alice.term_id, amount="1",
                 channel="web", actor="customer")
    with pytest.raises(InvalidInput):
        transfer(alice.customer_id, alice.current_id, to_payee_id=alice.payee_id, amount="1",
                 channel=" ", actor="customer")
    with pytest.raises(NotFound):
        transfer(99_999, alice.current_id, to_payee_id=alice.payee_id, amount="1", channel="web",
                 actor="customer")
    assert snapshot() == before


def test_validate_amount_normalises(alice: Built) -> None:
    assert validate_amount(alice.customer_id, "12.5") == Decimal("12.50")
    assert validate_amount(alice.customer_id, 7, alice.current_id) == Decimal("7.00")
    assert validate_amount(alice.customer_id, Decimal("1.000")) == Decimal("1.00")
    with pytest.raises(InsufficientFunds):
        validate_amount(alice.customer_id, "1000.01", alice.current_id)


def test_failure_half_way_writes_nothing(alice: Built, monkeypatch: pytest.MonkeyPatch) -> None:
    """The debit, credit, transaction rows and transfer row roll back together when the audit write fails."""

    def broken_audit(*_args: object, **_kwargs: object) -> None:
        raise RuntimeError("audit store down")

    monkeypatch.setattr(transfers_module, "record_audit", broken_audit)
    before = snapshot()
    with pytest.raises(RuntimeError):
        transfer(alice.customer_id, alice.current_id, to_account_id=alice.savings_id, amount="10",
                 channel="web", actor="customer")
    assert snapshot() == before


def _run_concurrently(n: int, work: Callable[[], object]) -> list[object]:
    barrier = threading.Barrier(n)
    results: list[object] = [None] * n

    def run(i: int) -> None:
        barrier.wait()
        try:
            results[i] = work()
        except Exception as exc:  # noqa: BLE001 - collected and asserted on
            results[i] = exc

    threads = [threading.Thread(target=run, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    return results


def test_concurrent_transfers_cannot_overdraw(db: Engine, make_customer: Callable[..., Built]) -> None:
    carol = make_customer(balance="100.00", savings="0.00")
    results = _run_concurrently(8, lambda: transfer(
        carol.customer_id, carol.current_id, to_account_id=carol.savings_id, amount="30",
        channel="web", actor="customer"))

    done = [r for r in results if isinstance(r, profiles.TransferResult)]
    refused = [r for r in results if isinstance(r, InsufficientFunds)]
    assert len(done) == 3 and len(refused) == 5, results
    assert _balance(carol.customer_id, carol.current_id) == Decimal("10.00")
    assert _balance(carol.customer_id, carol.savings_id) == Decimal("90.00")
    with session_scope() as s:
        assert s.scalar(select(func.count()).select_from(Transfer)) == 3
        assert s.scalar(select(func.count()).select_from(AuditLog)) == 3
        assert s.scalar(select(func.sum(Transaction.amount))) == Decimal("0.00")


def test_concurrent_transfers_cannot_pass_the_daily_limit(
    db: Engine, make_customer: Callable[..., Built], override_settings: Callable[..., None]
) -> None:
    override_settings(daily_transfer_limit="100.00")
    carol = make_customer(balance="1000.00", savings="1000.00")
    # From two different accounts: only the customer-level lock serialises these.
    sources = [carol.current_id, carol.savings_id] * 3
    counter = iter(range(len(sources)))
    lock = threading.Lock()

    def one() -> object:
        with lock:
            source = sources[next(counter)]
        return transfer(carol.customer_id, source, to_payee_id=carol.payee_id, amount="40",
                        channel="web", actor="customer")

    results = _run_concurrently(len(sources), one)
    assert sum(isinstance(r, profiles.TransferResult) for r in results) == 2, results
    assert all(isinstance(r, (profiles.TransferResult, LimitExceeded)) for r in results), results
    with session_scope() as s:
        assert s.scalar(select(func.sum(Transfer.amount))) == Decimal("80.00")


def test_errors_share_one_base(alice: Built) -> None:
    with pytest.raises(ProfileError):
        transfer(alice.customer_id, alice.current_id, to_account_id=alice.savings_id, amount="-1",
                 channel="web", actor="customer")
