"""Quiet hours in the customer's own time zone (issue 14 §2) over a real database (both backends), in simulated
time: a campaign's message is held until 08:00 on the customer's clock, across zones and daylight-saving
changes, then sent once by the sweeper; the push decision names the zone; an unknown stored zone falls back to
the bank's."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, select, update

import api.campaign_queue as campaign_queue
from api.campaign_gates import send_time_check
from api.campaign_queue import get_queue, reset_queue, send_batch, sweep
from api.main import app
from profiles.campaigns.models import CampaignDelivery
from profiles.campaigns.plan import plan_campaign
from profiles.campaigns.spec import Message
from profiles.campaigns.store import transition
from profiles.db import session_scope
from profiles.models import Customer
from profiles.push import customer_timezone, decide_push
from profiles.staff import issue_staff_token
from tests.profiles.campaign_data import bulk_customers

NO_SEND_RATE = {"campaign_rate_telegram": "", "campaign_rate_facebook": "", "campaign_rate_web": ""}
REMINDER = Message(kind="reminder", template="statement_ready")


@pytest.fixture
def client(db: Engine, override_settings: Callable[..., None], tmp_path: Path) -> Iterator[TestClient]:
    override_settings(**NO_SEND_RATE, campaign_sender="record", quiet_hours_start=21, quiet_hours_end=8,
                      push_timezone="Europe/Lisbon", campaign_frequency_cap=100,
                      campaign_queue_file=tmp_path / "q.db", campaign_queue_name=f"tz-{uuid.uuid4().hex[:8]}")
    reset_queue()
    with TestClient(app) as c:
        yield c
    reset_queue()


def in_zones(zones: list[str]) -> list[int]:
    ids = bulk_customers(len(zones))
    with session_scope() as s:
        for cid, zone in zip(ids, zones, strict=True):
            s.execute(update(Customer).where(Customer.id == cid).values(time_zone=zone))
    return ids


def utc(year: int, month: int, day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=UTC)


@pytest.mark.parametrize(("now", "zone", "opens"), [
    # winter, 2026-12-07 08:30 UTC
    (utc(2026, 12, 7, 8, 30), "Europe/Lisbon", None),  # 08:30 in Lisbon: the window is open
    (utc(2026, 12, 7, 8, 30), "Atlantic/Azores", utc(2026, 12, 7, 9)),  # 07:30 (UTC-1): opens at 08:00 = 09:00 UTC
    (utc(2026, 12, 7, 8, 30), "America/New_York", utc(2026, 12, 7, 13)),  # 03:30 EST: 08:00 EST = 13:00 UTC
    (utc(2026, 12, 7, 8, 30), "Asia/Tokyo", None),  # 17:30 in Tokyo
    (utc(2026, 12, 7, 20, 30), "Asia/Tokyo", utc(2026, 12, 7, 23)),  # 05:30 JST: 08:00 JST = 23:00 UTC
    # the night summer time starts in the EU (2027-03-28, 01:00 UTC): Lisbon's 08:00 is 07:00 UTC, not 08:00
    (utc(2027, 3, 28, 6, 30), "Europe/Lisbon", utc(2027, 3, 28, 7)),
    # ... and New York's, two weeks earlier (2027-03-14): 08:00 EDT = 12:00 UTC
    (utc(2027, 3, 14, 9, 30), "America/New_York", utc(2027, 3, 14, 12)),
    # the night it ends (2027-10-31): 08:00 WET = 08:00 UTC
    (utc(2027, 10, 31, 7, 30), "Europe/Lisbon", utc(2027, 10, 31, 8)),
])
def test_the_window_opens_on_the_customers_clock(client: TestClient, now: datetime, zone: str,
                                                 opens: datetime | None) -> None:
    [cid] = in_zones([zone])
    gate = send_time_check(cid, REMINDER, marketing_consent=False, exempt_quiet_hours=False, now=now)
    if opens is None:
        assert gate.status == "allowed", gate
        return
    assert (gate.status, gate.hold_until) == ("held", opens), gate
    assert gate.hold_until is not None and gate.hold_until.astimezone(ZoneInfo(zone)).hour == 8
    assert zone in str(gate.reason)  # staff see which clock held it
    decision = decide_push(cid, "reminder", now=now)
    assert (decision.status, decision.time_zone) == ("quiet_hours", zone)


def test_a_campaign_holds_each_customer_until_their_morning_then_sends_once(
        client: TestClient, monkeypatch: pytest.MonkeyPatch) -> None:
    zones = ["Europe/Lisbon", "Atlantic/Azores", "America/New_York", "Asia/Tokyo"]
    ids = in_zones(zones)
    spec: dict[str, Any] = {
        "name": f"tz-{uuid.uuid4().hex[:6]}", "goal": {"conversion": "profile_updated"},
        "audience": {"min_churn": 0.0}, "control_pct": 0,
        "variants": [{"name": "A", "split": 100, "message": {"kind": "reminder", "template": "statement_ready"}}]}
    auth = {"Authorization": f"Bearer {issue_staff_token('marketing-user', 'marketing')}"}
    cid = client.post("/marketing/campaigns", json=spec, headers=auth).json()["id"]
    transition(cid, "schedule", actor="staff:test")
    clock = [utc(2026, 12, 7, 8, 30)]  # simulated time: the worker's clock
    monkeypatch.setattr(campaign_queue, "utcnow", lambda: clock[0])
    get_queue().immediate = True
    plan_campaign(cid, now=clock[0])
    send_batch(cid, 0, 0)

    def log() -> dict[int, tuple[str, datetime | None]]:
        with session_scope() as s:
            return {int(c): (str(st), at) for c, st, at in s.execute(
                select(CampaignDelivery.customer_id, CampaignDelivery.status, CampaignDelivery.next_attempt_at)
                .where(CampaignDelivery.campaign_id == cid))}

    first = log()
    assert first[ids[0]][0] == "delivered" and first[ids[3]][0] == "delivered"  # Lisbon 08:30, Tokyo 17:30
    assert first[ids[1]] == ("held", utc(2026, 12, 7, 9)) and first[ids[2]] == ("held", utc(2026, 12, 7, 13))
    clock[0] = utc(2026, 12, 7, 9, 1)
    sweep(min_age_minutes=0, now=clock[0])  # the Azores' morning: only them
    assert {c: st for c, (st, _) in log().items()} == {ids[0]: "delivered", ids[1]: "delivered",
                                                        ids[2]: "held", ids[3]: "delivered"}
    clock[0] = utc(2026, 12, 7, 13, 1)
    sweep(min_age_minutes=0, now=clock[0])
    sweep(min_age_minutes=0, now=clock[0])  # a second sweep sends nothing again
    assert {st for st, _ in log().values()} == {"delivered"} and len(log()) == 4


def test_an_unknown_stored_zone_falls_back_to_the_banks(client: TestClient) -> None:
    assert customer_timezone("Not/AZone").key == "Europe/Lisbon"
    assert customer_timezone(None).key == "Europe/Lisbon"
    [cid] = in_zones(["Not/AZone"])
    assert decide_push(cid, "reminder", now=utc(2026, 12, 7, 7, 30)).time_zone == "Europe/Lisbon"


def test_no_stored_zone_is_the_banks_setting(client: TestClient, override_settings: Callable[..., None]) -> None:
    [cid] = bulk_customers(1)  # time_zone NULL, as most seeded customers (the islands have theirs)
    at = utc(2026, 6, 15, 12, 30)  # 13:30 in Lisbon, 21:30 in Tokyo
    assert decide_push(cid, "reminder", now=at).time_zone == "Europe/Lisbon"
    override_settings(push_timezone="Asia/Tokyo")
    decision = decide_push(cid, "reminder", now=at)
    assert (decision.status, decision.time_zone) == ("quiet_hours", "Asia/Tokyo")
