"""Bot analytics (profiles.bot_analytics) on both backends, over hand-built events stored by the real feed code;
every expected number is counted by hand from the events below."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import Engine

from profiles.bot_analytics import AnalyticsRange, as_json, bot_analytics, parse_range
from profiles.db import session_scope
from profiles.errors import InvalidInput
from profiles.feed.translate import apply_event
from profiles.models import HandoffRequest

DAY0 = datetime(2025, 11, 30, tzinfo=UTC)
DAY1 = DAY0 + timedelta(days=1)
DAY2 = DAY0 + timedelta(days=2)
RANGE = AnalyticsRange(date(2025, 12, 1), date(2025, 12, 2))


def _ts(day: datetime, seconds: float) -> float:
    return (day + timedelta(seconds=seconds)).timestamp()


def _user(sender: str, ts: float, intent: str, confidence: float, channel: str,
          ranking: list[tuple[str, float]] | None = None) -> dict[str, Any]:
    return {"event": "user", "sender_id": sender, "timestamp": ts, "text": f"({intent})", "input_channel": channel,
            "parse_data": {"intent": {"name": intent, "confidence": confidence}, "entities": [],
                           "intent_ranking": [{"name": n, "confidence": c} for n, c in ranking or []]}}


def _action(sender: str, ts: float, name: str) -> dict[str, Any]:
    return {"event": "action", "sender_id": sender, "timestamp": ts, "name": name}


def _slot(sender: str, ts: float, name: str, value: Any) -> dict[str, Any]:
    return {"event": "slot", "sender_id": sender, "timestamp": ts, "name": name, "value": value}


def _loop(sender: str, ts: float, name: str | None) -> dict[str, Any]:
    return {"event": "active_loop", "sender_id": sender, "timestamp": ts, "name": name}


@pytest.fixture
def events(db: Engine) -> None:
    """A: web chat, day 1: a transfer that went through, then thanks and CSAT 4.
    B: REST, day 1: a fallback (check_balance ranked next), then a hand-off.
    C: Telegram, day 2: a transfer stopped by the customer, a low-confidence balance question, CSAT 2.
    D: REST, day 0 (before the range): a greeting. Plus five hand-off requests (four in the range)."""
    a, b, c, d = "conv-a", "conv-b", "conv-c", "conv-d"
    stream = [
        _user(a, _ts(DAY1, 3600), "transfer_money", 0.9, "socketio"),
        _action(a, _ts(DAY1, 3601), "transfer_form"), _loop(a, _ts(DAY1, 3601.1), "transfer_form"),
        _action(a, _ts(DAY1, 3630), "action_submit_transfer"), _slot(a, _ts(DAY1, 3630.1), "resolved", True),
        _loop(a, _ts(DAY1, 3630.2), None),
        _user(a, _ts(DAY1, 3700), "thanks", 0.95, "socketio"), _action(a, _ts(DAY1, 3701), "action_ask_csat"),
        _action(a, _ts(DAY1, 3710), "action_store_csat"), _slot(a, _ts(DAY1, 3710.1), "csat", 4),
        _user(b, _ts(DAY1, 7200), "nlu_fallback", 0.2, "rest",
              [("nlu_fallback", 0.3), ("check_balance", 0.2), ("greet", 0.1)]),
        _action(b, _ts(DAY1, 7201), "utter_fallback"),
        _user(b, _ts(DAY1, 7300), "human_handoff", 0.8, "rest"), _action(b, _ts(DAY1, 7301), "action_human_handoff"),
        _user(c, _ts(DAY2, 100), "transfer_money", 0.4, "telegram"),
        _action(c, _ts(DAY2, 101), "transfer_form"), _loop(c, _ts(DAY2, 101.1), "transfer_form"),
        _user(c, _ts(DAY2, 150), "stop", 0.9, "telegram"), _action(c, _ts(DAY2, 151), "action_deactivate_loop"),
        _loop(c, _ts(DAY2, 151.1), None), _action(c, _ts(DAY2, 152), "action_cancel_form"),
        _user(c, _ts(DAY2, 200), "check_balance", 0.45, "telegram"),
        _slot(c, _ts(DAY2, 300), "csat", 2), _slot(c, _ts(DAY2, 301), "csat", 9),  # out of 1..5: not a rating
        _user(d, _ts(DAY0, 100), "greet", 0.99, "rest"),
    ]
    with session_scope(write=True) as session:
        for event in stream:
            apply_event(session, event)
        for created, status, wait in [(DAY1 + timedelta(hours=10), "closed", 300), (DAY1 + timedelta(hours=11), "taken", 900),
                                      (DAY2 + timedelta(hours=1), "open", None), (DAY2 + timedelta(hours=2), "closed", None),
                                      (DAY0 + timedelta(hours=1), "closed", 60)]:
            session.add(HandoffRequest(sender_id="conv-b", channel="rest", reason="r", status=status, created_at=created,
                                       taken_at=created + timedelta(seconds=wait) if wait is not None else None))


def test_figures_counted_by_hand(events: None) -> None:
    a = bot_analytics(RANGE)
    assert (a.conversations, a.messages) == (3, 7)  # A, B, C; D began before the range
    assert a.by_channel == (("telegram", 1, 3), ("rest", 1, 2), ("socketio", 1, 2))
    assert [(x.day, x.channel, x.conversations, x.messages) for x in a.by_day_channel] == [
        (date(2025, 12, 1), "rest", 1, 2), (date(2025, 12, 1), "socketio", 1, 2), (date(2025, 12, 2), "telegram", 1, 3)]
    assert dict(a.by_intent) == {"transfer_money": 2, "check_balance": 1, "thanks": 1, "nlu_fallback": 1,
                                 "human_handoff": 1, "stop": 1}
    assert a.by_intent[0] == ("transfer_money", 2)
    assert {(x.day, x.intent, x.messages) for x in a.by_day_intent if x.intent == "transfer_money"} == {
        (date(2025, 12, 1), "transfer_money", 1), (date(2025, 12, 2), "transfer_money", 1)}
    assert (a.containment.part, a.containment.whole) == (2, 3)
    assert (a.handoff_rate.part, a.handoff_rate.whole) == (1, 3)
    assert (a.fallback_conversations.part, a.fallback_conversations.whole) == (1, 3)
    assert (a.fallback_messages.part, a.fallback_messages.whole) == (1, 7)
    w = a.handoff_wait
    assert (w.requests, w.taken, w.still_waiting, w.closed_untaken) == (4, 2, 1, 1)
    assert (w.median_wait_s, w.mean_wait_s, w.max_wait_s) == (600, 600, 900)
    t = a.transfers
    assert (t.started, t.completed, t.failed, t.abandoned, t.unfinished) == (2, 1, 0, 1, 0)
    assert t.completion.value == 0.5
    assert (a.csat_ratings, a.csat_mean) == (2, 3)
    assert dict(a.csat_distribution) == {1: 0, 2: 1, 3: 0, 4: 1, 5: 0}
    assert [(x.day, x.ratings, x.mean) for x in a.csat_by_day] == [(date(2025, 12, 1), 1, 4), (date(2025, 12, 2), 1, 2)]
    first = a.failing_intents[0]
    assert (first.intent, first.fallbacks, first.messages, first.low) == ("check_balance", 1, 1, 1)
    assert first.mean_confidence == pytest.approx(0.45)
    assert [f.intent for f in a.failing_intents] == ["check_balance", "transfer_money", "human_handoff", "stop", "thanks"]
    assert a.failing_intents[1].mean_confidence == pytest.approx(0.65)
    assert a.failing_intents[1].low == 1
    body = as_json(a)
    assert body["containment"] == {"part": 2, "whole": 3, "rate": pytest.approx(2 / 3)}
    assert body["csat"]["distribution"] == {"1": 0, "2": 1, "3": 0, "4": 1, "5": 0}
    assert "conv-a" not in str(body)  # aggregates only: no sender id


def test_one_day_and_an_empty_range(events: None) -> None:
    day2 = bot_analytics(AnalyticsRange(date(2025, 12, 2), date(2025, 12, 2)))
    assert (day2.conversations, day2.messages, day2.transfers.abandoned, day2.transfers.started) == (1, 3, 1, 1)
    assert (day2.handoff_wait.requests, day2.handoff_wait.taken) == (2, 0)
    empty = bot_analytics(AnalyticsRange(date(2024, 1, 1), date(2024, 1, 31)))
    assert (empty.conversations, empty.containment.value, empty.csat_mean, empty.failing_intents) == (0, None, None, ())


def test_parse_range() -> None:
    today = date(2025, 12, 5)
    assert parse_range({}, today) == AnalyticsRange(date(2025, 11, 6), today)
    assert parse_range({"date_from": "2025-12-01", "date_to": "2025-12-02"}, today) == RANGE
    for bad in ({"date_from": "yesterday"}, {"date_from": "2025-12-03", "date_to": "2025-12-01"},
                {"date_from": "2020-01-01", "date_to": "2025-01-01"},
                {"date_to": "0001-01-05"}, {"date_from": "9999-12-30", "date_to": "9999-12-31"}):  # overflowed: 500
        with pytest.raises(InvalidInput):
            parse_range(bad, today)


def test_no_at_the_read_back_is_an_abandoned_transfer(db: Engine) -> None:
    """E answers the read-back with "no" (the submit only says nothing was sent): abandoned. F says yes but the
    submit fails (no ``resolved``): failed. G says no, then yes to a corrected read-back: completed."""
    stream: list[dict[str, Any]] = []
    for sender, answers, done in (("conv-e", [False], False), ("conv-f", [True], False), ("conv-g", [False, True], True)):
        stream += [_user(sender, _ts(DAY1, 10), "transfer_money", 0.9, "rest"),
                   _action(sender, _ts(DAY1, 11), "transfer_form"), _loop(sender, _ts(DAY1, 11.1), "transfer_form")]
        stream += [_slot(sender, _ts(DAY1, 20 + i), "transfer_confirmed", a) for i, a in enumerate(answers)]
        stream += [_loop(sender, _ts(DAY1, 30), None), _action(sender, _ts(DAY1, 31), "action_submit_transfer")]
        stream += [_slot(sender, _ts(DAY1, 31.1), "resolved", True)] if done else []
        stream += [_slot(sender, _ts(DAY1, 31.2), "transfer_confirmed", None),
                   _action(sender, _ts(DAY1, 31.3), "action_listen"),
                   _user(sender, _ts(DAY1, 40), "thanks", 0.9, "rest"), _action(sender, _ts(DAY1, 41), "utter_welcome")]
    with session_scope(write=True) as session:
        for event in stream:
            apply_event(session, event)
    t = bot_analytics(RANGE).transfers
    assert (t.started, t.completed, t.failed, t.abandoned, t.unfinished) == (3, 1, 1, 1, 0)
