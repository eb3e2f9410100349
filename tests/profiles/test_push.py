"""Proactive push decisions and delivery records (profiles/push.py) on both database backends: channel choice
(messenger links, live web chat conversations), consent per kind and channel, quiet hours across midnight and in the push time zone, the audit of attempts."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import Engine, func, select

from profiles.consent import set_consent
from profiles.db import session_scope
from profiles.errors import InvalidInput, NotFound
from profiles.models import (
    ConversationEvent,
    ConversationLink,
    Customer,
    CustomerScore,
    Interaction,
    MessengerLink,
    PushDelivery,
    utcnow,
)
from profiles.push import (
    WEB_LIVE_MINUTES,
    check_message,
    decide_push,
    in_quiet_hours,
    list_deliveries,
    record_delivery,
    select_audience,
)
from profiles.search import SearchQuery
from tests.profiles.conftest import build_customer

NOON_LISBON = datetime(2026, 6, 15, 11, 0, tzinfo=UTC)  # 12:00 in Lisbon (summer time, UTC+1)
LATE_LISBON = datetime(2026, 6, 15, 22, 30, tzinfo=UTC)  # 23:30 in Lisbon


def link(customer_id: int, channel: str, external_id: str, *, minutes_ago: int = 0) -> None:
    with session_scope() as s:
        s.add(MessengerLink(customer_id=customer_id, channel=channel, external_id=external_id,
                            linked_at=utcnow() - timedelta(minutes=minutes_ago)))


def web_chat(customer_id: int | None, sender_id: str, *, minutes_ago: float, text: str = "hello",
             channel: str = "socketio", now: datetime = NOON_LISBON) -> None:
    """Store what the feed stores for a web chat message ``minutes_ago`` before ``now``: the conversation's link to
    ``customer_id`` (None: anonymous) and the user event."""
    with session_scope() as s:
        if customer_id is not None and s.get(ConversationLink, sender_id) is None:
            s.add(ConversationLink(sender_id=sender_id, customer_id=customer_id, channel=channel))
            s.flush()
        at = now - timedelta(minutes=minutes_ago)
        s.add(ConversationEvent(event_key=f"{sender_id}:{at.isoformat()}:{text}", sender_id=sender_id,
                                customer_id=customer_id, event_type="user", timestamp=at, channel=channel,
                                text=text, intent=None, data={"event": "user", "text": text}))


def test_no_linked_messenger_is_no_channel(db: Engine) -> None:
    cid = build_customer(consent=True).customer_id
    decision = decide_push(cid, "reminder", now=NOON_LISBON)
    assert (decision.status, decision.channel, decision.sender_id) == ("no_channel", None, None)
    assert not decision.allowed


def test_a_linked_telegram_account_is_the_channel(db: Engine) -> None:
    cid = build_customer(consent=True).customer_id
    link(cid, "telegram", "777001")
    decision = decide_push(cid, "offer", now=NOON_LISBON)
    assert decision.allowed
    assert (decision.channel, decision.sender_id, decision.first_name) == ("telegram", "777001", "Test")


def test_preferred_channel_wins_over_the_latest_link(db: Engine) -> None:
    cid = build_customer(consent=True).customer_id
    link(cid, "facebook", "fb-1", minutes_ago=60)
    link(cid, "telegram", "tg-1", minutes_ago=1)
    assert decide_push(cid, "reminder", now=NOON_LISBON).channel == "telegram"  # latest link
    with session_scope() as s:
        s.get(Customer, cid).preferred_channel = "facebook"  # type: ignore[union-attr]
    decision = decide_push(cid, "reminder", now=NOON_LISBON)
    assert (decision.channel, decision.sender_id) == ("facebook", "fb-1")


def test_offer_needs_marketing_consent_but_a_reminder_does_not(db: Engine) -> None:
    cid = build_customer(consent=False).customer_id
    link(cid, "telegram", "777002")
    offer = decide_push(cid, "offer", now=NOON_LISBON)
    assert offer.status == "no_consent"
    assert offer.channel == "telegram"  # the account is known, only the consent is missing
    assert decide_push(cid, "reminder", now=NOON_LISBON).allowed


def test_consent_is_per_channel(db: Engine) -> None:
    cid = build_customer(consent=True).customer_id  # marketing/all granted
    link(cid, "telegram", "777003")
    set_consent(cid, "marketing", "telegram", False, source="test", actor="staff:test")
    assert decide_push(cid, "offer", now=NOON_LISBON).status == "no_consent"
    set_consent(cid, "marketing", "telegram", True, source="test", actor="staff:test")
    set_consent(cid, "marketing", "all", False, source="test", actor="staff:test")
    assert decide_push(cid, "offer", now=NOON_LISBON).allowed  # the channel's own row overrides "all"


def test_quiet_hours_refuse_both_kinds(db: Engine) -> None:
    cid = build_customer(consent=True).customer_id
    link(cid, "telegram", "777004")
    for kind in ("reminder", "offer"):
        decision = decide_push(cid, kind, now=LATE_LISBON)
        assert decision.status == "quiet_hours"
        assert "Europe/Lisbon" in decision.reason


def test_consent_is_reported_before_quiet_hours(db: Engine) -> None:
    cid = build_customer(consent=False).customer_id
    link(cid, "telegram", "777005")
    assert decide_push(cid, "offer", now=LATE_LISBON).status == "no_consent"


def test_quiet_hours_follow_the_configured_time_zone(db: Engine, override_settings: Callable[..., None]) -> None:
    cid = build_customer(consent=True).customer_id
    link(cid, "telegram", "777006")
    at = datetime(2026, 6, 15, 12, 30, tzinfo=UTC)  # 13:30 Lisbon, 21:30 Tokyo
    assert decide_push(cid, "reminder", now=at).allowed
    override_settings(push_timezone="Asia/Tokyo")
    assert decide_push(cid, "reminder", now=at).status == "quiet_hours"


@pytest.mark.parametrize(
    ("local_hour", "quiet"),
    [(20, False), (21, True), (23, True), (0, True), (3, True), (7, True), (8, False), (12, False)],
)
def test_quiet_window_across_midnight(local_hour: int, quiet: bool) -> None:
    lisbon = ZoneInfo("Europe/Lisbon")
    now = datetime(2026, 1, 10, local_hour, 59, tzinfo=lisbon)
    assert in_quiet_hours(now, 21, 8, lisbon) is quiet


def test_quiet_window_within_a_day_and_none() -> None:
    utc = ZoneInfo("UTC")
    assert in_quiet_hours(datetime(2026, 1, 1, 13, 0, tzinfo=UTC), 12, 14, utc)
    assert not in_quiet_hours(datetime(2026, 1, 1, 14, 0, tzinfo=UTC), 12, 14, utc)
    assert not in_quiet_hours(datetime(2026, 1, 1, 3, 0, tzinfo=UTC), 5, 5, utc)  # start == end: none
    assert in_quiet_hours(datetime(2026, 1, 1, 3, 0), 2, 4, utc)  # naive = UTC
    with pytest.raises(InvalidInput):
        in_quiet_hours(datetime(2026, 1, 1, 3, 0, tzinfo=UTC), 24, 4, utc)


def test_unknown_customer_and_kind(db: Engine) -> None:
    with pytest.raises(NotFound):
        decide_push(999_999, "reminder", now=NOON_LISBON)
    cid = build_customer().customer_id
    with pytest.raises(InvalidInput) as err:
        decide_push(cid, "spam", now=NOON_LISBON)
    assert err.value.field == "kind"


def test_check_message_closed_sets() -> None:
    assert check_message("Reminder", " may-statements ", template="statement_ready").template == "statement_ready"
    offer = check_message("offer", "td-june", product="term_deposit")
    assert (offer.template, offer.product) == ("product_offer", "term_deposit")
    for kwargs, field in [
        ({"kind": "sms", "campaign": "x", "template": "statement_ready"}, "kind"),
        ({"kind": "reminder", "campaign": "x", "template": "free text"}, "template"),
        ({"kind": "reminder", "campaign": "x", "template": "card_expiry", "product": "mortgage"}, "product"),
        ({"kind": "offer", "campaign": "x", "product": "bitcoin"}, "product"),
        ({"kind": "offer", "campaign": " ", "product": "mortgage"}, "campaign"),
        ({"kind": "offer", "campaign": "a\x00b", "product": "mortgage"}, "campaign"),
        ({"kind": "offer", "campaign": "c" * 81, "product": "mortgage"}, "campaign"),
    ]:
        with pytest.raises(InvalidInput) as err:
            check_message(**kwargs)
        assert err.value.field == field, kwargs


def test_delivered_push_is_on_the_timeline(db: Engine) -> None:
    cid = build_customer(consent=True).customer_id
    message = check_message("offer", "td-june", product="term_deposit")
    view = record_delivery(message, cid, "delivered", actor="staff:mkt", channel="telegram", sender_id="777007")
    assert (view.status, view.campaign, view.channel) == ("delivered", "td-june", "telegram")
    with session_scope() as s:
        item = s.scalars(select(Interaction).where(Interaction.customer_id == cid,
                                                   Interaction.kind == "campaign_message")).one()
        assert (item.direction, item.channel, item.sender_id, item.actor) == (
            "outbound", "telegram", "777007", "staff:mkt")
        assert item.details == {"campaign": "td-june", "push_kind": "offer", "template": "product_offer",
                                "product": "term_deposit", "delivery_id": view.id}


def test_refused_push_is_recorded_without_timeline(db: Engine) -> None:
    cid = build_customer().customer_id
    message = check_message("reminder", "statements", template="statement_ready")
    record_delivery(message, cid, "no_channel", actor="staff:mkt", reason="no linked messenger account")
    record_delivery(message, 999_999, "invalid", actor="staff:mkt", reason="unknown customer")
    rows = list_deliveries(campaign="statements")
    assert sorted(r.status for r in rows) == ["invalid", "no_channel"]
    assert {r.customer_id for r in rows} == {cid, None}  # an unknown id leaves no dangling reference
    with session_scope() as s:
        assert s.scalar(select(func.count()).select_from(Interaction)
                        .where(Interaction.kind == "campaign_message")) == 0


def test_record_delivery_refuses_bad_input_without_writing(db: Engine) -> None:
    cid = build_customer().customer_id
    message = check_message("reminder", "statements", template="statement_ready")
    with pytest.raises(InvalidInput):
        record_delivery(message, cid, "sent", actor="staff:mkt")
    with pytest.raises(InvalidInput):
        record_delivery(message, cid, "delivered", actor="staff:mkt")  # no channel/sender
    with pytest.raises(NotFound):
        record_delivery(message, 999_999, "delivered", actor="staff:mkt", channel="telegram", sender_id="1")
    with session_scope() as s:
        assert s.scalar(select(func.count()).select_from(PushDelivery)) == 0


def test_select_audience_by_segment(db: Engine) -> None:
    ids = [build_customer().customer_id for _ in range(4)]
    with session_scope() as s:
        for cid, segment in zip(ids, ["savers", "savers", "young", None], strict=True):
            if segment:
                s.add(CustomerScore(customer_id=cid, segment=segment, model_versions={}, computed_at=utcnow()))
    assert select_audience(SearchQuery(segment="savers")) == ids[:2]
    assert select_audience(SearchQuery(segment="savers"), limit=1) == ids[:1]
    assert select_audience(SearchQuery(segment="nobody")) == []
    with pytest.raises(InvalidInput) as err:
        select_audience(SearchQuery())
    assert err.value.field == "segment"


def test_a_live_web_chat_conversation_is_the_channel_without_a_messenger(db: Engine) -> None:
    cid = build_customer(consent=True).customer_id
    web_chat(cid, "web-live-1", minutes_ago=5)
    decision = decide_push(cid, "offer", now=NOON_LISBON)
    assert decision.allowed
    assert (decision.channel, decision.sender_id) == ("socketio", "web-live-1")
    assert "5 min ago" in decision.reason


def test_a_web_conversation_older_than_the_window_is_no_channel(db: Engine) -> None:
    cid = build_customer(consent=True).customer_id
    web_chat(cid, "web-old-1", minutes_ago=WEB_LIVE_MINUTES + 1)
    decision = decide_push(cid, "reminder", now=NOON_LISBON)
    assert (decision.status, decision.channel) == ("no_channel", None)
    assert f"last {WEB_LIVE_MINUTES} min" in decision.reason
    # the bank's own pushes (external events) do not keep a conversation live
    web_chat(cid, "web-old-1", minutes_ago=1, text="EXTERNAL: EXTERNAL_offer")
    assert decide_push(cid, "reminder", now=NOON_LISBON).status == "no_channel"
    # just inside the window it is live again
    web_chat(cid, "web-old-1", minutes_ago=WEB_LIVE_MINUTES - 1)
    assert decide_push(cid, "reminder", now=NOON_LISBON).sender_id == "web-old-1"


def test_only_the_customers_own_linked_web_conversations_count(db: Engine) -> None:
    cid = build_customer(consent=True).customer_id
    other = build_customer(consent=True).customer_id
    web_chat(None, "web-anonymous", minutes_ago=1)  # never linked (no token)
    web_chat(other, "web-other", minutes_ago=1)  # another customer's
    web_chat(cid, "rest-own", minutes_ago=1, channel="rest")  # not the web chat
    assert decide_push(cid, "reminder", now=NOON_LISBON).status == "no_channel"
    # of two live conversations, the one with the latest message
    web_chat(cid, "web-tab-a", minutes_ago=10)
    web_chat(cid, "web-tab-b", minutes_ago=2)
    assert decide_push(cid, "reminder", now=NOON_LISBON).sender_id == "web-tab-b"
    # a conversation re-linked to someone else stops being this customer's
    with session_scope() as s:
        s.get(ConversationLink, "web-tab-b").customer_id = other  # type: ignore[union-attr]
    assert decide_push(cid, "reminder", now=NOON_LISBON).sender_id == "web-tab-a"


def test_messenger_wins_unless_the_web_chat_is_preferred(db: Engine) -> None:
    cid = build_customer(consent=True).customer_id
    link(cid, "telegram", "tg-web-1")
    web_chat(cid, "web-pref-1", minutes_ago=3)
    assert decide_push(cid, "reminder", now=NOON_LISBON).channel == "telegram"
    with session_scope() as s:
        s.get(Customer, cid).preferred_channel = "socketio"  # type: ignore[union-attr]
    decision = decide_push(cid, "reminder", now=NOON_LISBON)
    assert (decision.channel, decision.sender_id) == ("socketio", "web-pref-1")
    # web preferred but no live page: the messenger
    later = NOON_LISBON + timedelta(minutes=WEB_LIVE_MINUTES + 5)
    assert (decide_push(cid, "reminder", now=later).channel, decide_push(cid, "reminder", now=later).sender_id) == (
        "telegram", "tg-web-1")


def test_web_push_consent_is_the_web_channels_and_quiet_hours_apply(db: Engine) -> None:
    cid = build_customer(consent=True).customer_id  # marketing/all granted
    web_chat(cid, "web-consent-1", minutes_ago=1)
    set_consent(cid, "marketing", "web", False, source="test", actor="staff:test")
    offer = decide_push(cid, "offer", now=NOON_LISBON)
    assert (offer.status, offer.channel, offer.reason) == ("no_consent", "socketio", "no marketing consent on web")
    assert decide_push(cid, "reminder", now=NOON_LISBON).allowed  # a service message needs none
    set_consent(cid, "marketing", "web", True, source="test", actor="staff:test")
    assert decide_push(cid, "offer", now=NOON_LISBON).allowed
    web_chat(cid, "web-consent-1", minutes_ago=1, now=LATE_LISBON)
    late = decide_push(cid, "offer", now=LATE_LISBON)
    assert (late.status, late.channel) == ("quiet_hours", "socketio")
