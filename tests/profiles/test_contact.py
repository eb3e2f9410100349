"""Contact details: validation in one place, the audit row, optimistic locking."""

from __future__ import annotations

import threading
from collections.abc import Callable

import pytest
from sqlalchemy import Engine, text

import profiles.contact as contact_module
from profiles import Conflict, InvalidInput, NotFound, get_customer, normalise_contact, update_contact
from profiles.customers import load_customer
from profiles.db import session_scope
from profiles.models import Customer
from tests.profiles.conftest import Built, audit_rows, snapshot


@pytest.mark.parametrize(
    ("field", "value", "expected"),
    [
        ("email", "  Maria.Silva@Example.COM ", "Maria.Silva@example.com"),
        ("e-mail", "ana@example.pt", "ana@example.pt"),
        ("phone", "912 345 678", "+351912345678"),
        ("phone", "+351 21 123 4567", "+351211234567"),
        ("phone number", "00351 962 000 111", "+351962000111"),
        ("phone", "+44 20 7946 0958", "+442079460958"),
        ("address", "  Rua   Direita, 12,\t4000-123 Porto ", "Rua Direita, 12, 4000-123 Porto"),
        ("address", "Avenida da República, 5º Esq.", "Avenida da República, 5º Esq."),
        ("address", "Rua A, 1\n1000-001 Lisboa", "Rua A, 1 1000-001 Lisboa"),
        ("address", "Rua B, 2", "Rua B, 2"),
        ("address", "Rua Augusta 100, 1100-053 Lisboa", "Rua Augusta 100, 1100-053 Lisboa"),
        ("postal address", "1100-053 Lisboa", "1100-053 Lisboa"),
        ("address", "R. " + "a" * 195 + " 1", "R. " + "a" * 195 + " 1"),
    ],
)
def test_normalise_contact_accepts(field: str, value: str, expected: str) -> None:
    assert normalise_contact(field, value) == expected


@pytest.mark.parametrize(
    ("field", "value", "error_field"),
    [
        ("email", "not-an-email", "email"),
        ("email", "a@b", "email"),
        ("email", "two@@example.com", "email"),
        ("email", "", "email"),
        ("phone", "12345", "phone"),
        ("phone", "call me maybe", "phone"),
        ("phone", "+351 999 999 999 9", "phone"),
        ("address", "   ", "address"),
        ("address", "x" * 201, "address"),
        ("address", "Rua " + "a" * 195 + " 1", "address"),  # 201 characters
        ("address", "Rua A\x00 1", "address"),
        ("address", "Rua A\x1b[31m 1", "address"),
        ("shoe size", "42", "field"),
    ],
)
def test_normalise_contact_refuses(field: str, value: str, error_field: str) -> None:
    with pytest.raises(InvalidInput) as err:
        normalise_contact(field, value)
    assert err.value.field == error_field
    assert err.value.user_message


@pytest.mark.parametrize(
    "value",
    [
        "x",  # the reviewer's case
        "",
        "Rua A 1",  # 7 characters
        "Lisboa",  # one word, no number
        "Rua Augusta, Lisboa",  # no house number or postal code
        "1100-053 1100",  # no letter
        "12345678",  # one word, digits only
        "RuaAugusta100",  # one word
        "Rua Augusta ²",  # "²" is not a house number
    ],
)
def test_address_must_look_like_a_postal_address(value: str) -> None:
    with pytest.raises(InvalidInput) as err:
        normalise_contact("address", value)
    assert err.value.field == "address"
    assert err.value.user_message == (
        "Please give the full postal address, e.g. Rua Augusta 100, 1100-053 Lisboa."
    )


def test_invalid_address_writes_nothing(alice: Built) -> None:
    before = snapshot()
    with pytest.raises(InvalidInput):
        update_contact(alice.customer_id, "address", "x", channel="web", actor="customer")
    assert snapshot() == before
    assert audit_rows(alice.customer_id) == []


def test_update_contact_writes_value_and_audit_row(alice: Built) -> None:
    old = get_customer(alice.customer_id).phone
    change = update_contact(alice.customer_id, "phone", "96 123 45 67", channel="telegram",
                            actor=f"customer:{alice.customer_id}")
    assert (change.field, change.old_value, change.new_value) == ("phone", old, "+351961234567")
    assert change.changed
    assert get_customer(alice.customer_id).phone == "+351961234567"
    (row,) = audit_rows(alice.customer_id)
    assert (row.entity, row.entity_id, row.field) == ("customer", alice.customer_id, "phone")
    assert (row.old_value, row.new_value) == (old, "+351961234567")
    assert (row.channel, row.actor) == ("telegram", f"customer:{alice.customer_id}")
    assert row.created_at.tzinfo is not None


def test_invalid_email_writes_nothing(alice: Built) -> None:
    before = snapshot()
    with pytest.raises(InvalidInput) as err:
        update_contact(alice.customer_id, "email", "alice(at)example", channel="web", actor="customer")
    assert err.value.field == "email"
    assert snapshot() == before
    assert audit_rows(alice.customer_id) == []


def test_unchanged_value_writes_nothing(alice: Built) -> None:
    email = get_customer(alice.customer_id).email
    before = snapshot()
    change = update_contact(alice.customer_id, "email", f"  {email} ", channel="web", actor="customer")
    assert not change.changed
    assert snapshot() == before


def test_update_contact_needs_customer_and_actor(alice: Built) -> None:
    with pytest.raises(NotFound):
        update_contact(99_999, "address", "Rua B, 2", channel="web", actor="customer")
    with pytest.raises(InvalidInput) as err:
        update_contact(alice.customer_id, "address", "Rua B, 2", channel="web", actor="")
    assert err.value.field == "actor"


def test_update_bumps_the_version(alice: Built) -> None:
    with session_scope() as s:
        before = s.get(Customer, alice.customer_id)
        assert before is not None
        version = before.version
    update_contact(alice.customer_id, "address", "Rua Nova, 3, 1000-002 Lisboa", channel="web",
                   actor="customer")
    with session_scope() as s:
        after = s.get(Customer, alice.customer_id)
        assert after is not None and after.version == version + 1


def test_concurrent_change_is_a_conflict(pg_db: Engine, make_customer: Callable[..., Built],
                                         monkeypatch: pytest.MonkeyPatch) -> None:
    """Another writer changes the profile between our read and our write: Conflict, nothing half-written."""
    dana = make_customer()

    def load_then_interfere(session, customer_id, **kwargs):  # type: ignore[no-untyped-def]
        customer = load_customer(session, customer_id, **kwargs)

        def other_writer() -> None:
            with pg_db.begin() as conn:
                conn.execute(text("UPDATE customers SET address = 'Elsewhere', version = version + 1 "
                                  "WHERE id = :id"), {"id": customer_id})

        thread = threading.Thread(target=other_writer)
        thread.start()
        thread.join()
        return customer

    monkeypatch.setattr(contact_module, "load_customer", load_then_interfere)
    with pytest.raises(Conflict) as err:
        update_contact(dana.customer_id, "email", "dana@example.com", channel="web", actor="customer")
    assert "try again" in err.value.user_message
    assert get_customer(dana.customer_id).email != "dana@example.com"
    assert audit_rows(dana.customer_id) == []
