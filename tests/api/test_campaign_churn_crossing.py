"""The ``churn_crossing`` trigger over a real database (both backends), in simulated time: batch scoring runs
written by the analytics batch's own upsert (``analytics.batch.upsert_scores`` with the run's time, which keeps
each row's previous churn probability), then the worker's daily ``sweep``: a customer whose score crosses the
threshold is enrolled once per crossing (the scoring run is the occurrence), one already above is not, a re-run of
the sweep or of the same scoring run enrols nobody twice, a later new crossing is a new occurrence; 422s."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, func, select

from analytics.batch import SCORE_COLUMNS, upsert_scores
from api.campaign_queue import get_queue, reset_queue, sweep
from api.main import app
from profiles.campaigns.models import Campaign, CampaignDelivery
from profiles.campaigns.recurrence import next_run, occurrence_step
from profiles.campaigns.triggers import plan_trigger_run
from profiles.db import session_scope
from profiles.models import CustomerScore
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


def spec(**schedule: Any) -> dict[str, Any]:
    return {"name": f"churn-{uuid.uuid4().hex[:6]}", "goal": {"conversion": "offer_accepted"},
            "audience": {"min_churn": 0.0},
            "variants": [{"name": "A", "split": 100,
                          "message": {"kind": "reminder", "template": "statement_ready"}}],
            "control_pct": 0,
            "schedule": {"kind": "trigger", "event": "churn_crossing", "threshold": 0.5,
                         "exempt_quiet_hours": True} | schedule}


def scoring_run(run_at: datetime, churn: dict[int, float]) -> None:
    """A batch scoring run at ``run_at`` giving these customers these churn probabilities (their other scores
    unchanged), written as ``analytics.batch.run`` writes a chunk."""
    with session_scope() as s:
        rows = {r.customer_id: r for r in s.scalars(select(CustomerScore)
                                                    .where(CustomerScore.customer_id.in_(list(churn))))}
        values = [{"customer_id": cid, **{c: getattr(rows[cid], c) for c in SCORE_COLUMNS},
                   "churn_probability": p, "model_versions": {"churn": "test"}, "computed_at": run_at}
                  for cid, p in churn.items()]
    with session_scope(write=True) as s:
        upsert_scores(s, values, run_at=run_at)


def enrolments(cid: int) -> dict[tuple[int, int], str]:
    """(customer, step) -> status; the database allows one row per key."""
    with session_scope() as s:
        rows = s.execute(select(CampaignDelivery.customer_id, CampaignDelivery.step, CampaignDelivery.status)
                         .where(CampaignDelivery.campaign_id == cid)).all()
    out = {(int(c), int(st)): str(status) for c, st, status in rows}
    assert len(out) == len(rows)
    return out


def test_a_churn_crossing_enrols_once_per_crossing(client: TestClient) -> None:
    rising, above, below, edge = bulk_customers(4)
    r = client.post("/marketing/campaigns", json=spec(), headers=auth())
    assert r.status_code == 201, r.text
    cid = r.json()["id"]
    first = datetime.fromisoformat(r.json()["scheduled_at"])
    assert first == next_run(DAILY, datetime.now(UTC))  # the daily sweep
    assert client.post(f"/marketing/campaigns/{cid}/schedule", headers=auth()).json()["state"] == "scheduled"

    r0, r1 = first - timedelta(days=2), first - timedelta(hours=1)
    scoring_run(r0, {rising: 0.30, above: 0.70, below: 0.20, edge: 0.40})  # the first run: no previous score
    with session_scope() as s:
        row = s.get(CustomerScore, above)
        assert row is not None and row.batch_run_at == r0
    scoring_run(r1, {rising: 0.60, above: 0.80, below: 0.30, edge: 0.50})  # rising and edge (== 0.5) cross
    scoring_run(r1, {rising: 0.60, above: 0.80, below: 0.30, edge: 0.50})  # the same run re-written: same previous
    with session_scope() as s:
        row = s.get(CustomerScore, rising)
        assert row is not None and (row.previous_churn_probability, row.churn_probability) == (0.30, 0.60)

    sweep(now=first + timedelta(minutes=1))
    crossed = {(rising, occurrence_step(r1)): "delivered", (edge, occurrence_step(r1)): "delivered"}
    assert enrolments(cid) == crossed  # `above` was above already: not a crossing
    events = client.get(f"/marketing/campaigns/{cid}", headers=auth()).json()["events"]
    assert "enrolled 2 (0 control) over 1 scoring runs" in events[2]["detail"]

    # the same run seen again: a restarted worker, the run planned again, the next days' sweeps: nobody twice
    reset_queue()
    get_queue().immediate = True
    sweep(min_age_minutes=0, now=first + timedelta(minutes=2))
    assert not plan_trigger_run(cid, now=first + timedelta(minutes=2)).ran
    for day in (1, 2):
        sweep(now=first + timedelta(days=day, minutes=1))
    assert enrolments(cid) == crossed

    # a later run: rising stays above (no new crossing); edge falls below, then crosses again: a new occurrence
    r2, r3 = first + timedelta(days=2, hours=3), first + timedelta(days=3, hours=3)
    scoring_run(r2, {rising: 0.65, edge: 0.45})
    sweep(now=first + timedelta(days=3, minutes=1))
    assert enrolments(cid) == crossed
    scoring_run(r3, {rising: 0.66, edge: 0.55})
    sweep(now=first + timedelta(days=4, minutes=1))
    sweep(now=first + timedelta(days=5, minutes=1))
    assert enrolments(cid) == crossed | {(edge, occurrence_step(r3)): "delivered"}


@pytest.mark.parametrize(("schedule", "loc"), [
    ({"threshold": None}, ["body", "schedule"]),  # churn_crossing needs its threshold
    ({"threshold": 0}, ["body", "schedule", "threshold"]),
    ({"threshold": 1.5}, ["body", "schedule", "threshold"]),
    ({"threshold": "high"}, ["body", "schedule", "threshold"]),
    ({"event": "card_expiry"}, ["body", "schedule"]),  # a threshold on a date event
    ({"kind": "now", "event": None}, ["body", "schedule"]),  # a threshold on a one-off schedule
])
def test_a_bad_threshold_is_422_and_nothing_is_written(
        client: TestClient, schedule: dict[str, Any], loc: list[str]) -> None:
    bulk_customers(2)
    r = client.post("/marketing/campaigns", json=spec(**schedule), headers=auth())
    assert r.status_code == 422, r.text
    assert r.json()["detail"][0]["loc"] == loc
    with session_scope() as s:
        assert s.scalar(select(func.count()).select_from(Campaign)) == 0
