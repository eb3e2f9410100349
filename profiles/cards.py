"""Cards: list them (numbers masked) and block a lost or stolen one."""

from __future__ import annotations

import logging

from sqlalchemy import select

from profiles.audit import record_audit, require_text
from profiles.customers import load_customer
from profiles.db import session_scope
from profiles.errors import InvalidInput, NotFound
from profiles.masking import mask_number
from profiles.models import Card, utcnow
from profiles.schemas import BLOCK_REASONS, CardView

log = logging.getLogger(__name__)


def card_view(card: Card) -> CardView:
    """The plain view of a card (number masked)."""
    return CardView(id=card.id, kind=card.kind, masked_number=mask_number(card.number), status=card.status)


def list_cards(customer_id: int) -> list[CardView]:
    """Return the customer's cards (debit first), numbers masked.

    Raises:
        NotFound: no such customer.
    """
    with session_scope() as session:
        load_customer(session, customer_id)
        cards = session.scalars(
            select(Card).where(Card.customer_id == customer_id).order_by(Card.kind.desc(), Card.id)
        )
        return [card_view(c) for c in cards]


def block_card(customer_id: int, card_id: int, *, reason: str, channel: str, actor: str) -> CardView:
    """Block the customer's active card because it was ``reason`` = ``"lost"`` or ``"stolen"``; audited.

    Returns the card, now ``status="blocked"``.

    Raises:
        InvalidInput: reason not lost/stolen (field ``reason``); the card is already blocked (field
            ``card_id``); empty channel/actor.
        NotFound: no such customer, or the card is not theirs.
    """
    why = (reason or "").strip().lower()
    if why not in BLOCK_REASONS:
        raise InvalidInput("Please tell us whether the card was lost or stolen.", field="reason")
    channel = require_text(channel, "channel", 30)
    actor = require_text(actor, "actor", 80)
    with session_scope(write=True) as session:
        load_customer(session, customer_id)
        card = session.scalars(
            select(Card).where(Card.id == card_id, Card.customer_id == customer_id).with_for_update()
        ).one_or_none()
        if card is None:
            raise NotFound("We could not find that card among yours.")
        if card.status == "blocked":
            raise InvalidInput(
                f"Your card {mask_number(card.number)} is already blocked; nobody can use it.",
                field="card_id",
            )
        old_status = card.status
        card.status = "blocked"
        card.blocked_reason = why
        card.blocked_at = utcnow()
        record_audit(
            session,
            customer_id=customer_id,
            entity="card",
            entity_id=card.id,
            field="status",
            old_value=old_status,
            new_value=f"blocked ({why})",
            channel=channel,
            actor=actor,
        )
        session.flush()
        log.info("card %s of customer %s blocked (%s)", card.id, customer_id, why)
        return card_view(card)
