"""The feed's translation of Rasa events into the CRM, on real event JSON and the real database (both backends).

``test_feed_events.json`` holds the 100 events Rasa 3.6.21 published through its SQL event broker for this
conversation with our trained model (captured from a real run; JWTs replaced by ``<TOKEN>``, owner slot = 1):

- ``cap-anon``: "hello", "I just got married", "what is my balance" with a forged token (never verified);
- ``cap-cust``: "hi there" without a token, then with a valid token: transfer (owner slot set), cancel,
  "we just had a baby girl", "I'd like to open a savings account", a complaint with a card number (NLU:
  inform), "I just got married", "I retired last month";
- ``cap-tok``: "hello" with a valid token (no action ever sets the owner slot).
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import jwt
import pytest
from sqlalchemy import Engine, select

from profiles.bot_analytics import AnalyticsRange, bot_analytics
from profiles.conversations import ConversationFilters, list_conversations
from profiles.db import session_scope
from profiles.feed import FeedStats, event_key, parse_event, process_batch, strip_credentials
from profiles.feed.consumer import Delivery, rasa_broker_env
from profiles.feed.translate import InvalidEvent
from profiles.identity import identity_claim, issue_token, messenger_proof
from profiles.models import (
    AuditLog,
    ContactPoint,
    ConversationEvent,
    ConversationLink,
    Customer,
    Interaction,
    utcnow,
)
from profiles.privacy import export_customer
from profiles.sealing import seal_owner
from profiles.settings import get_settings
from tests.profiles.conftest import Built

CAPTURE = Path(__file__).with_name("test_feed_events.json")
ANON, CUST, TOK = "cap-anon", "cap-cust", "cap-tok"


def captured(customer_id: int, *, tokens: bool = True) -> list[dict[str, Any]]:
    """The captured events, with the identity claim of a valid token of ``customer_id`` (or none) where the
    capture had a token, and the owner slot naming it."""
    events: list[dict[str, Any]] = json.loads(CAPTURE.read_text())
    token = issue_token(customer_id)
    for e in events:
        for holder in (e.get("metadata"), e.get("value") if e.get("name") == "session_started_metadata" else None):
            if isinstance(holder, dict) and "token" in holder:
                # what the web channel passes on instead of the token (bot/identity_claim.py): its claim, if any
                captured_token = holder.pop("token")
                claim = identity_claim(token if captured_token == "<TOKEN>" else captured_token, e["sender_id"])
                if tokens and claim is not None:
                    holder["identity"] = claim
        if e["event"] == "slot" and e.get("name") == "owner" and e.get("value") == "1":
            e["value"] = seal_owner(e["sender_id"], customer_id)  # as the action server sets it
    return events


def deliver(events: list[dict[str, Any]]) -> FeedStats:
    return process_batch([Delivery(i, json.dumps(e)) for i, e in enumerate(events, 1)])


def user_event(sender: str, text: str, *, intent: str = "greet", confidence: float = 0.97,
               entities: list[dict[str, Any]] | None = None, channel: str = "rest", token: str | None = None,
               at: float | None = None) -> dict[str, Any]:
    """A user event shaped like the captured ones."""
    template = next(e for e in json.loads(CAPTURE.read_text()) if e["event"] == "user")
    e = copy.deepcopy(template)
    e.update(sender_id=sender, text=text, input_channel=channel, timestamp=at or utcnow().timestamp())
    claim = identity_claim(token, sender)  # the channel's stand-in for the token (bot/identity_claim.py)
    e["metadata"] = {"identity": claim} if claim else {}
    if channel in ("telegram", "facebook"):  # the messenger connector's proof that it received the message
        e["metadata"]["channel_proof"] = messenger_proof(channel, sender)
    e["parse_data"].update(
        text=text, intent={"name": intent, "confidence": confidence},
        entities=[{"entity": k["entity"], "value": k["value"], "start": 0, "end": 1} for k in entities or []],
    )
    e["message_id"] = f"m-{sender}-{text}-{e['timestamp']}"
    return e


def rows(model: Any, **where: Any) -> list[Any]:
    with session_scope() as s:
        q = select(model)
        for k, v in where.items():
            q = q.where(getattr(model, k) == v)
        return list(s.scalars(q.order_by(model.id if hasattr(model, "id") else model.sender_id)))


def customer(cid: int) -> Customer:
    with session_scope() as s:
        c = s.get(Customer, cid)
        assert c is not None
        return c


def audits(cid: int) -> list[tuple[str, str | None, str | None]]:
    return [(a.field, a.old_value, a.new_value) for a in rows(AuditLog, customer_id=cid)]


def test_captured_conversation_lands_in_transcript_timeline_and_profile(alice: Built) -> None:
    cid = alice.customer_id
    events = captured(cid)
    stats = deliver(events)

    assert (stats.events, stats.stored, stats.duplicates, stats.invalid) == (100, 100, 0, 0)
    stored = rows(ConversationEvent)
    assert len(stored) == 100
    # Transcript: no credential anywhere (message metadata, session_started_metadata slot, forged one too).
    dumped = json.dumps([r.data for r in stored])
    assert '"token"' not in dumped and "eyJ" not in dumped and "forged.token.value" not in dumped
    # Anonymous chat: transcript only.
    assert {r.customer_id for r in stored if r.sender_id == ANON} == {None}
    assert rows(Interaction, sender_id=ANON) == []
    # cap-cust linked by the first valid token, its earlier events ("hi there", session start) back-filled.
    assert {r.customer_id for r in stored if r.sender_id in (CUST, TOK)} == {cid}
    links = {link.sender_id: link.customer_id for link in rows(ConversationLink)}
    assert links == {CUST: cid, TOK: cid}

    inbound = [i for i in rows(Interaction, customer_id=cid, kind="chat_message") if i.direction == "inbound"]
    expected_texts = [e["text"] for e in events if e["event"] == "user" and e["sender_id"] in (CUST, TOK)]
    assert len(inbound) == len(expected_texts) == 9
    assert inbound[0].summary == "hi there" and inbound[0].details["intent"] == "greet"
    # Card numbers typed by the customer are masked in the timeline and in the transcript.
    complaint = next(i for i in inbound if "service is terrible" in i.summary)
    assert "•••• 6467" in complaint.summary and "4539" not in complaint.summary
    assert "4539 1488" not in json.dumps([r.data for r in stored]) + "".join(r.text or "" for r in stored)
    outbound = [i for i in rows(Interaction, customer_id=cid, kind="chat_message") if i.direction == "outbound"]
    assert any(i.summary.startswith("Congratulations on your new baby") for i in outbound)
    assert all(i.actor == "bot" for i in outbound) and all(i.actor == f"customer:{cid}" for i in inbound)

    # What the messages told us.
    life = rows(Interaction, customer_id=cid, kind="life_event")
    assert [i.details["life_event"] for i in life] == ["new_baby", "married", "retired"]
    interest = rows(Interaction, customer_id=cid, kind="product_interest")
    assert [i.details["product"] for i in interest] == ["savings_account"]
    after = customer(cid)
    assert (after.marital, after.children, after.household_size, after.job) == ("married", 1, None, "retired")
    assert after.preferred_channel == "rest"
    assert audits(cid) == [
        ("children", None, "1"),
        ("marital", "single", "married"),
        ("job", "technician", "retired"),
        ("preferred_channel", None, "rest"),
    ]
    (point,) = rows(ContactPoint, customer_id=cid)
    assert (point.channel, point.address, point.message_count) == ("rest", None, 9)


def test_same_events_twice_change_nothing(alice: Built) -> None:
    events = captured(alice.customer_id)
    deliver(events)
    before = (len(rows(ConversationEvent)), len(rows(Interaction)), audits(alice.customer_id),
              rows(ContactPoint)[0].message_count, customer(alice.customer_id).version)

    again = deliver(events)  # a redelivered batch
    one_more = deliver([events[10]])  # and a single redelivered event

    assert (again.duplicates, again.stored, one_more.duplicates) == (100, 0, 1)
    after = (len(rows(ConversationEvent)), len(rows(Interaction)), audits(alice.customer_id),
             rows(ContactPoint)[0].message_count, customer(alice.customer_id).version)
    assert after == before


def test_owner_slot_links_a_conversation_without_tokens(alice: Built) -> None:
    cid = alice.customer_id
    events = [e for e in captured(cid, tokens=False) if e["sender_id"] == CUST]
    deliver(events)

    assert {link.sender_id: link.customer_id for link in rows(ConversationLink)} == {CUST: cid}
    texts = [i.summary for i in rows(Interaction, customer_id=cid, kind="chat_message") if i.direction == "inbound"]
    assert texts[:2] == ["hi there", "I want to transfer money"]  # before the slot was set: back-filled
    assert customer(cid).marital == "married"


def test_token_of_another_customer_relinks_from_then_on(alice: Built, bob: Built) -> None:
    a, b = alice.customer_id, bob.customer_id
    t0 = utcnow().timestamp()
    deliver([
        user_event("shared", "hello", token=issue_token(a), at=t0),
        user_event("shared", "anything new?", at=t0 + 1),  # no token: still the linked customer
        user_event("shared", "hi, it's me now", token=issue_token(b), at=t0 + 2),
    ])
    assert [i.summary for i in rows(Interaction, customer_id=a)] == ["hello", "anything new?"]
    assert [i.summary for i in rows(Interaction, customer_id=b)] == ["hi, it's me now"]
    assert rows(ConversationLink)[0].customer_id == b


def test_invalid_or_forged_identity_never_links(alice: Built) -> None:
    past = int(utcnow().timestamp()) - 7200
    claims = {"sub": str(alice.customer_id), "iat": past, "exp": past + 60, "iss": "atlantic-bank"}
    expired = jwt.encode(claims, get_settings().jwt_secret, algorithm="HS256")
    forged = jwt.encode({**claims, "exp": past + 99_999}, "not-our-secret-0123456789abcdef0123", algorithm="HS256")
    deliver([
        user_event("anon-0", "hello", token=expired),
        user_event("anon-5", "hello", token=forged),
        user_event("anon-1", "hello", token="not-a-jwt"),
        user_event("anon-2", "hello", token=issue_token(999_999)),  # no such customer
        {**user_event("anon-3", "x"), "event": "slot", "name": "owner", "value": "999999"},
        {**user_event("anon-4", "x"), "event": "slot", "name": "owner", "value": "-1"},
        # an unsealed owner, and one sealed for another conversation (profiles.sealing)
        {**user_event("anon-6", "x"), "event": "slot", "name": "owner", "value": str(alice.customer_id)},
        {**user_event("anon-7", "x"), "event": "slot", "name": "owner", "value": seal_owner("anon-6", alice.customer_id)},
    ])
    assert rows(ConversationLink) == [] and rows(Interaction) == []
    assert len(rows(ConversationEvent)) == 8  # all in the transcript store, none linked


def test_payloads_that_are_not_events_are_skipped_without_writing(db: Engine) -> None:
    stats = process_batch([
        Delivery(1, b"not json"), Delivery(2, "[1, 2]"), Delivery(3, '{"event": "user"}'),
        Delivery(4, '{"sender_id": "x"}'), Delivery(5, b"\xff\xfe"),
    ])
    assert (stats.invalid, stats.stored) == (5, 0)
    assert rows(ConversationEvent) == []
    with pytest.raises(InvalidEvent):
        parse_event('{"event": "", "sender_id": "x"}')


def test_new_baby_grows_a_known_household_and_low_confidence_changes_nothing(make_customer: Callable[..., Built], db: Engine) -> None:
    cid = make_customer().customer_id
    with session_scope(write=True) as s:
        c = s.get(Customer, cid)
        assert c is not None
        c.children, c.household_size = 1, 3
    token = issue_token(cid)
    baby = [{"entity": "life_event", "value": "new_baby"}]
    deliver([
        user_event("fam", "we had a baby", intent="inform_life_event", entities=baby, token=token),
        user_event("fam", "maybe married?", intent="inform_life_event", confidence=0.35,
                   entities=[{"entity": "life_event", "value": "married"}], token=token),
        user_event("fam", "I got a new job", intent="inform_life_event", entities=[{"entity": "life_event", "value": "new_job"}]),
        user_event("fam", "I want to make a complaint", intent="complain"),
    ])
    after = customer(cid)
    assert (after.children, after.household_size, after.marital) == (2, 4, "single")
    assert [(f, o, n) for f, o, n in audits(cid) if f != "preferred_channel"] == [
        ("children", "1", "2"), ("household_size", "3", "4"),
    ]
    life = rows(Interaction, customer_id=cid, kind="life_event")
    assert [(i.details["life_event"], i.details["profile_changes"] != []) for i in life] == [
        ("new_baby", True), ("married", False), ("new_job", False),
    ]
    (complaint,) = rows(Interaction, customer_id=cid, kind="complaint")
    assert complaint.summary == "I want to make a complaint" and complaint.direction == "inbound"


def test_preferred_channel_is_the_most_used_over_90_days(alice: Built) -> None:
    cid = alice.customer_id
    token = issue_token(cid)
    old = (utcnow() - timedelta(days=120)).timestamp()
    now = utcnow().timestamp()
    deliver([user_event("web-1", f"old {n}", token=token, at=old + n) for n in range(5)])  # 5 old web messages
    deliver([user_event("web-1", "hi", token=token, at=now)])
    assert customer(cid).preferred_channel == "rest"
    from profiles.linking import issue_link_code, redeem_link_code

    redeem_link_code("telegram", "4242", issue_link_code(cid))  # Telegram identity = a linked account
    deliver([user_event("4242", f"tg {n}", channel="telegram", at=now + n) for n in range(2)])

    assert customer(cid).preferred_channel == "telegram"  # 2 vs 1 in the last 90 days
    assert [a for a in audits(cid) if a[0] == "preferred_channel"] == [
        ("preferred_channel", None, "rest"), ("preferred_channel", "rest", "telegram"),
    ]
    points = {(p.channel, p.address): p.message_count for p in rows(ContactPoint, customer_id=cid)}
    assert points == {("rest", None): 6, ("telegram", "4242"): 2}


def test_event_key_ignores_credentials_and_is_stable() -> None:
    e = user_event("s", "hello", token="secret-token-1")
    same_but_other_token = {**e, "metadata": {"token": "secret-token-2"}}
    assert event_key(e) == event_key(same_but_other_token) and len(event_key(e)) == 64
    assert event_key(e) != event_key({**e, "timestamp": e["timestamp"] + 1})
    assert strip_credentials({"a": [{"Token": 1, "b": {"password": 2, "c": 3}}]}) == {"a": [{"b": {"c": 3}}]}


def test_rasa_broker_env_from_rabbitmq_url() -> None:
    assert rasa_broker_env("amqp://guest:guest@127.0.0.1:5672/%2F", "q") == {
        "RABBITMQ_HOST": "127.0.0.1", "RABBITMQ_PORT": "5672", "RABBITMQ_USERNAME": "guest",
        "RABBITMQ_PASSWORD": "guest", "RABBITMQ_QUEUE": "q", "RABBITMQ_EXCHANGE": "rasa-exchange",
    }
    assert rasa_broker_env("amqp://h", "q", "mine.exchange")["RABBITMQ_EXCHANGE"] == "mine.exchange"
    assert rasa_broker_env("amqp://nova:p%40ss@mq.internal", "events")["RABBITMQ_PASSWORD"] == "p@ss"
    for bad in ("amqps://u:p@h/%2F", "amqp://u:p@h:5672/bank", "redis://h", "amqp:///%2F"):
        with pytest.raises(ValueError):
            rasa_broker_env(bad, "q")
    with pytest.raises(ValueError):
        rasa_broker_env("amqp://h", "q", " ")



def test_linked_messenger_account_links_its_conversation_until_unlinked(alice: Built) -> None:
    from profiles.linking import issue_link_code, redeem_link_code, unlink

    cid = alice.customer_id
    telegram_user = "55501234"
    redeem_link_code("telegram", telegram_user, issue_link_code(cid))
    t0 = utcnow().timestamp()
    deliver([
        user_event(telegram_user, "hi from telegram", channel="telegram", at=t0),
        # On a messenger channel a token proves nothing more than the link: it is not used.
        user_event("55509999", "not linked", channel="telegram", token=issue_token(cid), at=t0 + 1),
    ])
    assert [i.summary for i in rows(Interaction, customer_id=cid)] == ["hi from telegram"]
    (point,) = rows(ContactPoint, customer_id=cid)
    assert (point.channel, point.address) == ("telegram", telegram_user)

    unlink("telegram", telegram_user)
    deliver([user_event(telegram_user, "after the unlink", channel="telegram", at=t0 + 2)])
    assert [i.summary for i in rows(Interaction, customer_id=cid)] == ["hi from telegram"]
    assert rows(ConversationLink) == []
    assert [e.customer_id for e in rows(ConversationEvent, sender_id=telegram_user)] == [cid, None]


def test_a_proactive_push_is_not_a_customer_message(alice: Built) -> None:
    """trigger_intent's external user event and the push utterance stay in the transcript only: the push is on
    the timeline once, as the campaign_message profiles.push.record_delivery writes."""
    cid = alice.customer_id
    token = issue_token(cid)
    deliver([user_event(CUST, "hello", token=token)])
    external = user_event(CUST, "EXTERNAL: EXTERNAL_reminder", intent="EXTERNAL_reminder")
    external["metadata"] = {"is_external": True}
    bot = {"event": "bot", "timestamp": utcnow().timestamp(), "text": "A reminder from Atlantic Bank",
           "data": {}, "metadata": {"utter_action": "utter_push_reminder"}, "sender_id": CUST}
    stats = deliver([external, bot])
    assert stats.stored == 2
    summaries = [i.summary for i in rows(Interaction, customer_id=cid, kind="chat_message")]
    assert "hello" in summaries
    assert not any("EXTERNAL" in s or "reminder" in s for s in summaries)
    points = rows(ContactPoint, customer_id=cid)
    assert [p.message_count for p in points] == [1]


def _deep(levels: int) -> str:
    return '{"a":' * levels + "1" + "}" * levels


@pytest.mark.parametrize("levels", [100, 3000], ids=["under-the-parser-limit", "over-the-parser-limit"])
def test_a_deeply_nested_event_is_dropped_with_one_line(db: Engine, caplog: pytest.LogCaptureFixture,
                                                         levels: int) -> None:
    """3,000 levels made strip_credentials overflow the stack; the feed logged ~3,000 traceback lines."""
    event = json.dumps(user_event("deep-1", "hi"))
    deep = event[:-1] + ', "metadata": ' + _deep(levels) + "}"
    with caplog.at_level("INFO", logger="profiles.feed"):
        stats = process_batch([Delivery(1, deep), Delivery(2, event)])
    assert (stats.invalid, stats.stored) == (1, 1)  # the deep one skipped, the next one stored
    text = caplog.text
    assert "Traceback" not in text and len(text.splitlines()) <= 3, text[:2000]
    assert "nested" in text


def test_a_lone_surrogate_is_stored_escaped_not_dropped(db: Engine) -> None:
    """JSON "\\ud800" decodes to a string neither PostgreSQL nor SQLite can store: the message was lost."""
    payload = json.dumps(user_event("surrogate-1", "hello \ud800 there"))  # json.dumps writes \ud800 escaped
    stats = process_batch([Delivery(1, payload)])
    assert stats.stored == 1
    [row] = rows(ConversationEvent, sender_id="surrogate-1")
    assert row.text == "hello \\ud800 there"
    assert row.data["parse_data"]["text"] == "hello \\ud800 there"


def test_a_nul_character_is_stored_escaped_and_the_staff_reads_keep_working(db: Engine, alice: Built) -> None:
    """One message with a NUL in its metadata (stored as JSON "\\u0000") made every later read of the events'
    JSON on PostgreSQL fail: the staff inbox, analytics, export and erasure answered 500. A NUL in the text was
    refused by PostgreSQL and the customer's words dropped from the transcript."""
    event = user_event("nul-1", "hello\x00 there")
    event["metadata"] = {"x": "\x00", "k\x00": 1}
    stats = process_batch([Delivery(1, json.dumps(event))])
    assert stats.stored == 1
    [row] = rows(ConversationEvent, sender_id="nul-1")
    assert row.text == "hello\\x00 there"
    assert row.data["metadata"] == {"x": "\\x00", "k\\x00": 1}
    page = list_conversations(ConversationFilters(), staff="staff:test", role="admin")
    assert page.total >= 1 and page.items
    today = datetime.now(UTC).date()
    assert bot_analytics(AnalyticsRange(today - timedelta(days=1), today + timedelta(days=1))).conversations >= 1
    export_customer(alice.customer_id)  # looks the customer's conversations up in the events' JSON


