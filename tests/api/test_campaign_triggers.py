"""Event-triggered campaigns over a real database (both backends), in simulated time: the daily trigger sweep
(``profiles.campaigns.triggers`` through the worker's ``sweep``) enrols each customer once per event occurrence
(card expiring, deposit maturing, payment due), across daily runs, a restarted worker and a task run twice; a
renewed card is a new occurrence; the 422s of a bad trigger schedule with nothing written."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, func, insert, select, update

from api.campaign_queue import get_queue, reset_queue, sweep
from api.main import app
from profiles.campaigns.models import Campaign, CampaignDelivery
from profiles.campaigns.recurrence import next_run
from profiles.campaigns.triggers import event_step, plan_trigger_run
from profiles.db import session_scope
from profiles.models import Account, Card, Loan
from profiles.push import push_timezone
from profiles.staff import issue_staff_token
from tests.profiles.campaign_data import bulk_customers

NO_SEND_RATE = {"campaign_rate_telegram": "", "campaign_rate_facebook": "", "campaign_rate_web": ""}
DAILY = "0 9 * * *"


@pytest.fixture
def client(db: Engine, override_settings: Callable[..., None], tmp_path: Path) -> Iterator[TestClient]:
    override_settings(**NO_SEND_RATE, campaign_sender="record", quiet_hours_start=0, quiet_hours_end=0,
                      campaign_frequency_cap=100, campaign_queue_file=tmp_path / "q.db",
                      campaign_queue_name=f"t-{uuid.uuid4().hex[:8]}")
    reset_queue()
    get_queue().immediate = True
    with TestClient(app) as c:
        yield c
    reset_queue()


def auth() -> dict[str, str]:
    return {"Authorization": f"Bearer {issue_staff_token('marketing-user', 'marketing')}"}


def spec(event: str = "card_expiry", **schedule: Any) -> dict[str, Any]:
    template = {"card_expiry": "card_expiry", "payment_due": "payment_due"}.get(event, "statement_ready")
    return {"name": f"trg-{uuid.uuid4().hex[:6]}", "goal": {"conversion": "profile_updated"},
            "audience": {"min_churn": 0.0},
            "variants": [{"name": "A", "split": 100, "message": {"kind": "reminder", "template": template}}],
            "control_pct": 0,
            "schedule": {"kind": "trigger", "event": event, "days_before": 30, "exempt_quiet_hours": True} | schedule}


def give(event: str, customer_id: int, day: date) -> None:
    """Customer ``customer_id`` gets an occurrence of ``event`` on ``day`` (a card, a deposit or a loan)."""
    with session_scope() as s:
        number = f"PT50{uuid.uuid4().int % 10**21:021d}"
        if event == "payment_due":
            s.execute(insert(Loan).values(customer_id=customer_id, kind="personal_loan", principal=1000,
                                          outstanding=500, next_payment_on=day))
            return
        kind = "term_deposit" if event == "deposit_maturity" else "current"
        account_id = s.scalar(insert(Account).values(
            customer_id=customer_id, kind=kind, name="Test", number=number, balance=1000,
            matures_on=day if kind == "term_deposit" else None).returning(Account.id))
        if event == "card_expiry":
            s.execute(insert(Card).values(customer_id=customer_id, account_id=account_id, kind="debit",
                                          number=f"4{uuid.uuid4().int % 10**15:015d}", expires_on=day))


def enrolments(cid: int) -> dict[tuple[int, int], str]:
    """(customer, step) -> status; the database allows one row per key."""
    with session_scope() as s:
        rows = s.execute(select(CampaignDelivery.customer_id, CampaignDelivery.step, CampaignDelivery.status)
                         .where(CampaignDelivery.campaign_id == cid)).all()
    out = {(int(c), int(st)): str(status) for c, st, status in rows}
    assert len(out) == len(rows)
    return out


def create_and_schedule(client: TestClient, body: dict[str, Any]) -> tuple[int, datetime]:
    r = client.post("/marketing/campaigns", json=body, headers=auth())
    assert r.status_code == 201, r.text
    cid = r.json()["id"]
    first = datetime.fromisoformat(r.json()["scheduled_at"])
    assert first == next_run(DAILY, datetime.now(UTC))  # the daily sweep's next run
    assert client.post(f"/marketing/campaigns/{cid}/schedule", headers=auth()).json()["state"] == "scheduled"
    return cid, first


def test_a_card_expiry_reminder_runs_every_day_and_enrols_each_card_once(client: TestClient) -> None:
    ids = bulk_customers(9)
    cid, first = create_and_schedule(client, spec())
    today = first.astimezone(push_timezone()).date()  # the bank's day of the first run
    for c in ids[:3]:
        give("card_expiry", c, today + timedelta(days=10))  # inside the 30-day window from the first run
    for c in ids[3:6]:
        give("card_expiry", c, today + timedelta(days=45))  # enters the window on day 15
    # ids[6:] hold no card: never enrolled

    soon, later = event_step(today + timedelta(days=10)), event_step(today + timedelta(days=45))
    assert sweep(now=first - timedelta(minutes=1))["planned"] == 0 and enrolments(cid) == {}  # not due yet
    sweep(now=first + timedelta(minutes=1))
    assert enrolments(cid) == {(c, soon): "delivered" for c in ids[:3]}
    row_state = client.get(f"/marketing/campaigns/{cid}", headers=auth()).json()
    assert row_state["state"] == "running"
    assert datetime.fromisoformat(row_state["scheduled_at"]) == first + timedelta(days=1)

    # a restarted worker's startup sweep at the same moment, and the same run planned again: nothing new
    reset_queue()
    get_queue().immediate = True
    assert sweep(min_age_minutes=0, now=first + timedelta(minutes=2))["requeued"] == 0
    assert not plan_trigger_run(cid, now=first + timedelta(minutes=2)).ran

    # every day for 20 days: the first cards stay one delivery each, the later ones join on day 15, once
    for day in range(1, 21):
        sweep(now=first + timedelta(days=day, minutes=1))
    expected = {(c, soon): "delivered" for c in ids[:3]} | {(c, later): "delivered" for c in ids[3:6]}
    assert enrolments(cid) == expected
    events = client.get(f"/marketing/campaigns/{cid}", headers=auth()).json()["events"]
    assert [e["action"] for e in events][:3] == ["created", "schedule", "start"]
    assert "enrolled 3 (0 control) over 1 event days" in events[2]["detail"]

    # a renewed card (new expiry date) is a new occurrence: enrolled again, once
    renewed = today + timedelta(days=40)
    with session_scope() as s:
        s.execute(update(Card).where(Card.customer_id == ids[0]).values(expires_on=renewed))
    for day in (21, 22):
        sweep(now=first + timedelta(days=day, minutes=1))
    assert enrolments(cid) == expected | {(ids[0], event_step(renewed)): "delivered"}


@pytest.mark.parametrize("event", ["deposit_maturity", "payment_due"])
def test_deposit_maturity_and_payment_due_enrol_inside_their_window(client: TestClient, event: str) -> None:
    ids = bulk_customers(4)
    cid, first = create_and_schedule(client, spec(event, days_before=7))
    today = first.astimezone(push_timezone()).date()
    give(event, ids[0], today + timedelta(days=3))
    give(event, ids[1], today + timedelta(days=8))  # one day outside the window at the first run
    give(event, ids[2], today - timedelta(days=1))  # already past: never
    sweep(now=first + timedelta(minutes=1))
    assert enrolments(cid) == {(ids[0], event_step(today + timedelta(days=3))): "delivered"}
    sweep(now=first + timedelta(days=1, minutes=1))
    assert enrolments(cid) == {(ids[0], event_step(today + timedelta(days=3))): "delivered",
                               (ids[1], event_step(today + timedelta(days=8))): "delivered"}


def test_the_control_group_is_drawn_per_occurrence(client: TestClient) -> None:
    ids = bulk_customers(40)
    body = spec()
    body["control_pct"] = 25
    cid, first = create_and_schedule(client, body)
    today = first.astimezone(push_timezone()).date()
    for c in ids:
        give("card_expiry", c, today + timedelta(days=5))
    sweep(now=first + timedelta(minutes=1))
    statuses = list(enrolments(cid).values())
    assert len(statuses) == 40 and statuses.count("control") == 10 and statuses.count("delivered") == 30


@pytest.mark.parametrize(("schedule", "loc"), [
    ({"event": None}, ["body", "schedule"]),
    ({"event": "birthday"}, ["body", "schedule", "event"]),
    ({"days_before": 91}, ["body", "schedule", "days_before"]),
    ({"rule": "0 25 * * *"}, ["body", "schedule", "rule"]),
    ({"kind": "now"}, ["body", "schedule"]),  # an event on a one-off schedule
])
def test_a_bad_trigger_schedule_is_422_and_nothing_is_written(
        client: TestClient, schedule: dict[str, Any], loc: list[str]) -> None:
    bulk_customers(2)
    r = client.post("/marketing/campaigns", json=spec(**schedule), headers=auth())
    assert r.status_code == 422, r.text
    assert r.json()["detail"][0]["loc"] == loc
    with session_scope() as s:
        assert s.scalar(select(func.count()).select_from(Campaign)) == 0
