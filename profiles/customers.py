"""Customer look-ups: the profile view and the products a customer holds."""

from __future__ import annotations

import logging

from sqlalchemy import select
from sqlalchemy.orm import Session

from profiles.db import session_scope
from profiles.errors import NotFound
from profiles.models import Account, Card, Customer, Loan
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


def products_held(customer_id: int) -> set[str]:
    """Return the catalogue ids (``profiles.schemas.PRODUCT_IDS``) of the products the customer holds.

    Accounts give current_account / savings_account / term_deposit, a credit card (active or blocked) gives
    credit_card, loans give personal_loan / mortgage.

    Raises:
        NotFound: no such customer.
    """
    with session_scope() as session:
        load_customer(session, customer_id)
        kinds = session.scalars(select(Account.kind).where(Account.customer_id == customer_id).distinct())
        held = {ACCOUNT_PRODUCTS[k] for k in kinds}
        has_credit = session.scalar(
            select(Card.id).where(Card.customer_id == customer_id, Card.kind == "credit").limit(1)
        )
        if has_credit is not None:
            held.add("credit_card")
        held.update(session.scalars(select(Loan.kind).where(Loan.customer_id == customer_id).distinct()))
        return held
