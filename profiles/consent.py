"""Marketing consent: the one place that records and answers it."""

from __future__ import annotations

import logging

from sqlalchemy import select
from sqlalchemy.orm.exc import StaleDataError

from profiles.audit import record_audit, require_text
from profiles.customers import load_customer
from profiles.db import session_scope
from profiles.errors import Conflict
from profiles.models import Consent, utcnow

log = logging.getLogger(__name__)

MARKETING = "marketing"
ALL_CHANNELS = "all"


def has_marketing_consent(customer_id: int) -> bool:
    """True when the customer has opted in to marketing (offers may be shown/sent).

    Raises:
        NotFound: no such customer.
    """
    with session_scope() as session:
        return load_customer(session, customer_id).marketing_consent


def set_marketing_consent(customer_id: int, opted_in: bool, *, channel: str, actor: str) -> bool:
    """Record the customer's marketing choice (all channels); returns the state now in force.

    Updates the consent row (created if missing), the customer's ``marketing_consent`` flag and writes an
    audit row, in one transaction. Setting the state already in force writes nothing.

    Raises:
        InvalidInput: empty channel/actor.
        NotFound: no such customer.
        Conflict: the profile was changed concurrently; retrying is safe.
    """
    channel = require_text(channel, "channel", 30)
    actor = require_text(actor, "actor", 80)
    wanted = bool(opted_in)
    try:
        with session_scope(write=True) as session:
            customer = load_customer(session, customer_id)
            row = session.scalars(
                select(Consent).where(
                    Consent.customer_id == customer_id,
                    Consent.purpose == MARKETING,
                    Consent.channel == ALL_CHANNELS,
                )
            ).one_or_none()
            old = row.granted if row is not None else customer.marketing_consent
            if row is not None and old == wanted and customer.marketing_consent == wanted:
                return wanted
            now = utcnow()
            if row is None:
                row = Consent(customer_id=customer_id, purpose=MARKETING, channel=ALL_CHANNELS)
                session.add(row)
            row.granted = wanted
            row.source = channel
            row.updated_at = now
            customer.marketing_consent = wanted
            record_audit(
                session,
                customer_id=customer_id,
                entity="consent",
                entity_id=None,
                field=MARKETING,
                old_value=str(old).lower(),
                new_value=str(wanted).lower(),
                channel=channel,
                actor=actor,
            )
    except StaleDataError:
        raise Conflict(detail=f"customer {customer_id} changed concurrently") from None
    log.info("customer %s marketing consent -> %s via %s", customer_id, wanted, channel)
    return wanted
