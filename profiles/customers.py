"""Customer look-ups: the profile view, the products a customer holds and their credit band."""

from __future__ import annotations

import logging

from sqlalchemy import select
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from profiles.db import session_scope
from profiles.errors import NotFound
from profiles.models import Account, Card, Customer, CustomerScore, Loan
from profiles.schemas import CustomerView

log = logging.getLogger(__name__)

ACCOUNT_PRODUCTS = {"current": "current_account", "savings": "savings_account", "term_deposit": "term_deposit"}


def load_customer(session: Session, customer_id: int, *, lock: bool = False) -> Customer:
    """Return the ORM customer (``lock=True``: ``SELECT ... FOR UPDATE`` on PostgreSQL).

    Raises:
        NotFound: no such customer.
    """
    stmt = select(Customer).where(Customer.id == customer_id)
    if lock:
        stmt = stmt.with_for_update()
    customer = session.scalars(stmt).one_or_none()
    if customer is None:
        raise NotFound("We could not find your customer profile.", detail=f"customer {customer_id} not found")
    return customer


def customer_view(customer: Customer) -> CustomerView:
    """The plain view of a customer profile."""
    return CustomerView(
        id=customer.id,
        first_name=customer.first_name,
        last_name=customer.last_name,
        email=customer.email,
        phone=customer.phone,
        address=customer.address,
        age=customer.age,
        job=customer.job,
        marital=customer.marital,
        education=customer.education,
        credit_default=customer.credit_default,
        housing_loan=customer.housing_loan,
        personal_loan=customer.personal_loan,
        contact_channel=customer.contact_channel,
        region=customer.region,
        marketing_consent=customer.marketing_consent,
    )


def get_customer(customer_id: int) -> CustomerView:
    """Return the customer's profile.

    Raises:
        NotFound: no such customer.
    """
    with session_scope() as session:
        return customer_view(load_customer(session, customer_id))


def customer_exists(customer_id: int) -> bool:
    """True when a customer with this id exists."""
    with session_scope() as session:
        return session.get(Customer, customer_id) is not None


def load_products_held(session: Session, customer_id: int) -> frozenset[str]:
    """The catalogue ids (``profiles.schemas.PRODUCT_IDS``) of the products the customer holds, in the caller's
    session (no customer check; an unknown customer holds nothing).

    Accounts give current_account / savings_account / term_deposit, a credit card (active or blocked) gives
    credit_card, loans give personal_loan / mortgage.
    """
    kinds = session.scalars(select(Account.kind).where(Account.customer_id == customer_id).distinct())
    held = {ACCOUNT_PRODUCTS[k] for k in kinds}
    has_credit = session.scalar(
        select(Card.id).where(Card.customer_id == customer_id, Card.kind == "credit").limit(1)
    )
    if has_credit is not None:
        held.add("credit_card")
    held.update(session.scalars(select(Loan.kind).where(Loan.customer_id == customer_id).distinct()))
    return frozenset(held)


def products_held(customer_id: int) -> set[str]:
    """Return the catalogue ids of the products the customer holds (:func:`load_products_held`).

    Raises:
        NotFound: no such customer.
    """
    with session_scope() as session:
        load_customer(session, customer_id)
        return set(load_products_held(session, customer_id))


def load_credit_band(session: Session, customer_id: int) -> str | None:
    """The CRM analyses' credit band of the customer (``CustomerScore.credit_band``), None if not scored.

    A database without the scores table (created before the analyses existed) reads as "not scored", with a
    warning. Run it as the caller's last statement: on PostgreSQL that failed statement ends the transaction
    (it is rolled back here).
    """
    try:
        return session.scalar(select(CustomerScore.credit_band).where(CustomerScore.customer_id == customer_id))
    except SQLAlchemyError as exc:
        session.rollback()
        log.warning("credit band not read (%s); credit products rely on the default flag", type(exc).__name__)
        return None
