"""Recurring campaigns over a real database (both backends): the rule and its 422s with nothing written, the
stored next run time, each occurrence a new step of the delivery key (at most once per occurrence, also when a
restarted worker or a sweep in another process sees it again), pause, resume and the end date."""

from __future__ import annotations

import subprocess
import sys
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, func, select

from api.campaign_queue import get_queue, reset_queue, sweep
from api.main import app
from profiles.campaigns.models import Campaign, CampaignDelivery
from profiles.campaigns.recurrence import next_run, occurrence_step, parse_rule
from profiles.db import session_scope
from profiles.settings import ROOT
from profiles.staff import issue_staff_token
from tests.profiles.campaign_data import bulk_customers

NO_SEND_RATE = {"campaign_rate_telegram": "", "campaign_rate_facebook": "", "campaign_rate_web": ""}
DAILY = "0 9 * * *"


@pytest.fixture
def client(db: Engine, override_settings: Callable[..., None], tmp_path: Path) -> Iterator[TestClient]:
    override_settings(**NO_SEND_RATE, campaign_sender="record", quiet_hours_start=0, quiet_hours_end=0,
                      campaign_frequency_cap=100, campaign_queue_file=tmp_path / "q.db",
                      campaign_queue_name=f"r-{uuid.uuid4().hex[:8]}")
    reset_queue()
    get_queue().immediate = True
    bulk_customers(9)
    with TestClient(app) as c:
        yield c
    reset_queue()


def auth() -> dict[str, str]:
    return {"Authorization": f"Bearer {issue_staff_token('marketing-user', 'marketing')}"}


def spec(**schedule: Any) -> dict[str, Any]:
    return {"name": f"rec-{uuid.uuid4().hex[:6]}", "goal": {"conversion": "profile_updated"},
            "audience": {"min_churn": 0.0},
            "variants": [{"name": "A", "split": 100, "message": {"kind": "reminder", "template": "card_expiry"}}],
            "control_pct": 0, "schedule": {"kind": "recurring", "rule": DAILY} | schedule}


def campaign(cid: int) -> Campaign:
    with session_scope() as s:
        row = s.get(Campaign, cid)
        assert row is not None
        s.expunge(row)
        return row


def steps(cid: int) -> dict[int, dict[str, int]]:
    """step -> status -> rows; also asserts one row per customer and step."""
    with session_scope() as s:
        rows = s.execute(select(CampaignDelivery.step, CampaignDelivery.customer_id, CampaignDelivery.status)
                         .where(CampaignDelivery.campaign_id == cid)).all()
    assert len(rows) == len({(st, c) for st, c, _ in rows})
    out: dict[int, dict[str, int]] = {}
    for st, _, status in rows:
        out.setdefault(st, {}).setdefault(status, 0)
        out[st][status] += 1
    return out


def test_rule_parsing_and_next_run(db: Engine) -> None:
    lisbon = ZoneInfo("Europe/Lisbon")
    after = datetime(2026, 12, 7, 10, 0, tzinfo=UTC)  # a Monday, 10:00 in Lisbon (UTC+0 in winter)
    assert next_run(DAILY, after) == datetime(2026, 12, 8, 9, 0, tzinfo=UTC)
    assert next_run("0 9 * * 1", after) == datetime(2026, 12, 14, 9, 0, tzinfo=UTC)
    assert next_run("*/15 * * * *", after) == datetime(2026, 12, 7, 10, 15, tzinfo=UTC)
    summer = next_run("30 8 1 7 *", after)  # 08:30 Lisbon summer time = 07:30 UTC
    assert summer == datetime(2027, 7, 1, 8, 30, tzinfo=lisbon).astimezone(UTC) == datetime(2027, 7, 1, 7, 30,
                                                                                            tzinfo=UTC)
    assert next_run(DAILY, after, until=after + timedelta(hours=2)) is None
    assert next_run("0 0 31 2 *", after) is None  # never
    for bad in ("61 * * * *", "0 9 * *", "x 9 * * *", "0 25 * * *", ""):
        with pytest.raises(ValueError):
            parse_rule(bad)
    assert occurrence_step(datetime(2020, 1, 1, 0, 1, tzinfo=UTC)) == 1
    assert occurrence_step(after) != occurrence_step(after + timedelta(minutes=1))