def test_entities_read_out_of_a_card_or_iban_number_are_masked_too(db: Engine) -> None:
    # A card typed in groups is four amount entities of four digits each: masking only the text left the whole
    # number in parse_data.entities (shown by the transcript view and the annotation inbox).
    text = "my card 4539 1488 0343 6467 and iban PT50000201231234567890154, send 20"
    event = user_event("cap-card", text, intent="inform")
    event["message_id"] = "m-card"  # as Rasa's (a uuid), not the helper's text-bearing one
    iban_digits = text.index("5000")
    event["parse_data"]["entities"] = [
        *({"entity": "amount", "value": text[at:at + 4], "start": at, "end": at + 4} for at in (8, 13, 18, 23)),
        {"entity": "amount", "value": "50000201231234567890154", "start": iban_digits, "end": iban_digits + 23},
        {"entity": "amount", "value": "20", "start": len(text) - 2, "end": len(text)},
        {"entity": "card", "value": "4539 1488 0343 6467"},  # no span: its own value is masked
    ]
    deliver([event])
    (row,) = rows(ConversationEvent, sender_id="cap-card")
    assert [e["value"] for e in row.data["parse_data"]["entities"]] == [
        "••••", "••••", "••••", "••••", "•••• 0154", "20", "•••• 6467"]
    assert row.text == "my card •••• 6467 and iban •••• 0154, send 20"
    dumped = json.dumps(row.data)
    assert "4539" not in dumped and "1488" not in dumped and "0343" not in dumped and "50000201" not in dumped


