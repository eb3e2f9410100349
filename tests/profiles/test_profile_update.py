"""Staff profile updates: validation (field named, nothing written), optimistic locking, audit rows; and a real
concurrency test on PostgreSQL: chat-side ``update_contact`` racing API PATCHes never loses a write silently."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, select

from api.main import app
from profiles.contact import update_contact
from profiles.customer360 import get_customer_360, list_timeline
from profiles.db import session_scope
from profiles.errors import Conflict, InvalidInput, NotFound
from profiles.models import AuditLog, Customer
from profiles.profile_update import UPDATABLE_FIELDS, update_profile
from profiles.staff import issue_staff_token
from tests.profiles.conftest import audit_rows, build_customer, snapshot


def test_update_changes_the_fields_audits_each_and_moves_the_version(db: Engine) -> None:
    built = build_customer()
    cid = built.customer_id
    old_email = get_customer_360(cid).email
    result = update_profile(
        cid,
        {"email": "  New.Address@Example.COM ", "phone": "913 333 444", "household_size": 4, "children": 2,
         "annual_income": "42000.5", "region": "Norte", "marital": "married", "age": 41},
        expected_version=1, actor="ana",
    )
    assert result.version == 2
    changed = {c.field: (c.old_value, c.new_value) for c in result.changes}
    assert changed["email"] == (old_email, "New.Address@example.com")
    assert changed["phone"] == ("+351912345678", "+351913333444")
    assert changed["annual_income"] == (None, Decimal("42000.50"))
    view = get_customer_360(cid)
    assert (view.email, view.phone, view.household_size, view.children, view.annual_income, view.region,
            view.marital, view.age, view.version) == (
        "New.Address@example.com", "+351913333444", 4, 2, Decimal("42000.50"), "Norte", "married", 41, 2)
    audit = {(a.field, a.old_value, a.new_value, a.channel, a.actor) for a in audit_rows(cid)}
    assert ("household_size", None, "4", "staff_api", "staff:ana") in audit
    assert ("annual_income", None, "42000.50", "staff_api", "staff:ana") in audit
    assert len(audit) == 8
    note = list_timeline(cid, kinds=["profile_update"]).items[0]
    assert note.direction == "internal" and note.details == {"fields": list(changed)}
    assert "New.Address" not in note.summary  # the timeline names fields, not values


def test_same_values_write_nothing(db: Engine) -> None:
    built = build_customer()
    before = snapshot()
    result = update_profile(built.customer_id, {"age": 40, "job": "technician"}, expected_version=1, actor="ana")
    assert (result.version, result.changes) == (1, ())
    assert snapshot() == before


def test_an_email_of_another_customer_is_refused_in_any_case(db: Engine) -> None:
    first = build_customer(email="Ana.Silva@example.com")
    second = build_customer()
    before = snapshot()
    for taken in ("Ana.Silva@example.com", "ana.silva@EXAMPLE.com", " ANA.SILVA@example.com "):
        with pytest.raises(InvalidInput) as refused:
            update_profile(second.customer_id, {"email": taken, "age": 50}, expected_version=1, actor="ana")
        assert refused.value.field == "email"
        assert "already used by another customer profile" in refused.value.user_message
    assert snapshot() == before
    # the same customer may change the case of their own address
    result = update_profile(first.customer_id, {"email": "ana.silva@example.com"}, expected_version=1, actor="ana")
    assert [c.new_value for c in result.changes] == ["ana.silva@example.com"]


def test_clearing_a_nullable_field(db: Engine) -> None:
    built = build_customer()
    update_profile(built.customer_id, {"annual_income": 1000}, expected_version=1, actor="ana")
    result = update_profile(built.customer_id, {"annual_income": None}, expected_version=2, actor="ana")
    assert [(c.field, c.old_value, c.new_value) for c in result.changes] == [
        ("annual_income", Decimal("1000.00"), None)]


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"email": "not an email"}, "email"),
        ({"phone": "123"}, "phone"),
        ({"address": "nowhere"}, "address"),
        ({"age": 12}, "age"),
        ({"age": True}, "age"),
        ({"age": "40"}, "age"),
        ({"job": "astronaut"}, "job"),
        ({"marital": "complicated"}, "marital"),
        ({"education": "phd"}, "education"),
        ({"region": "Atlantis"}, "region"),
        ({"household_size": 0}, "household_size"),
        ({"children": -1}, "children"),
        ({"household_size": 2, "children": 2}, "children"),
        ({"annual_income": "-5"}, "annual_income"),
        ({"annual_income": "1.001"}, "annual_income"),
        ({"annual_income": "lots"}, "annual_income"),
        ({"annual_income": "NaN"}, "annual_income"),
        ({"email": None}, "email"),
        ({"first_name": "Eve"}, "first_name"),
        ({"version": 3}, "version"),
        ({}, "body"),
        # a valid change next to an invalid one: neither is written
        ({"age": 50, "email": "bad"}, "email"),
    ],
)
def test_invalid_update_names_the_field_and_writes_nothing(db: Engine, changes: dict[str, Any], field: str) -> None:
    built = build_customer()
    before = snapshot()
    with pytest.raises(InvalidInput) as err:
        update_profile(built.customer_id, changes, expected_version=1, actor="ana")
    assert err.value.field == field
    assert snapshot() == before


def test_stale_version_is_a_conflict_and_writes_nothing(db: Engine) -> None:
    built = build_customer()
    update_profile(built.customer_id, {"age": 50}, expected_version=1, actor="ana")
    before = snapshot()
    with pytest.raises(Conflict):
        update_profile(built.customer_id, {"age": 60}, expected_version=1, actor="bea")
    assert snapshot() == before


def test_chat_change_makes_the_staff_read_stale(db: Engine) -> None:
    built = build_customer()
    read = get_customer_360(built.customer_id)
    update_contact(built.customer_id, "address", "Rua Nova 5, 4000-001 Porto", channel="rest",
                   actor=f"customer:{built.customer_id}")
    with pytest.raises(Conflict):
        update_profile(built.customer_id, {"address": "Rua Velha 9, 4000-002 Porto"}, expected_version=read.version,
                       actor="ana")
    assert get_customer_360(built.customer_id).address == "Rua Nova 5, 4000-001 Porto"


def test_unknown_customer(db: Engine) -> None:
    with pytest.raises(NotFound):
        update_profile(999, {"age": 30}, expected_version=1, actor="ana")


def test_every_updatable_field_is_documented() -> None:
    assert set(UPDATABLE_FIELDS) == {"email", "phone", "address", "region", "age", "job", "marital", "education",
                                     "household_size", "children", "annual_income"}


# --- real concurrency on PostgreSQL ----------------------------------------------------------------------------

API_WRITERS = 3
CHAT_WRITERS = 3
ROUNDS = 6


@pytest.fixture
def api_clients(pg_db: Engine) -> Iterator[list[TestClient]]:
    clients = [TestClient(app) for _ in range(API_WRITERS)]
    for c in clients:
        c.__enter__()
    yield clients
    for c in clients:
        c.__exit__(None, None, None)


def test_chat_and_api_writers_never_lose_a_write(pg_db: Engine, api_clients: list[TestClient]) -> None:
    """API writers (GET the 360 for its ETag and email, then PATCH with If-Match) and chat writers (``update_contact`` as
    the action server calls it) all set the email to a value of their own, in lock-step rounds so they collide.
    Every attempt must end accepted or refused (409 / Conflict); the audit trail must be one unbroken chain in
    which each accepted write follows the previous one (old value = the previous new value), an accepted API write
    must have replaced exactly the email its writer read, and the final state must be the last accepted write."""
    built = build_customer()
    cid = built.customer_id
    initial = get_customer_360(cid).email
    barrier = threading.Barrier(API_WRITERS + CHAT_WRITERS, timeout=60)
    outcomes: list[tuple[str, str]] = []  # (value, "accepted" | "conflict")
    seen: dict[str, str] = {}  # API write -> the email its writer had read (what it meant to replace)
    errors: list[str] = []
    lock = threading.Lock()
    token = issue_staff_token("ana", "staff")

    def api_writer(n: int) -> None:
        client = api_clients[n]
        headers = {"Authorization": f"Bearer {token}"}
        for r in range(ROUNDS):
            barrier.wait()
            value = f"api-{n}-{r}@example.com"
            read = client.get(f"/customers/{cid}", headers=headers)
            etag = read.headers["ETag"]
            with lock:
                seen[value] = read.json()["email"]
            response = client.patch(f"/customers/{cid}", json={"email": value}, headers={**headers, "If-Match": etag})
            with lock:
                if response.status_code == 200:
                    outcomes.append((value, "accepted"))
                elif response.status_code == 409:
                    outcomes.append((value, "conflict"))
                else:
                    errors.append(f"api {value}: {response.status_code} {response.text}")

    def chat_writer(n: int) -> None:
        for r in range(ROUNDS):
            barrier.wait()
            value = f"chat-{n}-{r}@example.com"
            try:
                update_contact(cid, "email", value, channel="rest", actor=f"customer:{cid}")
                result = "accepted"
            except Conflict:
                result = "conflict"
            except Exception as exc:  # noqa: BLE001 - any other outcome is a failure of the test
                with lock:
                    errors.append(f"chat {value}: {type(exc).__name__}: {exc}")
                continue
            with lock:
                outcomes.append((value, result))

    threads = [threading.Thread(target=api_writer, args=(n,)) for n in range(API_WRITERS)]
    threads += [threading.Thread(target=chat_writer, args=(n,)) for n in range(CHAT_WRITERS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert not errors
    assert len(outcomes) == (API_WRITERS + CHAT_WRITERS) * ROUNDS
    accepted = [v for v, result in outcomes if result == "accepted"]
    conflicts = [v for v, result in outcomes if result == "conflict"]
    assert accepted and conflicts  # the writers did collide

    with session_scope() as s:
        chain = list(s.execute(
            select(AuditLog.old_value, AuditLog.new_value)
            .where(AuditLog.customer_id == cid, AuditLog.field == "email").order_by(AuditLog.id)))
        final = s.get(Customer, cid)
        assert final is not None
        final_email, final_version = final.email, final.version
    assert sorted(new or "" for _, new in chain) == sorted(accepted)  # every accepted write is recorded, no refused one
    previous: str | None = initial
    for old, new in chain:
        assert old == previous, "a write was based on a state that another accepted write had already replaced"
        previous = new
    # an accepted API write replaced exactly what its writer had read (optimistic locking, end to end)
    replaced = {new: old for old, new in chain}
    for value in accepted:
        if value.startswith("api-"):
            assert replaced[value] == seen[value]
    assert final_email == previous
    assert final_version == 1 + len(accepted)