@pytest.mark.parametrize(("schedule", "loc"), [
    ({"rule": "61 * * * *"}, ["body", "schedule", "rule"]),
    ({"rule": "0 9 * *"}, ["body", "schedule", "rule"]),
    ({"rule": "every day"}, ["body", "schedule", "rule"]),
    ({"rule": None}, ["body", "schedule"]),
    ({"rule": "0 0 31 2 *"}, ["body", "schedule"]),
    ({"until": "2020-01-01T00:00:00Z"}, ["body", "schedule", "until"]),
    ({"at": "2099-01-01T00:00:00Z"}, ["body", "schedule"]),
])
def test_a_bad_rule_is_422_naming_the_field_and_nothing_is_written(
        client: TestClient, schedule: dict[str, Any], loc: list[str]) -> None:
    r = client.post("/marketing/campaigns", json=spec(**schedule), headers=auth())
    assert r.status_code == 422, r.text
    assert r.json()["detail"][0]["loc"] == loc
    with session_scope() as s:
        assert s.scalar(select(func.count()).select_from(Campaign)) == 0
    bad_kind = spec()
    bad_kind["schedule"] = {"kind": "now", "rule": DAILY}
    assert client.post("/marketing/campaigns", json=bad_kind, headers=auth()).status_code == 422


def _sweep_in_new_process(now: datetime) -> str:
    """A fresh worker process's sweep (its own get_queue(): the SqliteHuey file, tasks queued, not run)."""
    code = ("import sys; from datetime import datetime; from api.campaign_queue import sweep; "
            "print(sweep(min_age_minutes=0, now=datetime.fromisoformat(sys.argv[1])))")
    done = subprocess.run([sys.executable, "-c", code, now.isoformat()], cwd=ROOT, capture_output=True, text=True,
                          timeout=120, check=False)
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout


def test_each_occurrence_runs_once_across_restarts_and_other_processes(client: TestClient) -> None:
    r = client.post("/marketing/campaigns", json=spec(), headers=auth())
    assert r.status_code == 201, r.text
    cid = r.json()["id"]
    first = datetime.fromisoformat(r.json()["scheduled_at"])
    assert first == next_run(DAILY, datetime.now(UTC))  # the stored next run time
    assert client.post(f"/marketing/campaigns/{cid}/schedule", headers=auth()).json()["state"] == "scheduled"

    assert sweep(now=first - timedelta(minutes=1))["planned"] == 0  # not due yet
    assert steps(cid) == {}
    at = first + timedelta(minutes=1)
    sweep(now=at)  # the occurrence: planned and (immediate queue) sent
    step1 = occurrence_step(first)
    assert steps(cid) == {step1: {"delivered": 9}}
    row = campaign(cid)
    assert row.state == "running" and row.scheduled_at == first + timedelta(days=1)  # stays running, next run on

    reset_queue()  # a restarted worker: a fresh queue and a startup sweep at the same moment
    get_queue().immediate = True
    assert sweep(min_age_minutes=0, now=at)["planned"] == 0
    assert steps(cid) == {step1: {"delivered": 9}}

    # the next occurrence seen by a sweep in another process (the real queue file), then by a second one
    second = first + timedelta(days=1)
    reset_queue()
    _sweep_in_new_process(second + timedelta(minutes=2))
    assert "'planned': 0" in _sweep_in_new_process(second + timedelta(minutes=3))
    step2 = occurrence_step(second)
    assert steps(cid)[step2] == {"queued": 9}
    huey = get_queue()  # what the other process queued, each task run twice (every queue may redeliver)
    tasks = []
    while (task := huey.dequeue()) is not None:
        tasks.append(task)
    assert tasks, "the other process queued the occurrence's batches"
    for task in tasks + tasks:
        huey.execute(task)
    assert steps(cid) == {step1: {"delivered": 9}, step2: {"delivered": 9}}
    assert campaign(cid).state == "running" and campaign(cid).scheduled_at == second + timedelta(days=1)
    huey.storage.flush_all()
    reset_queue()


def test_pause_stops_occurrences_and_the_end_date_finishes(client: TestClient) -> None:
    now = datetime.now(UTC)
    first = next_run(DAILY, now)
    assert first is not None
    body = spec(until=(first + timedelta(days=1, hours=1)).isoformat())  # two occurrences
    cid = client.post("/marketing/campaigns", json=body, headers=auth()).json()["id"]
    client.post(f"/marketing/campaigns/{cid}/schedule", headers=auth())
    sweep(now=first + timedelta(minutes=1))
    assert client.post(f"/marketing/campaigns/{cid}/pause", headers=auth()).json()["state"] == "paused"
    second = first + timedelta(days=1)
    assert sweep(now=second + timedelta(minutes=1))["planned"] == 0  # paused: no occurrence
    assert set(steps(cid)) == {occurrence_step(first)}
    resumed = client.post(f"/marketing/campaigns/{cid}/resume", headers=auth()).json()
    assert resumed["state"] == "running"
    assert datetime.fromisoformat(resumed["scheduled_at"]) == second  # still in the (simulated) future
    sweep(now=second + timedelta(minutes=1))
    assert set(steps(cid)) == {occurrence_step(first), occurrence_step(second)}
    row = campaign(cid)
    assert row.scheduled_at is None and row.state == "done"  # the end date passed: no occurrence left
    actions = [e["action"] for e in client.get(f"/marketing/campaigns/{cid}", headers=auth()).json()["events"]]
    assert actions == ["created", "schedule", "start", "pause", "resume", "occurrence", "finish"]
