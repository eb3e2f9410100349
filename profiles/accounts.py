"""Accounts, their transactions and the customer's saved payees (read side)."""

from __future__ import annotations

import logging
from datetime import UTC, date, datetime, time
from decimal import Decimal

from sqlalchemy import ColumnElement, case, func, select
from sqlalchemy.orm import Session

from profiles.customers import load_customer
from profiles.db import session_scope
from profiles.errors import InvalidInput, NotFound
from profiles.masking import mask_number
from profiles.models import Account, Payee, Transaction
from profiles.schemas import AccountDetails, AccountView, PayeeView, TransactionView

log = logging.getLogger(__name__)

MAX_TRANSACTIONS = 100
CENT = Decimal("0.01")
_KIND_ORDER = case({"current": 0, "savings": 1, "term_deposit": 2}, value=Account.kind, else_=3)


def account_view(account: Account) -> AccountView:
    """The plain view of an account (number masked, balance in EUR)."""
    return AccountView(
        id=account.id,
        kind=account.kind,
        name=account.name,
        masked_number=mask_number(account.number),
        balance=account.balance,
        currency=account.currency,
    )


def load_own_account(session: Session, customer_id: int, account_id: int, *, lock: bool = False) -> Account:
    """Return the customer's own account (``lock=True``: ``SELECT ... FOR UPDATE`` on PostgreSQL).

    Raises:
        NotFound: no such account *among this customer's* (another customer's account looks the same).
    """
    stmt = select(Account).where(Account.id == account_id, Account.customer_id == customer_id)
    if lock:
        stmt = stmt.with_for_update()
    account = session.scalars(stmt).one_or_none()
    if account is None:
        raise NotFound(
            "We could not find that account among yours.",
            detail=f"account {account_id} not found for customer {customer_id}",
        )
    return account


def load_accounts(session: Session, customer_id: int) -> list[AccountView]:
    """The customer's accounts in the caller's session (no customer check): current first, then savings, then
    term deposits (balances in EUR)."""
    accounts = session.scalars(
        select(Account).where(Account.customer_id == customer_id).order_by(_KIND_ORDER, Account.id)
    )
    return [account_view(a) for a in accounts]


def list_accounts(customer_id: int) -> list[AccountView]:
    """Return the customer's accounts (:func:`load_accounts`).

    Raises:
        NotFound: no such customer.
    """
    with session_scope() as session:
        load_customer(session, customer_id)
        return load_accounts(session, customer_id)


def _as_utc(value: datetime | date, *, end_of_day: bool) -> datetime:
    if not isinstance(value, datetime):
        value = datetime.combine(value, time.max if end_of_day else time.min)
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _transactions_query(
    session: Session,
    customer_id: int,
    *,
    since: datetime | date | None,
    until: datetime | date | None,
    merchant: str | None,
    account_id: int | None,
) -> list[ColumnElement[bool]]:
    """The WHERE clauses shared by ``list_transactions`` and ``transactions_summary`` (join ``Account``).

    Raises:
        NotFound: no such customer, or ``account_id`` is not one of theirs.
        InvalidInput: ``since`` after ``until``.
    """
    start = _as_utc(since, end_of_day=False) if since is not None else None
    end = _as_utc(until, end_of_day=True) if until is not None else None
    if start is not None and end is not None and start > end:
        raise InvalidInput("The start of the period is after its end.", field="since")
    load_customer(session, customer_id)
    where: list[ColumnElement[bool]] = [Account.customer_id == customer_id]
    if account_id is not None:
        load_own_account(session, customer_id, account_id)
        where.append(Transaction.account_id == account_id)
    if start is not None:
        where.append(Transaction.booked_at >= start)
    if end is not None:
        where.append(Transaction.booked_at <= end)
    if merchant and merchant.strip():
        needle = merchant.strip().lower()
        where.append(func.lower(Transaction.merchant).contains(needle, autoescape=True))
    return where


