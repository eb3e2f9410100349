"""Offers shown, accepted and declined are on the customer's timeline as well as in the offer history."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from profiles import InvalidInput, record_offer
from profiles.db import session_scope
from profiles.models import Interaction, OfferEvent
from tests.profiles.conftest import Built


def test_offer_events_are_timeline_items(alice: Built) -> None:
    cid = alice.customer_id
    record_offer(cid, "credit_card", "shown", channel="rest")
    record_offer(cid, "credit_card", "declined", channel="rest")
    with session_scope() as s:
        items = s.scalars(select(Interaction).where(Interaction.customer_id == cid, Interaction.kind == "offer")
                          .order_by(Interaction.id)).all()
        assert [(i.direction, i.summary, i.details) for i in items] == [
            ("outbound", "Offered the credit card", {"product": "credit_card", "outcome": "shown"}),
            ("inbound", "Declined the credit card offer", {"product": "credit_card", "outcome": "declined"}),
        ]
        assert [i.actor for i in items] == ["bot", f"customer:{cid}"]


def test_a_refused_offer_record_writes_nothing(alice: Built) -> None:
    with pytest.raises(InvalidInput):
        record_offer(alice.customer_id, "credit_card", "maybe", channel="rest")
    with session_scope() as s:
        assert s.scalars(select(Interaction)).all() == [] and s.scalars(select(OfferEvent)).all() == []
