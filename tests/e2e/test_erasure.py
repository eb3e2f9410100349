"""Erasure end to end: a verified demo customer chats with the real Rasa server, the feed links the
conversation to them, an admin erases the customer through the API, and the conversation is gone from Rasa's
tracker store (in-memory over Rasa's HTTP API, or the Redis key in production mode), from the transcript store,
from the timeline and from the event broker's table.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar

import jwt
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from api.main import app
from profiles.conversation_ref import conversation_ref
from profiles.db import reset_engine, session_scope
from profiles.identity import ALGORITHM, ISSUER
from profiles.models import AuditLog, ConversationEvent, ConversationLink, Customer, Interaction
from profiles.settings import get_settings
from profiles.staff import issue_staff_token

pytestmark = pytest.mark.e2e

CUSTOMER = 291  # of the 300 seeded customers; no other e2e test uses it
DEADLINE_S = 15.0
T = TypeVar("T")


def wait_for(what: Callable[[], T], why: str, deadline_s: float = DEADLINE_S) -> T:
    t0 = time.monotonic()
    while True:
        value = what()
        if value:
            return value
        if time.monotonic() - t0 > deadline_s:
            pytest.fail(f"{why}: not within {deadline_s:.0f} s")
        time.sleep(0.2)


@pytest.fixture
def api(live_stack: Any, monkeypatch: pytest.MonkeyPatch) -> Iterator[TestClient]:
    """The API in this process, configured like the stack (Rasa URL and token, tracker store, broker)."""
    monkeypatch.setenv("RASA_URL", live_stack.rasa_url)
    monkeypatch.setenv("RASA_TOKEN", live_stack.rasa_token)
    for name, value in (("REDIS_URL", live_stack.redis_url), ("RABBITMQ_URL", live_stack.rabbitmq_url),
                        ("EVENTS_DB_URL", live_stack.events_db_url)):
        if value:
            monkeypatch.setenv(name, value)
        else:
            monkeypatch.delenv(name, raising=False)
    get_settings.cache_clear()
    reset_engine()
    with TestClient(app) as client:
        yield client
    get_settings.cache_clear()
    reset_engine()


def transcript(sender: str) -> list[ConversationEvent]:
    with session_scope() as s:
        return list(s.scalars(select(ConversationEvent).where(ConversationEvent.sender_id == sender)
                              .order_by(ConversationEvent.id)))


def spoken(tracker: dict[str, Any]) -> list[dict[str, Any]]:
    return [e for e in tracker.get("events", []) if e.get("event") in ("user", "bot")]


def test_erasing_a_customer_erases_their_conversations(live_stack: Any, api: TestClient) -> None:
    sender = f"e2e-erase-{uuid.uuid4().hex[:10]}"
    token = live_stack.token_for(CUSTOMER)
    replies = live_stack.texts(sender, "what is my balance?", token=token)
    assert any("€" in r or "EUR" in r for r in replies), replies
    tracker = live_stack.tracker(sender)
    assert spoken(tracker)

    # the feed links the conversation to the customer and stores its transcript, up to the bot's last reply
    wait_for(lambda: _linked(sender), "the feed did not link the conversation")
    wait_for(lambda: any(e.event_type == "bot" and e.customer_id == CUSTOMER for e in transcript(sender)),
             "the feed did not store the transcript")
    with session_scope() as s:
        assert s.scalars(select(Interaction).where(Interaction.sender_id == sender)).first() is not None

    admin = {"Authorization": f"Bearer {issue_staff_token('root', 'admin')}"}
    response = api.delete(f"/customers/{CUSTOMER}", headers=admin)
    assert response.status_code == 200, response.text
    body = response.json()
    method = "redis" if live_stack.redis_url else "rasa_api"
    assert body["conversations"] == [{"conversation": conversation_ref(sender), "erased": True, "method": method,
                                      "error": None}]
    assert sender not in response.text  # conversations by opaque id only
    assert body["complete"] is True
    record = api.get(f"/erasures/{body['erasure_id']}", headers=admin).json()  # the erasure record, completed
    assert (record["customer_id"], record["complete"]) == (CUSTOMER, True)
    assert [c["conversation"] for c in record["conversations"]] == [conversation_ref(sender)] and record["conversations"][0]["erased_at"]
    assert body["deleted"]["customers"] == 1 and body["deleted"]["conversation_events"] >= 2
    if live_stack.events_db_url:  # embedded mode: events the feed had not consumed yet go too (none left here)
        assert body["broker_events_deleted"] == 0
    else:  # RabbitMQ: consumed messages are not kept
        assert body["broker_events_deleted"] is None

    # Rasa's tracker: nothing of the conversation is left (a GET opens a fresh, empty session)
    after = live_stack.tracker(sender)
    assert spoken(after) == []
    assert after["slots"].get("owner") is None
    assert after.get("latest_message", {}).get("text") in (None, "")

    # the CRM: no customer, no link, no timeline; the transcript holds nothing said (only, at most, the new
    # empty session Rasa opened for the GET above)
    live_stack.wait_feed_drained()  # anything still in flight in the feed is stored by now
    with session_scope() as s:
        assert s.get(Customer, CUSTOMER) is None
        assert s.get(ConversationLink, sender) is None
        assert s.scalars(select(Interaction).where(Interaction.sender_id == sender)).first() is None
        erasure = s.scalars(select(AuditLog).where(AuditLog.field == "erasure",
                                                   AuditLog.entity_id == CUSTOMER)).one()
        assert erasure.customer_id is None and "balance" not in (erasure.new_value or "")
    left = transcript(sender)
    assert all(e.customer_id is None and not e.text and e.event_type not in ("user", "bot") for e in left), [
        (e.event_type, e.text) for e in left]

    # the same conversation id can still be used by someone else afterwards
    assert live_stack.texts(sender, "hello")


def _linked(sender: str) -> bool:
    with session_scope() as s:
        link = s.get(ConversationLink, sender)
        return link is not None and link.customer_id == CUSTOMER


EXPIRED_CUSTOMER = 293  # of the 300 seeded customers; no other e2e test uses it


def _expired_token(customer_id: int) -> str:
    """A genuine token of the customer (the servers' secret) that expired an hour ago."""
    now = datetime.now(UTC)
    claims = {"sub": str(customer_id), "iat": now - timedelta(hours=2), "exp": now - timedelta(hours=1),
              "iss": ISSUER}
    return jwt.encode(claims, get_settings().jwt_secret, algorithm=ALGORITHM)


def _sqlite_files(url: str | None) -> list[Path]:
    if not url or not url.startswith("sqlite:///"):
        return []
    db = Path(url.removeprefix("sqlite:///"))
    return [p for p in (db, db.with_name(db.name + "-wal")) if p.exists()]


def test_erasure_finds_a_conversation_by_an_expired_token_and_leaves_nothing_in_the_files(
    live_stack: Any, api: TestClient
) -> None:
    """A conversation whose token had expired was never linked to the customer; it still carried their
    identity, so the erasure removes it: tracker, transcript, and (SQLite) the bytes of both database files."""
    sender = f"e2e-erase-old-{uuid.uuid4().hex[:10]}"
    email = f"erase.me.{uuid.uuid4().hex[:8]}@example.org"
    expired = _expired_token(EXPIRED_CUSTOMER)
    live_stack.texts(sender, "what is my balance?", token=expired)
    live_stack.texts(sender, f"my email is {email}", token=expired)
    wait_for(lambda: any(email in (e.text or "") for e in transcript(sender)),
             "the feed did not store the message with the e-mail address")
    with session_scope() as s:
        assert s.get(ConversationLink, sender) is None  # an expired token never links
    files = _sqlite_files(live_stack.database_url) + _sqlite_files(live_stack.events_db_url)

    admin = {"Authorization": f"Bearer {issue_staff_token('root', 'admin')}"}
    response = api.delete(f"/customers/{EXPIRED_CUSTOMER}", headers=admin)
    assert response.status_code == 200, response.text
    body = response.json()
    assert [(c["conversation"], c["erased"]) for c in body["conversations"]] == [(conversation_ref(sender), True)], body
    assert body["complete"] is True

    assert spoken(live_stack.tracker(sender)) == []
    live_stack.wait_feed_drained()  # anything still in flight in the feed is stored by now
    left = transcript(sender)
    assert all(not e.text and e.event_type not in ("user", "bot") for e in left), [(e.event_type, e.text)
                                                                                  for e in left]
    # SQLite: vacuumed and checkpointed, so the e-mail is not in free pages or WAL frames either
    for path in files:
        if path.exists():
            assert email.encode() not in path.read_bytes(), f"the erased e-mail is still in {path}"
