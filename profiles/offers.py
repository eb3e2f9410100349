"""Offer events (shown / accepted / declined): the history the recommender's frequency rules read, and the
customers' answers its training learns from (:func:`offer_answers`)."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.engine import make_url
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from profiles.audit import require_text
from profiles.customers import load_customer
from profiles.db import session_scope
from profiles.errors import InvalidInput
from profiles.models import Interaction, OfferEvent, utcnow
from profiles.schemas import OFFER_OUTCOMES, PRODUCT_IDS, LeadView
from profiles.settings import get_settings

log = logging.getLogger(__name__)


def _check_product(product: str) -> str:
    if product not in PRODUCT_IDS:
        raise InvalidInput("We don't offer that product.", field="product")
    return product


def add_offer_event(
    session: Session, customer_id: int, product: str, outcome: str, *, channel: str, now: datetime,
    timeline: bool = True,
) -> None:
    """Add one offer event in the caller's transaction (checked already: ``product``, ``outcome``, ``channel``).

    ``timeline`` also adds the ``offer`` Interaction (outbound when shown, inbound when answered); a pushed
    offer has its own ``campaign_message`` item instead (``profiles.push.record_delivery``).
    """
    session.add(OfferEvent(customer_id=customer_id, product=product, outcome=outcome, channel=channel,
                           created_at=now))
    if not timeline:
        return
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
        add_offer_event(session, customer_id, product, outcome, channel=channel, now=utcnow())
    log.info("offer %s %s for customer %s", product, outcome, customer_id)


@dataclass(frozen=True, slots=True)
class OfferHistory:
    """The offer events the recommender's frequency rules read.

    Attributes:
        latest: the latest event of any product, ``(product, outcome, when)`` (UTC), or None.
        by_product: product -> ``(outcome, when)`` of its latest event, for the events since the ``since``
            given to :func:`load_offer_history` only (an older event cools nothing off).
    """

    latest: tuple[str, str, datetime] | None
    by_product: dict[str, tuple[str, datetime]]


_NEWEST = (OfferEvent.created_at.desc(), OfferEvent.id.desc())  # ties by id


def _latest(session: Session, customer_id: int, product: str | None = None) -> tuple[str, str, datetime] | None:
    stmt = select(OfferEvent.product, OfferEvent.outcome, OfferEvent.created_at).where(
        OfferEvent.customer_id == customer_id)
    if product is not None:
        stmt = stmt.where(OfferEvent.product == product)
    row = session.execute(stmt.order_by(*_NEWEST).limit(1)).one_or_none()
    return (row.product, row.outcome, _utc(row.created_at)) if row is not None else None


def _utc(when: datetime) -> datetime:
    return when if when.tzinfo else when.replace(tzinfo=UTC)


def load_offer_history(session: Session, customer_id: int, since: datetime) -> OfferHistory:
    """The customer's offer history in the caller's session (at most two indexed queries): the latest event,
    and per product its latest event since ``since`` (aware; naive = UTC)."""
    latest = _latest(session, customer_id)
    by_product: dict[str, tuple[str, datetime]] = {}
    if latest is not None and latest[2] >= _utc(since):
        for row in session.execute(
            select(OfferEvent.product, OfferEvent.outcome, OfferEvent.created_at)
            .where(OfferEvent.customer_id == customer_id, OfferEvent.created_at >= since)
            .order_by(*_NEWEST)
        ):
            by_product.setdefault(row.product, (row.outcome, _utc(row.created_at)))
    return OfferHistory(latest, by_product)


def last_offer_outcome(customer_id: int, product: str) -> tuple[str, datetime] | None:
    """Return ``(outcome, when)`` of the latest offer event for ``product`` (UTC), or None if never offered.

    Raises:
        InvalidInput: unknown product.
    """
    _check_product(product)
    with session_scope() as session:
        latest = _latest(session, customer_id, product)
    return latest[1:] if latest is not None else None


def latest_offer_event(customer_id: int) -> tuple[str, str, datetime] | None:
    """Return ``(product, outcome, when)`` of the customer's latest offer event of any product (UTC), or None.

    The recommender reads it for "at most one suggestion per customer per day". An unknown customer has no
    events (None).
    """
    with session_scope() as session:
        return _latest(session, customer_id)


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


#: The outcomes that are a customer's answer to an offer (``shown`` is not).
ANSWER_OUTCOMES: tuple[str, ...] = ("accepted", "declined")


@dataclass(frozen=True, slots=True)
class OfferAnswer:
    """One recorded answer to an offer: ``outcome`` ``accepted`` or ``declined``, ``when`` aware UTC, ``source``
    the table it came from (``offer_events``, or ``interactions`` for an ``offer`` timeline item the feed or
    staff wrote)."""

    customer_id: int
    product: str
    outcome: str
    when: datetime
    source: str


def load_offer_answers(session: Session) -> list[OfferAnswer]:
    """Every accepted / declined answer in the caller's session: the ``OfferEvent`` rows, and the ``Interaction``
    rows of kind ``offer`` whose details name a catalogue ``product`` (``PRODUCT_IDS``) and an answer
    ``outcome`` (others are skipped). Oldest first (ties by customer, product). An item and an event describing
    the same answer are both returned (the caller keeps one answer per customer and product)."""
    answers = [
        OfferAnswer(cid, product, outcome, _utc(when), "offer_events")
        for cid, product, outcome, when in session.execute(
            select(OfferEvent.customer_id, OfferEvent.product, OfferEvent.outcome, OfferEvent.created_at)
            .where(OfferEvent.outcome.in_(ANSWER_OUTCOMES)))
    ]
    for cid, details, when in session.execute(
        select(Interaction.customer_id, Interaction.details, Interaction.occurred_at).where(Interaction.kind == "offer")
    ):
        details = details if isinstance(details, dict) else {}
        said, about = details.get("outcome"), details.get("product")
        if about in PRODUCT_IDS and said in ANSWER_OUTCOMES:
            answers.append(OfferAnswer(cid, str(about), str(said), _utc(when), "interactions"))
    return sorted(answers, key=lambda a: (a.when, a.customer_id, a.product))


def offer_answers() -> list[OfferAnswer]:
    """:func:`load_offer_answers` in its own read-only session, for training: no CRM database (a SQLite file
    that does not exist is not created), or one without these tables, gives ``[]`` (logged), never an error."""
    url = make_url(get_settings().database_url)
    sqlite_file = url.drivername.startswith("sqlite") and url.database not in (None, "", ":memory:")
    if sqlite_file and not Path(str(url.database)).exists():  # connecting would create an empty CRM file
        log.info("no CRM database at %s: no offer answers", url.database)
        return []
    try:
        with session_scope() as session:
            return load_offer_answers(session)
    except SQLAlchemyError as exc:
        log.warning("no offer answers read (%s)", type(exc).__name__)
        return []
