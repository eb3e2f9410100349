"""Requests to hand a conversation over to a human agent."""

from __future__ import annotations

import logging

from sqlalchemy import select

from profiles.audit import require_text
from profiles.customers import load_customer
from profiles.db import session_scope
from profiles.errors import InvalidInput
from profiles.masking import redact
from profiles.models import HandoffRequest, utcnow
from profiles.schemas import HandoffView

log = logging.getLogger(__name__)


def create_handoff(*, customer_id: int | None, sender_id: str, channel: str, reason: str) -> HandoffView:
    """Open a hand-off request (``status="open"``) for the conversation ``sender_id`` on ``channel``.

    ``customer_id`` is the verified customer, or None for an anonymous visitor. ``reason`` (often the
    customer's last messages) has every card-, account- or IBAN-like number masked (``masking.redact``) and is
    then cut to 200 characters, so a number typed in chat is never stored nor shown to staff in full.

    Raises:
        InvalidInput: empty sender_id, channel or reason.
        NotFound: ``customer_id`` given but no such customer.
    """
    sender = require_text(sender_id, "sender_id", 128)
    channel = require_text(channel, "channel", 30)
    why = require_text(redact(reason)[:200] if reason else reason, "reason", 200)
    with session_scope(write=True) as session:
        if customer_id is not None:
            load_customer(session, customer_id)
        request = HandoffRequest(
            customer_id=customer_id, sender_id=sender, channel=channel, reason=why, status="open",
            created_at=utcnow(),
        )
        session.add(request)
        session.flush()
        log.info("handoff %s opened (customer %s, channel %s)", request.id, customer_id, channel)
        return handoff_view(request)


def handoff_view(request: HandoffRequest) -> HandoffView:
    """The plain view of a hand-off row."""
    return HandoffView(
        id=request.id, status=request.status, created_at=request.created_at, customer_id=request.customer_id,
        sender_id=request.sender_id, channel=request.channel, reason=request.reason,
    )


def list_handoffs(status: str | None = "open", limit: int = 50) -> list[HandoffView]:
    """Hand-off requests, oldest first (the queue order staff work in); ``status=None`` lists all.

    Raises:
        InvalidInput: ``limit`` outside 1..500.
    """
    if not 1 <= limit <= 500:
        raise InvalidInput("limit must be between 1 and 500", field="limit")
    query = select(HandoffRequest).order_by(HandoffRequest.created_at, HandoffRequest.id).limit(limit)
    if status is not None:
        query = query.where(HandoffRequest.status == status)
    with session_scope() as session:
        return [handoff_view(r) for r in session.scalars(query)]


def has_open_handoff(sender_id: str) -> bool:
    """Whether conversation ``sender_id`` has a hand-off request still waiting or taken by a staff member (the
    bot asks no satisfaction question then)."""
    with session_scope() as session:
        found = session.scalar(select(HandoffRequest.id).where(
            HandoffRequest.sender_id == sender_id, HandoffRequest.status.in_(("open", "taken"))).limit(1))
        return found is not None
