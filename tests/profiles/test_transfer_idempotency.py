"""Exactly once: a transfer's idempotency key (one per confirmation) never executes twice (both backends)."""

from __future__ import annotations

import threading
from collections.abc import Callable
from decimal import Decimal

import pytest
from sqlalchemy import Engine, func, select
from sqlalchemy.exc import IntegrityError

from profiles import AlreadyExecuted, InvalidInput, find_transfer, list_accounts, transfer
from profiles.db import session_scope
from profiles.models import AuditLog, Transaction, Transfer
from tests.profiles.conftest import Built


def _send(who: Built, key: str | None, amount: str = "20") -> object:
    return transfer(who.customer_id, who.current_id, to_account_id=who.savings_id, amount=amount,
                    channel="web", actor="customer", idempotency_key=key)


def _balances(who: Built) -> dict[int, Decimal]:
    return {a.id: a.balance for a in list_accounts(who.customer_id)}


def test_the_same_key_moves_money_once(alice: Built) -> None:
    before = _balances(alice)
    first = _send(alice, "k-1")
    with pytest.raises(AlreadyExecuted) as refused:
        _send(alice, "k-1")
    assert refused.value.made.transfer_id == first.transfer_id  # type: ignore[attr-defined]
    assert f"T{first.transfer_id}" in refused.value.user_message  # type: ignore[attr-defined]
    after = _balances(alice)
    assert after[alice.current_id] == before[alice.current_id] - Decimal("20")
    assert after[alice.savings_id] == before[alice.savings_id] + Decimal("20")
    with session_scope() as s:
        assert s.scalar(select(func.count()).select_from(Transfer)) == 1
        assert s.scalar(select(func.count()).select_from(AuditLog)) == 1
        assert s.scalar(select(func.count()).select_from(Transaction)) == 2


def test_other_keys_and_no_key_still_execute(alice: Built) -> None:
    _send(alice, "k-1")
    _send(alice, "k-2")
    _send(alice, None)
    _send(alice, None)
    with session_scope() as s:
        assert s.scalar(select(func.count()).select_from(Transfer)) == 4


def test_find_transfer_tells_whether_a_key_executed(alice: Built, bob: Built) -> None:
    assert find_transfer(alice.customer_id, "k-1") is None
    result = _send(alice, "k-1", "12.30")
    made = find_transfer(alice.customer_id, "k-1")
    assert made is not None
    assert (made.transfer_id, made.amount, made.from_account_id, made.to_account_id) == (
        result.transfer_id, Decimal("12.30"), alice.current_id, alice.savings_id)  # type: ignore[attr-defined]
    assert find_transfer(bob.customer_id, "k-1") is None  # another customer's key is not theirs


@pytest.mark.parametrize("key", ["", "x" * 65])
def test_bad_keys_are_refused_without_writing(alice: Built, key: str) -> None:
    with pytest.raises(InvalidInput):
        _send(alice, key)
    with session_scope() as s:
        assert s.scalar(select(func.count()).select_from(Transfer)) == 0


def test_the_database_itself_refuses_a_second_row_with_the_key(alice: Built) -> None:
    """The unique constraint, not only the look-up before the insert, holds the line."""
    first = _send(alice, "k-1")
    with pytest.raises(IntegrityError), session_scope(write=True) as s:
        record = s.get(Transfer, first.transfer_id)  # type: ignore[attr-defined]
        assert record is not None
        s.add(Transfer(customer_id=record.customer_id, from_account_id=record.from_account_id,
                       to_account_id=record.to_account_id, amount=Decimal("1"), channel="web", actor="x",
                       idempotency_key="k-1"))
        s.flush()


def test_concurrent_replays_of_one_key_move_money_once(db: Engine, make_customer: Callable[..., Built]) -> None:
    carol = make_customer(balance="1000.00", savings="0.00")
    results: list[object] = []
    lock = threading.Lock()

    def one() -> None:
        try:
            outcome: object = _send(carol, "same-yes", "30")
        except Exception as exc:  # noqa: BLE001 - collected and asserted below
            outcome = exc
        with lock:
            results.append(outcome)

    threads = [threading.Thread(target=one) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert sum(not isinstance(r, Exception) for r in results) == 1, results
    assert all(isinstance(r, AlreadyExecuted) for r in results if isinstance(r, Exception)), results
    assert _balances(carol)[carol.current_id] == Decimal("970.00")
