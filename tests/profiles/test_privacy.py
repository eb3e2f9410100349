"""Export of all data held on a customer, and erasure (both database backends)."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest
from sqlalchemy import Engine, create_engine, func, select, text

from profiles.db import session_scope
from profiles.errors import NotFound
from profiles.models import AccessLog, AuditLog, Base, Customer, Erasure, ErasureConversation
from profiles.privacy import (
    broker_senders,
    erase_broker_events,
    erase_customer,
    export_customer,
    get_erasure,
    list_erasures,
    record_conversation_outcomes,
)
from tests.profiles.conftest import snapshot
from tests.profiles.rich_customer import build_rich_customer


def _tables_about_customers() -> set[str]:
    """Every table with a customer_id column or a foreign key to customers."""
    names = set()
    for table in Base.metadata.sorted_tables:
        if table.name in ("customers", "erasures"):  # erasures: the record that an erasure happened (no personal data)
            continue
        if "customer_id" in table.c or any(fk.column.table.name == "customers" for fk in table.foreign_keys):
            names.add(table.name)
    return names


def test_export_holds_every_table_about_the_customer(db: Engine) -> None:
    rich = build_rich_customer()
    other = build_rich_customer(tag="-other")
    data = export_customer(rich.built.customer_id)

    # every table that references a customer is in the export (a new such table must be added to privacy.py)
    assert _tables_about_customers() <= set(data)
    counts = {k: len(v) for k, v in data.items() if isinstance(v, list)}
    assert counts == {
        "accounts": 2, "transactions": 2, "transfers": 1, "payees": 1, "cards": 2, "loans": 1,
        "insurance_policies": 1, "consents": 1, "contact_points": 2, "interactions": 4, "conversation_links": 1,
        "conversation_events": 2,  # also the event before the conversation was linked (no customer id yet)
        "customer_scores": 1, "offer_events": 1, "handoff_requests": 1, "audit_log": 1, "access_log": 1,
        "messenger_links": 1, "link_codes": 1, "push_deliveries": 1,
        "conversation_reviews": 0, "conversation_tags": 0, "conversation_notes": 0, "campaign_deliveries": 0,
        "nlu_annotations": 0,
        "card_payments": 0,
    }
    assert data["customer"]["id"] == rich.built.customer_id and data["customer"]["age"] == 40
    assert data["format"] == "atlantic-bank-customer-export/1"
    dumped = json.dumps(data, ensure_ascii=False)  # JSON-able as it is
    # numbers masked; money exact as text
    for number in (rich.built.current_number, rich.built.payee_iban, rich.built.card_number, rich.credit_card_number):
        assert number not in dumped
    assert "•••• " + rich.built.current_number[-4:] in dumped
    assert {"90000.00", "150000.00"} <= {data["loans"][0]["outstanding"], data["loans"][0]["principal"]}
    # nothing of the other customer
    assert other.sender_id not in dumped and other.messenger_id not in dumped and "•••• " + other.built.current_number[-4:] not in dumped


def test_export_of_unknown_customer(db: Engine) -> None:
    with pytest.raises(NotFound):
        export_customer(999)


def _rows_referencing(customer_id: int, sender: str) -> dict[str, int]:
    with session_scope() as s:
        out = {}
        for name in sorted(_tables_about_customers()):
            table = Base.metadata.tables[name]
            if "customer_id" in table.c:
                out[name] = int(s.scalar(select(func.count()).select_from(table)
                                         .where(table.c.customer_id == customer_id)) or 0)
            if "sender_id" in table.c:
                out[f"{name}.sender"] = int(s.scalar(
                    select(func.count()).select_from(table).where(table.c.sender_id == sender)) or 0)
        out["customers"] = int(s.scalar(select(func.count()).where(Customer.id == customer_id)) or 0)
        return out


def test_erasure_removes_everything_and_records_that_it_happened(db: Engine) -> None:
    rich = build_rich_customer()
    other = build_rich_customer(tag="-other")
    cid = rich.built.customer_id
    other_before = _rows_referencing(other.built.customer_id, other.sender_id)
    export_before = export_customer(other.built.customer_id)

    result = erase_customer(cid, actor="root")

    assert result.sender_ids == tuple(sorted((rich.sender_id, rich.messenger_id)))  # web chat and Telegram
    assert result.deleted["customers"] == 1 and result.deleted["transactions"] == 2
    assert result.deleted["conversation_events"] == 2 and result.deleted["audit_log"] == 1
    for sender in (rich.sender_id, rich.messenger_id):
        left = _rows_referencing(cid, sender)
        assert left.pop("access_log") == 1  # the record of staff reads outlives the customer
        assert set(left.values()) == {0}, left
    # the other customer is untouched
    assert _rows_referencing(other.built.customer_id, other.sender_id) == other_before
    after = export_customer(other.built.customer_id)
    assert {k: v for k, v in after.items() if k != "exported_at"} == {
        k: v for k, v in export_before.items() if k != "exported_at"}
    # one audit row says the erasure happened, with no personal data
    with session_scope() as s:
        audit = s.scalars(select(AuditLog).where(AuditLog.field == "erasure")).one()
        assert (audit.customer_id, audit.entity, audit.entity_id, audit.actor, audit.channel) == (
            None, "customer", cid, "staff:root", "staff_api")
        assert audit.id == result.audit_id
        text_of_audit = f"{audit.old_value} {audit.new_value}"
        for personal in ("Test", "Customer", "@example.com", rich.sender_id, rich.built.current_number[-4:]):
            assert personal not in text_of_audit
        assert s.scalar(select(func.count()).select_from(AccessLog).where(AccessLog.customer_id == cid)) == 1


def test_erasing_an_unknown_customer_writes_nothing(db: Engine) -> None:
    build_rich_customer()
    before = snapshot()
    with pytest.raises(NotFound):
        erase_customer(999, actor="root")
    assert snapshot() == before


def test_erased_customer_is_gone_for_every_service(db: Engine) -> None:
    rich = build_rich_customer()
    erase_customer(rich.built.customer_id, actor="root")
    with pytest.raises(NotFound):
        export_customer(rich.built.customer_id)
    with pytest.raises(NotFound):
        erase_customer(rich.built.customer_id, actor="root")


def test_broker_events_of_the_conversations_are_deleted(
    db: Engine, tmp_path: Path, override_settings: Callable[..., None]
) -> None:
    events_url = f"sqlite:///{tmp_path / 'events.db'}"
    override_settings(events_db_url=events_url, rabbitmq_url="")
    engine = create_engine(events_url)
    with engine.begin() as conn:  # the table Rasa's SQL event broker writes (rasa/core/brokers/sql.py)
        conn.execute(text("CREATE TABLE events (id INTEGER PRIMARY KEY, sender_id VARCHAR(255), data TEXT)"))
        conn.execute(text("INSERT INTO events (sender_id, data) VALUES ('a', '{}'), ('a', '{}'), ('b', '{}'), "
                          "('c', '{}')"))
    assert erase_broker_events(["a", "b", "x"]) == 3
    with engine.connect() as conn:
        assert conn.execute(text("SELECT sender_id FROM events")).scalars().all() == ["c"]
    engine.dispose()
    assert erase_broker_events([]) is None


def test_unconsumed_broker_events_are_found_by_the_token_subject_expired_or_not(
    db: Engine, tmp_path: Path, override_settings: Callable[..., None]
) -> None:
    """A conversation whose events the feed has not consumed yet is found by the customer its tokens name: a
    live token, an expired one (same secret), never a forged one or another customer's."""
    from datetime import UTC, datetime, timedelta

    import jwt

    from profiles.identity import ALGORITHM, ISSUER, issue_token
    from profiles.settings import get_settings

    events_url = f"sqlite:///{tmp_path / 'events.db'}"
    override_settings(events_db_url=events_url, rabbitmq_url="")
    now = datetime.now(UTC)
    expired = jwt.encode({"sub": "7", "iat": now - timedelta(hours=2), "exp": now - timedelta(hours=1),
                          "iss": ISSUER}, get_settings().jwt_secret, algorithm=ALGORITHM)
    forged = jwt.encode({"sub": "7", "iss": ISSUER, "exp": now + timedelta(hours=1)}, "not-our-secret-" * 4,
                        algorithm=ALGORITHM)

    def user_event(token: str) -> str:
        return json.dumps({"event": "user", "text": "hi", "metadata": {"token": token}})

    engine = create_engine(events_url)
    with engine.begin() as conn:  # the table Rasa's SQL event broker writes (rasa/core/brokers/sql.py)
        conn.execute(text("CREATE TABLE events (id INTEGER PRIMARY KEY, sender_id VARCHAR(255), data TEXT)"))
        conn.execute(text("INSERT INTO events (sender_id, data) VALUES (:s, :d)"), [
            {"s": "live", "d": user_event(issue_token(7))}, {"s": "old", "d": user_event(expired)},
            {"s": "forged", "d": user_event(forged)}, {"s": "other", "d": user_event(issue_token(8))},
            {"s": "plain", "d": json.dumps({"event": "bot", "text": "7"})}])
    engine.dispose()
    assert broker_senders(7) == {"live", "old"}
    assert broker_senders(8) == {"other"}


