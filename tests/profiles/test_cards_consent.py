"""Card blocking and marketing consent: ownership, state rules, audit rows."""

from __future__ import annotations

import pytest
from sqlalchemy import delete, select

from profiles import (
    InvalidInput,
    NotFound,
    block_card,
    has_marketing_consent,
    list_cards,
    set_marketing_consent,
)
from profiles.db import session_scope
from profiles.models import Card, Consent
from tests.profiles.conftest import Built, audit_rows, snapshot


@pytest.mark.parametrize("reason", ["lost", "stolen", " Stolen "])
def test_block_own_active_card(alice: Built, reason: str) -> None:
    card = block_card(alice.customer_id, alice.debit_card_id, reason=reason, channel="web", actor="customer")
    assert (card.id, card.status) == (alice.debit_card_id, "blocked")
    assert card.masked_number.endswith(alice.card_number[-4:]) and alice.card_number not in card.masked_number
    with session_scope() as s:
        row = s.get(Card, alice.debit_card_id)
        assert row is not None
        assert (row.status, row.blocked_reason) == ("blocked", reason.strip().lower())
        assert row.blocked_at is not None
    (audit,) = audit_rows(alice.customer_id)
    assert (audit.entity, audit.entity_id, audit.field, audit.old_value) == ("card", card.id, "status", "active")
    assert audit.new_value == f"blocked ({reason.strip().lower()})"
    assert [c.status for c in list_cards(alice.customer_id)] == ["blocked"]


def test_blocking_a_blocked_card_says_so(alice: Built) -> None:
    block_card(alice.customer_id, alice.debit_card_id, reason="lost", channel="web", actor="customer")
    before = snapshot()
    with pytest.raises(InvalidInput) as err:
        block_card(alice.customer_id, alice.debit_card_id, reason="stolen", channel="web", actor="customer")
    assert "already blocked" in err.value.user_message
    assert alice.card_number not in err.value.user_message
    assert snapshot() == before


def test_cannot_block_another_customers_card(alice: Built, bob: Built) -> None:
    before = snapshot()
    with pytest.raises(NotFound) as err:
        block_card(alice.customer_id, bob.debit_card_id, reason="lost", channel="web", actor="customer")
    assert bob.card_number[-4:] not in err.value.user_message
    assert snapshot() == before


@pytest.mark.parametrize("reason", ["", "damaged", "expired"])
def test_block_reason_must_be_lost_or_stolen(alice: Built, reason: str) -> None:
    before = snapshot()
    with pytest.raises(InvalidInput) as err:
        block_card(alice.customer_id, alice.debit_card_id, reason=reason, channel="web", actor="customer")
    assert err.value.field == "reason"
    assert snapshot() == before


def _consent_row(customer_id: int) -> tuple[bool, str]:
    with session_scope() as s:
        row = s.scalars(select(Consent).where(Consent.customer_id == customer_id,
                                              Consent.purpose == "marketing")).one()
        return row.granted, row.source


def test_marketing_consent_opt_out_and_in(alice: Built) -> None:
    assert has_marketing_consent(alice.customer_id) is True
    assert set_marketing_consent(alice.customer_id, False, channel="facebook", actor="customer") is False
    assert has_marketing_consent(alice.customer_id) is False
    assert _consent_row(alice.customer_id) == (False, "facebook")
    assert set_marketing_consent(alice.customer_id, True, channel="web", actor="staff:jdoe") is True
    assert has_marketing_consent(alice.customer_id) is True
    assert _consent_row(alice.customer_id) == (True, "web")
    rows = audit_rows(alice.customer_id)
    assert [(r.entity, r.field, r.old_value, r.new_value, r.channel, r.actor) for r in rows] == [
        ("consent", "marketing", "true", "false", "facebook", "customer"),
        ("consent", "marketing", "false", "true", "web", "staff:jdoe"),
    ]


def test_setting_the_same_consent_writes_nothing(bob: Built) -> None:
    before = snapshot()
    assert set_marketing_consent(bob.customer_id, False, channel="web", actor="customer") is False
    assert snapshot() == before


def test_consent_row_is_created_when_missing(bob: Built) -> None:
    with session_scope() as s:
        s.execute(delete(Consent))
    assert set_marketing_consent(bob.customer_id, True, channel="web", actor="customer") is True
    assert _consent_row(bob.customer_id) == (True, "web")
    assert has_marketing_consent(bob.customer_id)


def test_consent_for_unknown_customer(db: object) -> None:
    with pytest.raises(NotFound):
        has_marketing_consent(12345)
    with pytest.raises(NotFound):
        set_marketing_consent(12345, True, channel="web", actor="customer")