def list_transactions(
    customer_id: int,
    *,
    since: datetime | date | None = None,
    until: datetime | date | None = None,
    merchant: str | None = None,
    account_id: int | None = None,
    limit: int = 10,
) -> list[TransactionView]:
    """Return the customer's transactions, newest first.

    ``since``/``until`` are inclusive; a ``date`` means the whole day, a naive datetime is taken as UTC.
    ``merchant`` matches case-insensitively anywhere in the merchant name. ``limit`` is capped at 100.
    Amounts are EUR, negative = money out. ``transactions_summary`` counts and sums all the matches.

    Raises:
        NotFound: no such customer, or ``account_id`` is not one of theirs.
        InvalidInput: ``limit`` < 1, or ``since`` after ``until``.
    """
    if limit < 1:
        raise InvalidInput("Please ask for at least one transaction.", field="limit")
    with session_scope() as session:
        where = _transactions_query(
            session, customer_id, since=since, until=until, merchant=merchant, account_id=account_id
        )
        stmt = (
            select(Transaction)
            .join(Account, Transaction.account_id == Account.id)
            .where(*where)
            .order_by(Transaction.booked_at.desc(), Transaction.id.desc())
            .limit(min(limit, MAX_TRANSACTIONS))
        )
        return [
            TransactionView(
                id=t.id,
                account_id=t.account_id,
                booked_at=t.booked_at,
                amount=t.amount,
                merchant=t.merchant,
                description=t.description,
            )
            for t in session.scalars(stmt)
        ]


def transactions_summary(
    customer_id: int,
    *,
    since: datetime | date | None = None,
    until: datetime | date | None = None,
    merchant: str | None = None,
    account_id: int | None = None,
) -> tuple[int, Decimal]:
    """Return ``(count, total)`` of ALL the customer's transactions matching the filters (no limit).

    The filters mean exactly what they mean for ``list_transactions``. ``total`` is the signed sum in EUR
    (negative = more money out than in), ``Decimal`` with 2 places; ``(0, Decimal("0.00"))`` when nothing
    matches.

    Raises:
        NotFound: no such customer, or ``account_id`` is not one of theirs.
        InvalidInput: ``since`` after ``until``.
    """
    with session_scope() as session:
        where = _transactions_query(
            session, customer_id, since=since, until=until, merchant=merchant, account_id=account_id
        )
        row = session.execute(
            select(func.count(Transaction.id), func.sum(Transaction.amount))
            .join(Account, Transaction.account_id == Account.id)
            .where(*where)
        ).one()
        count, total = row
        return int(count), Decimal(total or 0).quantize(CENT)


def payee_view(payee: Payee) -> PayeeView:
    """The plain view of a payee (IBAN masked)."""
    return PayeeView(id=payee.id, name=payee.name, masked_iban=mask_number(payee.iban))


def list_payees(customer_id: int) -> list[PayeeView]:
    """Return the customer's saved payees (IBANs masked), by name.

    Raises:
        NotFound: no such customer.
    """
    with session_scope() as session:
        load_customer(session, customer_id)
        payees = session.scalars(
            select(Payee).where(Payee.customer_id == customer_id).order_by(Payee.name, Payee.id)
        )
        return [payee_view(p) for p in payees]


# Atlantic Bank's (fictional) BIC/SWIFT code: one for every account.
BANK_BIC = "ATLBPTPL"


def _grouped(iban: str) -> str:
    chars = "".join(c for c in iban if c.isalnum()).upper()
    return " ".join(chars[i:i + 4] for i in range(0, len(chars), 4))


def account_details(customer_id: int) -> list[AccountDetails]:
    """The customer's accounts with their FULL IBAN (grouped by 4), BIC and holder, in :func:`load_accounts`
    order. Only for showing a verified customer their own details: never log or store the result.

    Raises:
        NotFound: no such customer.
    """
    with session_scope() as session:
        customer = load_customer(session, customer_id)
        holder = f"{customer.first_name} {customer.last_name}"
        accounts = session.scalars(
            select(Account).where(Account.customer_id == customer_id, Account.closed_at.is_(None))
            .order_by(_KIND_ORDER, Account.id)
        )
        return [
            AccountDetails(id=a.id, kind=a.kind, name=a.name, holder=holder, iban=_grouped(a.number), bic=BANK_BIC,
                           masked_number=mask_number(a.number))
            for a in accounts
        ]