def test_no_broker_table_means_nothing_to_erase(
    db: Engine, tmp_path: Path, override_settings: Callable[..., None]
) -> None:
    override_settings(events_db_url=f"sqlite:///{tmp_path / 'missing.db'}", rabbitmq_url="")
    assert erase_broker_events(["a"]) is None
    assert not (tmp_path / "missing.db").exists()
    override_settings(rabbitmq_url="amqp://guest:guest@127.0.0.1:5672/%2F")
    assert erase_broker_events(["a"]) is None


def test_erasure_is_recorded_in_the_same_transaction_and_completed_conversation_by_conversation(db: Engine) -> None:
    rich = build_rich_customer()
    cid = rich.built.customer_id
    with session_scope(write=True) as s:
        s.get(Customer, cid).source_row = 17  # type: ignore[union-attr]
    result = erase_customer(cid, actor="root")
    with session_scope() as s:
        erasure = s.scalars(select(Erasure)).one()
        assert (erasure.id, erasure.customer_id, erasure.source_row, erasure.actor, erasure.completed_at) == (
            result.erasure_id, cid, 17, "staff:root", None)
        senders = s.scalars(select(ErasureConversation.sender_id).order_by(ErasureConversation.sender_id)).all()
        assert tuple(senders) == result.sender_ids
    assert [e.id for e in list_erasures(pending=True)] == [result.erasure_id]
    first, second = result.sender_ids
    view = record_conversation_outcomes(result.erasure_id, [(first, True, None), (second, False, "Rasa down")])
    assert view.completed_at is None and view.pending == (second,)
    assert [(c.sender_id, c.erased_at is not None, c.last_error) for c in view.conversations] == [
        (first, True, None), (second, False, "Rasa down")]
    # a later failure does not undo an erased conversation; the last one completes the erasure
    view = record_conversation_outcomes(result.erasure_id, [(first, False, "x"), (second, True, None)])
    assert view.completed_at is not None and view.pending == ()
    assert get_erasure(result.erasure_id) == view
    assert list_erasures(pending=True) == [] and [e.id for e in list_erasures(pending=False)] == [result.erasure_id]
    with pytest.raises(NotFound):
        get_erasure(result.erasure_id + 1)
    with pytest.raises(NotFound):
        record_conversation_outcomes(result.erasure_id + 1, [(first, True, None)])


def test_export_leaves_out_another_customers_turns_in_a_reused_conversation(db: Engine) -> None:
    """A conversation id reused with another customer's token (the feed re-links it to them): each customer's
    export holds their own turns only; the erasure of either still removes the whole conversation."""
    from datetime import UTC, datetime

    from profiles.models import ConversationEvent, ConversationLink

    first = build_rich_customer()
    second = build_rich_customer(tag="-second")
    with session_scope() as s:  # the second customer wrote in the first one's conversation, which now links to them
        s.add(ConversationEvent(event_key="reused-1", sender_id=first.sender_id, customer_id=second.built.customer_id,
                                event_type="user", timestamp=datetime.now(UTC), channel="rest", text="yes (second)",
                                data={"event": "user", "text": "yes (second)"}))
        link = s.get(ConversationLink, first.sender_id)
        assert link is not None
        link.customer_id = second.built.customer_id
    mine = export_customer(second.built.customer_id)
    texts = {e["text"] for e in mine["conversation_events"]}
    assert "yes (second)" in texts
    assert first.built.customer_id not in {e["customer_id"] for e in mine["conversation_events"]}, texts
    theirs = export_customer(first.built.customer_id)
    assert "yes (second)" not in {e["text"] for e in theirs["conversation_events"]}
