"""Credit cards: limit and balance, and paying the card's bill from an account. The one place for the
card-payment rules.

Rules, all in EUR:
- only the customer's own active or blocked credit card can be paid (a blocked card still owes money);
- the amount is > 0 with at most 2 decimals (``profiles.transfers.parse_amount``) and at most what the card
  owes now (no overpayment);
- "full" means the last statement's unpaid balance (the whole balance owed when the statement is paid),
  "minimum" the statement's unpaid minimum payment;
- the source is one of the customer's current or savings accounts with that much available
  (``profiles.transfers``' source rule). A payment to one's own card is not a transfer to someone: it does
  not count against the daily transfer limit.
The debit, the card's new balance and statement, the account's transaction row, the payment row and the audit
row are written in one database transaction with the customer, the account and the card locked.

Exactly once: every payment carries the idempotency key of the read-back the customer confirmed, unique in
``card_payments``: a replayed confirmation raises ``AlreadyPaid`` and moves nothing; ``find_card_payment``
tells whether a key's payment was made (after an error of unknown outcome).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from decimal import Decimal
from typing import Literal

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from profiles.accounts import account_view, load_own_account
from profiles.audit import record_audit, require_text
from profiles.customers import load_customer
from profiles.db import session_scope
from profiles.errors import InvalidInput, NotAllowed, NotFound, ProfileError
from profiles.masking import mask_number
from profiles.models import Card, CardPayment, Transaction, utcnow
from profiles.money import eur
from profiles.schemas import CardPaymentResult, CreditCardView
from profiles.transfers import KEY_MAX_LENGTH, check_source, parse_amount

log = logging.getLogger(__name__)

ZERO = Decimal("0.00")
BillChoice = Literal["full", "minimum", "balance"]
BILL_CHOICES: tuple[str, ...] = ("full", "minimum", "balance")


@dataclass(frozen=True, slots=True)
class MadeCardPayment:
    """A card payment already in the database, found by its idempotency key (amount in EUR)."""

    payment_id: int
    amount: Decimal
    card_id: int
    from_account_id: int


class AlreadyPaid(ProfileError):
    """The confirmation with this idempotency key was executed before: nothing was paid this time."""

    default_message = "That payment was already made, so I did not pay it again."

    def __init__(self, made: MadeCardPayment) -> None:
        super().__init__(
            f"That card payment was already made (reference C{made.payment_id}), so I did not pay it again.",
            detail=f"idempotency key already used by card payment {made.payment_id}",
        )
        self.made = made


def credit_card_view(card: Card) -> CreditCardView:
    """The plain view of a credit card (number masked; NULL money columns read as 0)."""
    limit = card.credit_limit or ZERO
    owed = card.balance or ZERO
    return CreditCardView(
        id=card.id,
        masked_number=mask_number(card.number),
        status=card.status,
        credit_limit=limit,
        balance=owed,
        available=max(limit - owed, ZERO),
        statement_balance=card.statement_balance or ZERO,
        minimum_due=card.minimum_due or ZERO,
        statement_due=card.statement_due,
    )


def list_credit_cards(customer_id: int) -> list[CreditCardView]:
    """The customer's credit cards (not closed), oldest first, with limit and balance.

    Raises:
        NotFound: no such customer.
    """
    with session_scope() as session:
        load_customer(session, customer_id)
        cards = session.scalars(
            select(Card).where(Card.customer_id == customer_id, Card.kind == "credit", Card.closed_at.is_(None))
            .order_by(Card.id)
        )
        return [credit_card_view(c) for c in cards]


def _load_credit_card(session: Session, customer_id: int, card_id: int, *, lock: bool = False) -> Card:
    stmt = select(Card).where(Card.id == card_id, Card.customer_id == customer_id, Card.closed_at.is_(None))
    card = session.scalars(stmt.with_for_update() if lock else stmt).one_or_none()
    if card is None:
        raise NotFound("We could not find that card among yours.")
    if card.kind != "credit":
        raise NotAllowed("A debit card takes its payments straight from your account: it has no bill to pay.")
    return card


def bill_amount(card: CreditCardView, choice: BillChoice | Decimal | int | str) -> Decimal:
    """The EUR amount a payment of ``choice`` makes on ``card``: "full" (the statement's unpaid balance, or the
    whole balance owed once the statement is paid), "minimum" (the statement's unpaid minimum), "balance"
    (everything owed now), or an amount (checked by ``parse_amount`` and against what is owed).

    Raises:
        InvalidInput: (field ``amount``) nothing to pay, a bad amount, or more than the card owes.
    """
    owed = card.balance
    if owed <= ZERO:
        raise InvalidInput(f"Your credit card {card.masked_number} owes nothing: there is no bill to pay.",
                           field="amount")
    if choice == "full":
        return card.statement_balance if card.statement_balance > ZERO else owed
    if choice == "minimum":
        if card.minimum_due <= ZERO:
            raise InvalidInput(
                "The minimum payment of your last statement is already paid. You can still pay the full "
                f"balance ({eur(owed)}) or an amount.", field="amount")
        return card.minimum_due
    if choice == "balance":
        return owed
    value = parse_amount(choice)
    if value > owed:
        raise InvalidInput(
            f"That is more than your card {card.masked_number} owes ({eur(owed)}): you can pay at most that.",
            field="amount")
    return value


def check_card_payment(customer_id: int, card_id: int, amount: Decimal | int | str,
                       from_account_id: int | None = None) -> Decimal:
    """Check a payment of ``amount`` EUR on the card (and from the account, when given); return the amount.

    The same checks run again, under lock, inside ``pay_card_bill``.

    Raises:
        InvalidInput: bad amount or more than the card owes.
        NotFound: no such customer, or a card/account that is not theirs.
        NotAllowed: a debit card, or a term deposit as source.
        InsufficientFunds: more than the account's available balance.
    """
    with session_scope() as session:
        load_customer(session, customer_id)
        value = bill_amount(credit_card_view(_load_credit_card(session, customer_id, card_id)), amount)
        if from_account_id is not None:
            check_source(load_own_account(session, customer_id, from_account_id), value)
    return value


def _made(session: Session, customer_id: int, key: str) -> MadeCardPayment | None:
    record = session.scalars(
        select(CardPayment).where(CardPayment.idempotency_key == key, CardPayment.customer_id == customer_id)
    ).one_or_none()
    if record is None:
        return None
    return MadeCardPayment(record.id, record.amount, record.card_id, record.from_account_id)


def find_card_payment(customer_id: int, idempotency_key: str) -> MadeCardPayment | None:
    """The customer's card payment made with ``idempotency_key``, or ``None`` if that key never executed.

    Raises:
        sqlalchemy.exc.SQLAlchemyError: the database could not be read (the outcome stays unknown).
    """
    with session_scope() as session:
        return _made(session, customer_id, idempotency_key)


def pay_card_bill(
    customer_id: int,
    card_id: int,
    from_account_id: int,
    *,
    amount: Decimal | int | str,
    channel: str,
    actor: str,
    idempotency_key: str,
) -> CardPaymentResult:
    """Pay ``amount`` EUR of the customer's credit card from their account, once per ``idempotency_key``.

    The card's balance goes down by the amount, and so do the statement's unpaid balance and minimum (never
    below 0). Returns the payment id, the card and the account after the payment (numbers masked).

    Raises:
        InvalidInput: bad amount or key, more than the card owes, empty channel/actor.
        NotFound: no such customer, or a card/account that is not theirs.
        NotAllowed: a debit card, or a term deposit as source.
        InsufficientFunds: more than the account's available balance.
        AlreadyPaid: ``idempotency_key`` was executed before (nothing paid this time).
    """
    if not 0 < len(idempotency_key or "") <= KEY_MAX_LENGTH:
        raise InvalidInput("That confirmation is not valid. Please start the payment again.", field="key")
    value = parse_amount(amount)
    channel = require_text(channel, "channel", 30)
    actor = require_text(actor, "actor", 80)
    try:
        return _pay(customer_id, card_id, from_account_id, value, channel, actor, idempotency_key)
    except IntegrityError:
        # a concurrent execution of the same key won the unique constraint; anything else is re-raised
        made = find_card_payment(customer_id, idempotency_key)
        if made is None:
            raise
        raise AlreadyPaid(made) from None


def _pay(customer_id: int, card_id: int, from_account_id: int, value: Decimal, channel: str, actor: str,
         key: str) -> CardPaymentResult:
    with session_scope(write=True) as session:
        load_customer(session, customer_id, lock=True)
        if (made := _made(session, customer_id, key)) is not None:
            raise AlreadyPaid(made)
        source = load_own_account(session, customer_id, from_account_id, lock=True)
        card = _load_credit_card(session, customer_id, card_id, lock=True)
        bill_amount(credit_card_view(card), value)  # not more than owed, now
        check_source(source, value)

        now = utcnow()
        record = CardPayment(customer_id=customer_id, card_id=card.id, from_account_id=source.id, amount=value,
                             channel=channel, actor=actor, created_at=now, idempotency_key=key)
        session.add(record)
        session.flush()
        source.balance = source.balance - value
        card.balance = (card.balance or ZERO) - value
        card.statement_balance = max((card.statement_balance or ZERO) - value, ZERO)
        card.minimum_due = max((card.minimum_due or ZERO) - value, ZERO)
        session.add(Transaction(account_id=source.id, booked_at=now, amount=-value, merchant=None,
                                description=f"Credit card payment {mask_number(card.number)}"[:140]))
        record_audit(
            session, customer_id=customer_id, entity="card_payment", entity_id=record.id, field="amount",
            old_value=None, new_value=f"{value:.2f} EUR account:{source.id} -> card:{card.id}",
            channel=channel, actor=actor,
        )
        session.flush()
        log.info("card payment %s done: customer %s, account %s -> card %s", record.id, customer_id, source.id,
                 card.id)
        return CardPaymentResult(payment_id=record.id, amount=value, card=credit_card_view(card),
                                 from_account=account_view(source))
