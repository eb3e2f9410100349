"""Money movement. The one place for the transfer rules (amount format, available balance, daily limit,
who may send where).

Rules, all in EUR:
- the amount is > 0 with at most 2 decimals;
- the source is one of the customer's current or savings accounts, and the amount is at most its
  available balance, ``max(balance, 0)`` (an overdrawn account has nothing available);
- today's (UTC) transfers of the customer plus the amount are at most ``settings.daily_transfer_limit``;
- the destination is another current/savings account of the same customer, or one of their saved payees.
The debit, the credit, both transaction rows, the transfer row and the audit row are written in one database
transaction, with the customer and the source account locked (``SELECT ... FOR UPDATE`` on PostgreSQL,
``BEGIN IMMEDIATE`` on SQLite), so concurrent transfers can neither overdraw nor pass the daily limit.

Exactly once: a transfer made with an ``idempotency_key`` (one per confirmation the customer saw) is stored
with it under a unique constraint, so a replayed confirmation raises ``AlreadyExecuted`` instead of moving the
money again; ``find_transfer`` tells whether a key's transfer was made (after an error of unknown outcome).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, datetime, time
from decimal import Decimal, InvalidOperation

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from profiles.accounts import account_view, load_own_account
from profiles.audit import record_audit, require_text
from profiles.customers import load_customer
from profiles.db import session_scope
from profiles.errors import (
    InsufficientFunds,
    InvalidInput,
    LimitExceeded,
    NotAllowed,
    NotFound,
    ProfileError,
)
from profiles.masking import mask_number
from profiles.models import Account, Payee, Transaction, Transfer, utcnow
from profiles.money import eur
from profiles.schemas import TransferResult
from profiles.settings import get_settings

log = logging.getLogger(__name__)

CENT = Decimal("0.01")
TRANSFERABLE_KINDS = ("current", "savings")
AmountInput = Decimal | int | str


def parse_amount(amount: AmountInput) -> Decimal:
    """Check an amount's form and return it as ``Decimal`` with 2 decimals (EUR).

    Accepts ``Decimal``, ``int`` or a plain decimal string (``"12.50"``); locale formats are the caller's job.

    Raises:
        InvalidInput: (field ``amount``) not a number, not finite, <= 0, or more than 2 decimals.
        TypeError: a ``float`` (or bool) was passed: money is never a float.
    """
    if isinstance(amount, (float, bool)):
        raise TypeError("money amounts must be Decimal, int or str, never float")
    try:
        value = amount if isinstance(amount, Decimal) else Decimal(str(amount).strip())
    except InvalidOperation:
        raise InvalidInput("Please give the amount as a number, e.g. 25.50.", field="amount") from None
    if not value.is_finite():
        raise InvalidInput("Please give the amount as a number, e.g. 25.50.", field="amount")
    if value <= 0:
        raise InvalidInput("The amount must be more than €0.", field="amount")
    if value != value.quantize(CENT):
        raise InvalidInput("Amounts can have at most 2 decimals (cents).", field="amount")
    return value.quantize(CENT)


KEY_MAX_LENGTH = 64


@dataclass(frozen=True, slots=True)
class MadeTransfer:
    """A transfer already in the database, found by its idempotency key (amount in EUR)."""

    transfer_id: int
    amount: Decimal
    from_account_id: int
    to_account_id: int | None
    to_payee_id: int | None


class AlreadyExecuted(ProfileError):
    """The confirmation with this idempotency key was executed before: nothing was moved this time.

    ``made`` is the earlier transfer."""

    default_message = "That transfer was already made, so I did not send it again."

    def __init__(self, made: MadeTransfer) -> None:
        super().__init__(
            f"That transfer was already made (reference T{made.transfer_id}), so I did not send it again.",
            detail=f"idempotency key already used by transfer {made.transfer_id}",
        )
        self.made = made


def _made(session: Session, customer_id: int, key: str) -> MadeTransfer | None:
    record = session.scalars(
        select(Transfer).where(Transfer.idempotency_key == key, Transfer.customer_id == customer_id)
    ).one_or_none()
    if record is None:
        return None
    return MadeTransfer(record.id, record.amount, record.from_account_id, record.to_account_id, record.to_payee_id)


def find_transfer(customer_id: int, idempotency_key: str) -> MadeTransfer | None:
    """The customer's transfer made with ``idempotency_key``, or ``None`` if that key never executed.

    Raises:
        sqlalchemy.exc.SQLAlchemyError: the database could not be read (the outcome stays unknown).
    """
    with session_scope() as session:
        return _made(session, customer_id, idempotency_key)


def available_balance(account: Account) -> Decimal:
    """What can leave the account now (EUR): its balance, or 0 when overdrawn."""
    return max(account.balance, Decimal("0.00"))


def check_source(account: Account, amount: Decimal) -> None:
    """The source rule of every payment out of an account (transfers, card bills): a current or savings
    account with at least ``amount`` EUR available.

    Raises:
        NotAllowed: a term deposit.
        InsufficientFunds: more than ``available_balance``.
    """
    if account.kind not in TRANSFERABLE_KINDS:
        raise NotAllowed(
            "Money in a term deposit can't be transferred before it matures. "
            "Please choose your current or savings account."
        )
    available = available_balance(account)
    if amount > available:
        raise InsufficientFunds(
            f"You don't have enough money in {account.name} ({mask_number(account.number)}): "
            f"you can transfer at most {eur(available)} from it."
        )


def _start_of_today_utc() -> datetime:
    return datetime.combine(utcnow().date(), time.min, tzinfo=UTC)


def _transferred_today(session: Session, customer_id: int) -> Decimal:
    total = session.scalar(
        select(func.coalesce(func.sum(Transfer.amount), 0)).where(
            Transfer.customer_id == customer_id,
            Transfer.status == "completed",
            Transfer.created_at >= _start_of_today_utc(),
        )
    )
    return Decimal(total or 0).quantize(CENT)


def _check_daily_limit(session: Session, customer_id: int, amount: Decimal) -> None:
    limit = get_settings().daily_transfer_limit
    sent = _transferred_today(session, customer_id)
    if sent + amount > limit:
        left = max(limit - sent, Decimal("0.00"))
        raise LimitExceeded(
            f"That would take today's transfers over your daily limit of {eur(limit)}. "
            f"You can still send {eur(left)} today."
        )


def remaining_daily_limit(customer_id: int) -> Decimal:
    """What the customer may still transfer today (UTC), in EUR, never negative.

    Raises:
        NotFound: no such customer.
    """
    with session_scope() as session:
        load_customer(session, customer_id)
        left = get_settings().daily_transfer_limit - _transferred_today(session, customer_id)
        return max(left, Decimal("0.00")).quantize(CENT)


def validate_amount(customer_id: int, amount: AmountInput, from_account_id: int | None = None) -> Decimal:
    """Check an amount against every transfer rule that does not need the destination; return it (EUR).

    The same checks run again, under lock, inside ``transfer``.

    Raises:
        InvalidInput: bad form (see ``parse_amount``).
        NotFound: no such customer, or ``from_account_id`` is not one of theirs.
        NotAllowed: the source is a term deposit.
        InsufficientFunds: more than the source's available balance.
        LimitExceeded: over what is left of today's limit.
    """
    value = parse_amount(amount)
    with session_scope() as session:
        load_customer(session, customer_id)
        if from_account_id is not None:
            check_source(load_own_account(session, customer_id, from_account_id), value)
        _check_daily_limit(session, customer_id, value)
    return value


def transfer(
    customer_id: int,
    from_account_id: int,
    *,
    to_account_id: int | None = None,
    to_payee_id: int | None = None,
    amount: AmountInput,
    channel: str,
    actor: str,
    idempotency_key: str | None = None,
) -> TransferResult:
    """Move ``amount`` EUR from the customer's account to another own account or a saved payee.

    Give exactly one of ``to_account_id`` / ``to_payee_id``. Everything is written in one transaction: the
    debit, the credit (own account), a transaction row on each account, the transfer row and an audit row.
    Returns the transfer id and both accounts after the move (numbers masked). With ``idempotency_key``
    (at most 64 characters, one per confirmation) the same key never executes twice, also under races.

    Raises:
        InvalidInput: bad amount, no or two destinations, same source and destination, empty channel/actor.
        NotFound: no such customer, or an account/payee that is not theirs.
        NotAllowed: a term deposit as source or destination.
        InsufficientFunds: amount above the source's available balance.
        LimitExceeded: today's transfers plus amount above ``settings.daily_transfer_limit``.
        AlreadyExecuted: ``idempotency_key`` was executed before (nothing moved this time).
    """
    if idempotency_key is not None and not 0 < len(idempotency_key) <= KEY_MAX_LENGTH:
        raise InvalidInput("That confirmation is not valid. Please start the transfer again.", field="key")
    try:
        return _transfer(
            customer_id, from_account_id, to_account_id=to_account_id, to_payee_id=to_payee_id,
            amount=amount, channel=channel, actor=actor, idempotency_key=idempotency_key,
        )
    except IntegrityError:
        # a concurrent execution of the same key won the unique constraint; anything else is re-raised
        made = find_transfer(customer_id, idempotency_key) if idempotency_key else None
        if made is None:
            raise
        raise AlreadyExecuted(made) from None


def _transfer(
    customer_id: int,
    from_account_id: int,
    *,
    to_account_id: int | None,
    to_payee_id: int | None,
    amount: AmountInput,
    channel: str,
    actor: str,
    idempotency_key: str | None,
) -> TransferResult:
    value = parse_amount(amount)
    if (to_account_id is None) == (to_payee_id is None):
        raise InvalidInput("Please choose one account or payee to send the money to.", field="to_account")
    if to_account_id is not None and to_account_id == from_account_id:
        raise InvalidInput(
            "The money has to go to a different account from the one it leaves.", field="to_account"
        )
    channel = require_text(channel, "channel", 30)
    actor = require_text(actor, "actor", 80)

    with session_scope(write=True) as session:
        load_customer(session, customer_id, lock=True)  # serialises this customer's transfers (daily limit)
        if idempotency_key is not None and (made := _made(session, customer_id, idempotency_key)) is not None:
            raise AlreadyExecuted(made)
        source = load_own_account(session, customer_id, from_account_id, lock=True)
        destination: Account | None = None
        payee: Payee | None = None
        if to_account_id is not None:
            destination = load_own_account(session, customer_id, to_account_id, lock=True)
            if destination.kind not in TRANSFERABLE_KINDS:
                raise NotAllowed("Transfers can only go to a current or savings account.")
            to_name = f"{destination.name} ({mask_number(destination.number)})"
        else:
            payee = session.scalars(
                select(Payee).where(Payee.id == to_payee_id, Payee.customer_id == customer_id)
            ).one_or_none()
            if payee is None:
                raise NotFound("We could not find that payee among yours.")
            to_name = payee.name
        check_source(source, value)
        _check_daily_limit(session, customer_id, value)

        now = utcnow()
        record = Transfer(
            customer_id=customer_id,
            from_account_id=source.id,
            to_account_id=destination.id if destination else None,
            to_payee_id=payee.id if payee else None,
            amount=value,
            currency=source.currency,
            status="completed",
            channel=channel,
            actor=actor,
            created_at=now,
            idempotency_key=idempotency_key,
        )
        session.add(record)
        session.flush()
        source.balance = source.balance - value
        session.add(
            Transaction(
                account_id=source.id,
                booked_at=now,
                amount=-value,
                merchant=None,
                description=f"Transfer to {to_name}"[:140],
                transfer_id=record.id,
            )
        )
        if destination is not None:
            destination.balance = destination.balance + value
            session.add(
                Transaction(
                    account_id=destination.id,
                    booked_at=now,
                    amount=value,
                    merchant=None,
                    description=f"Transfer from {source.name} ({mask_number(source.number)})"[:140],
                    transfer_id=record.id,
                )
            )
        to_ref = f"account:{destination.id}" if destination else f"payee:{payee.id if payee else ''}"
        record_audit(
            session,
            customer_id=customer_id,
            entity="transfer",
            entity_id=record.id,
            field="amount",
            old_value=None,
            new_value=f"{value:.2f} {source.currency} account:{source.id} -> {to_ref}",
            channel=channel,
            actor=actor,
        )
        session.flush()
        log.info(
            "transfer %s done: customer %s, account %s -> %s", record.id, customer_id, source.id, to_ref
        )
        return TransferResult(
            transfer_id=record.id,
            amount=value,
            from_account=account_view(source),
            to_name=to_name,
            to_account=account_view(destination) if destination else None,
        )