def test_a_database_error_never_logs_the_statements_parameters(db: Engine, caplog: pytest.LogCaptureFixture) -> None:
    """A failed batch's warning printed the database error, whose text carried the SQL parameters: a customer's
    message and e-mail address reached the feed's log. Every engine hides parameters; the warning names the class."""
    from sqlalchemy import text as sql
    from sqlalchemy.exc import DBAPIError

    with pytest.raises(DBAPIError) as raised, session_scope() as session:
        session.execute(sql("SELECT * FROM no_such_table WHERE x = :x"), {"x": "jose.x@example.com"})
    assert "jose.x@example.com" not in str(raised.value)

    postgres = db.dialect.name == "postgresql"
    # a real database refusal of one event's row, so the batch fails and is retried one by one
    with db.begin() as conn:
        if postgres:
            conn.execute(sql("CREATE FUNCTION t_refuse() RETURNS trigger LANGUAGE plpgsql AS "
                             "$$ BEGIN RAISE EXCEPTION 'refused'; END $$"))
            conn.execute(sql("CREATE TRIGGER t_refuse BEFORE INSERT ON conversation_events FOR EACH ROW "
                             "WHEN (new.text LIKE '%refuse-me%') EXECUTE FUNCTION t_refuse()"))
        else:
            conn.execute(sql("CREATE TRIGGER t_refuse BEFORE INSERT ON conversation_events "
                             "WHEN new.text LIKE '%refuse-me%' BEGIN SELECT RAISE(ABORT, 'refused'); END"))
    try:
        good = user_event("pii-1", "hi there")
        bad = user_event("pii-2", "refuse-me, mail jose.x@example.com")
        with caplog.at_level("INFO", logger="profiles.feed"):
            stats = process_batch([Delivery(1, json.dumps(good)), Delivery(2, json.dumps(bad))])
    finally:
        with db.begin() as conn:
            conn.execute(sql("DROP TRIGGER t_refuse" + (" ON conversation_events" if postgres else "")))
            if postgres:
                conn.execute(sql("DROP FUNCTION t_refuse()"))
    assert stats.stored == 1
    assert "batch of 2 events failed" in caplog.text
    assert "jose.x@example.com" not in caplog.text and "refuse-me" not in caplog.text, caplog.text
