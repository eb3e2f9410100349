"""Offer events (shown / accepted / declined): the history the recommender's frequency rules read."""

from __future__ import annotations

import logging
from datetime import datetime

from sqlalchemy import select

from profiles.audit import require_text
from profiles.customers import load_customer
from profiles.db import session_scope
from profiles.errors import InvalidInput
from profiles.models import Interaction, OfferEvent, utcnow
from profiles.schemas import OFFER_OUTCOMES, PRODUCT_IDS, LeadView

log = logging.getLogger(__name__)


def _check_product(product: str) -> str:
    if product not in PRODUCT_IDS:
        raise InvalidInput("We don't offer that product.", field="product")
    return product


def record_offer(customer_id: int, product: str, outcome: str, *, channel: str) -> None:
    """Record that ``product`` (a ``PRODUCT_IDS`` key) was ``"shown"``, ``"accepted"`` or ``"declined"``.

    Also a timeline item (``Interaction`` kind ``offer``: outbound when shown, inbound when answered), in the
    same transaction.

    Raises:
        InvalidInput: unknown product or outcome, empty channel.
        NotFound: no such customer.
    """
    _check_product(product)
    if outcome not in OFFER_OUTCOMES:
        raise InvalidInput("The outcome must be shown, accepted or declined.", field="outcome")
    channel = require_text(channel, "channel", 30)
    with session_scope(write=True) as session:
        load_customer(session, customer_id)
        now = utcnow()
        session.add(
            OfferEvent(
                customer_id=customer_id, product=product, outcome=outcome, channel=channel, created_at=now,
            )
        )
        title = product.replace("_", " ")
        shown = outcome == "shown"
        session.add(
            Interaction(
                customer_id=customer_id, kind="offer", channel=channel,
                direction="outbound" if shown else "inbound",
                summary=f"Offered the {title}" if shown else f"{outcome.capitalize()} the {title} offer",
                actor="bot" if shown else f"customer:{customer_id}",
                details={"product": product, "outcome": outcome}, occurred_at=now,
            )
        )
    log.info("offer %s %s for customer %s", product, outcome, customer_id)


def last_offer_outcome(customer_id: int, product: str) -> tuple[str, datetime] | None:
    """Return ``(outcome, when)`` of the latest offer event for ``product`` (UTC), or None if never offered.

    Raises:
        InvalidInput: unknown product.
    """
    _check_product(product)
    with session_scope() as session:
        row = session.execute(
            select(OfferEvent.outcome, OfferEvent.created_at)
            .where(OfferEvent.customer_id == customer_id, OfferEvent.product == product)
            .order_by(OfferEvent.created_at.desc(), OfferEvent.id.desc())
            .limit(1)
        ).one_or_none()
        return (row.outcome, row.created_at) if row is not None else None


def latest_offer_event(customer_id: int) -> tuple[str, str, datetime] | None:
    """Return ``(product, outcome, when)`` of the customer's latest offer event of any product (UTC), or None.

    The recommender reads it for "at most one suggestion per customer per day". An unknown customer has no
    events (None).
    """
    with session_scope() as session:
        row = session.execute(
            select(OfferEvent.product, OfferEvent.outcome, OfferEvent.created_at)
            .where(OfferEvent.customer_id == customer_id)
            .order_by(OfferEvent.created_at.desc(), OfferEvent.id.desc())
            .limit(1)
        ).one_or_none()
        return (row.product, row.outcome, row.created_at) if row is not None else None


def list_leads(limit: int = 100) -> list[LeadView]:
    """Accepted suggestions (leads for an advisor), newest first.

    Raises:
        InvalidInput: ``limit`` outside 1..1000.
    """
    if not 1 <= limit <= 1000:
        raise InvalidInput("limit must be between 1 and 1000", field="limit")
    with session_scope() as session:
        rows = session.scalars(
            select(OfferEvent)
            .where(OfferEvent.outcome == "accepted")
            .order_by(OfferEvent.created_at.desc(), OfferEvent.id.desc())
            .limit(limit)
        )
        return [LeadView(r.customer_id, r.product, r.channel, r.created_at) for r in rows]
