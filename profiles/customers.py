"""Customer look-ups: the profile view, the products a customer holds and their credit band."""

from __future__ import annotations

import logging
from datetime import datetime

from sqlalchemy import SQLColumnExpression, exists, select
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session
from sqlalchemy.sql.elements import ColumnElement

from profiles.db import session_scope
from profiles.errors import NotFound
from profiles.models import Account, Card, Customer, CustomerScore, Loan
from profiles.schemas import PRODUCT_IDS, CustomerView

log = logging.getLogger(__name__)

ACCOUNT_PRODUCTS = {"current": "current_account", "savings": "savings_account", "term_deposit": "term_deposit"}
#: Loan kinds, which are their catalogue ids.
LOAN_PRODUCTS = ("personal_loan", "mortgage")


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


def holds_product_sql(
    product: str, customer_id: SQLColumnExpression[int] | int, *, opened_from: datetime | None = None,
    opened_before: datetime | None = None,
) -> ColumnElement[bool]:
    """The one "holds ``product``" rule as SQL: an EXISTS over the customer's rows for a catalogue id
    (``profiles.schemas.PRODUCT_IDS``), for ``customer_id`` an int or a column (``Customer.id`` in an audience
    query, ``CampaignDelivery.customer_id`` ...). :func:`load_products_held` is this rule for one customer.

    Accounts give current_account / savings_account / term_deposit, a credit card (active or blocked) gives
    credit_card, loans give personal_loan / mortgage. ``opened_from`` / ``opened_before`` keep only the product
    rows opened (``created_at``) in that window (a conversion: "opened a product").

    Raises:
        ValueError: ``product`` is not a catalogue id.
    """
    table: type[Account] | type[Card] | type[Loan]
    kind: ColumnElement[bool]
    kinds = [k for k, p in ACCOUNT_PRODUCTS.items() if p == product]
    if kinds:
        table, kind = Account, Account.kind.in_(kinds)
    elif product == "credit_card":
        table, kind = Card, Card.kind == "credit"
    elif product in LOAN_PRODUCTS:
        table, kind = Loan, Loan.kind == product
    else:
        raise ValueError(f"not a catalogue product: {product!r}")
    conditions = [table.customer_id == customer_id, kind]
    if opened_from is not None:
        conditions.append(table.created_at >= opened_from)
    if opened_before is not None:
        conditions.append(table.created_at < opened_before)
    return exists().where(*conditions)


def load_products_held(session: Session, customer_id: int) -> frozenset[str]:
    """The catalogue ids (``profiles.schemas.PRODUCT_IDS``) of the products the customer holds, in the caller's
    session (no customer check; an unknown customer holds nothing): :func:`holds_product_sql` for every product,
    in one statement.
    """
    row = session.execute(select(*(holds_product_sql(p, customer_id).label(p) for p in PRODUCT_IDS))).one()
    return frozenset(p for p, held in zip(PRODUCT_IDS, row, strict=True) if held)


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
