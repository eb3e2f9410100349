"""The marketing campaign API over a real database (both backends) and the huey queue in immediate mode
(tasks run inline; the real worker process is tests/api/test_campaign_worker.py's): roles, 422 naming the field
with nothing written, the state machine and its audit, the control group, send-time re-checks, quiet hours
holding, the frequency cap, the delivery log and the uplift report."""

from __future__ import annotations

import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, delete, func, select

from api.campaign_queue import get_queue, reset_queue, send_batch, send_one, sweep
from api.main import app
from profiles.campaigns import delivery
from profiles.campaigns.models import Campaign, CampaignDelivery, CampaignEvent
from profiles.campaigns.plan import plan_campaign
from profiles.campaigns.store import load_spec, transition
from profiles.consent import set_consent
from profiles.db import session_scope
from profiles.models import MessengerLink, OfferEvent, PushDelivery, utcnow
from profiles.staff import issue_staff_token
from tests.profiles.campaign_data import bulk_customers

NO_SEND_RATE = {"campaign_rate_telegram": "", "campaign_rate_facebook": "", "campaign_rate_web": ""}  # not these tests' subject


@pytest.fixture
def client(db: Engine, override_settings: Callable[..., None], tmp_path: Path) -> Iterator[TestClient]:
    override_settings(**NO_SEND_RATE, campaign_sender="record", quiet_hours_start=0, quiet_hours_end=0,
                      campaign_queue_file=tmp_path / "q.db", campaign_queue_name=f"t-{uuid.uuid4().hex[:8]}")
    reset_queue()
    get_queue().immediate = True  # tasks run inline, in memory
    with TestClient(app) as c:
        yield c
    reset_queue()


def auth(role: str = "marketing") -> dict[str, str]:
    return {"Authorization": f"Bearer {issue_staff_token(f'{role}-user', role)}"}


def spec(**over: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "name": f"td-{uuid.uuid4().hex[:6]}",
        "goal": {"conversion": "offer_accepted", "product": "term_deposit", "window_days": 14},
        "audience": {"segment": "affluent"},
        "variants": [{"name": "A", "split": 50, "message": {"kind": "reminder", "template": "statement_ready"}},
                     {"name": "B", "split": 50, "message": {"kind": "reminder", "template": "payment_due"}}],
        "control_pct": 10,
    }
    return body | over


def campaigns_written() -> tuple[int, int, int]:
    with session_scope() as s:
        return tuple(int(s.scalar(select(func.count()).select_from(t)) or 0)  # type: ignore[return-value]
                     for t in (Campaign, CampaignEvent, CampaignDelivery))


def rows(campaign_id: int) -> list[CampaignDelivery]:
    with session_scope() as s:
        return list(s.scalars(select(CampaignDelivery).where(CampaignDelivery.campaign_id == campaign_id)))


@pytest.mark.parametrize(("role", "code"), [("staff", 403), ("marketing", 201), ("admin", 201)])
def test_roles(client: TestClient, role: str, code: int) -> None:
    bulk_customers(6)
    assert client.post("/marketing/campaigns", json=spec(), headers=auth(role)).status_code == code
    assert client.post("/marketing/campaigns", json=spec()).status_code == 401


def _past() -> str:
    return (datetime.now(UTC) - timedelta(hours=1)).isoformat()


@pytest.mark.parametrize(("change", "loc"), [
    ({"audience": {"segment": "no-such-segment"}}, ["body", "audience.segment"]),
    ({"audience": {"segment": "affluent", "min_churn": 0.999}}, ["body", "audience"]),  # empty audience
    ({"schedule": {"kind": "at", "at": _past()}}, ["body", "schedule"]),
    ({"variants": [{"name": "A", "split": 100, "message": {"kind": "reminder", "template": "statement_ready",
                                                            "fields": {"push_name": "iban"}}}]},
     ["body", "variants", 0, "message", "fields"]),
    ({"variants": [{"name": "A", "split": 100, "message": {"kind": "reminder", "template": "statement_ready",
                                                            "fields": {"push_balance": "first_name"}}}]},
     ["body", "variants", 0, "message", "fields"]),
    ({"variants": [{"name": "A", "split": 60, "message": {"kind": "reminder", "template": "statement_ready"}},
                   {"name": "B", "split": 30, "message": {"kind": "reminder", "template": "payment_due"}}]},
     ["body", "variants"]),
    ({"variants": [{"name": "A", "split": 100, "message": {"kind": "reminder", "template": "no_such"}}]},
     ["body", "variants", 0, "message"]),
    ({"control_pct": 80}, ["body", "control_pct"]),
    ({"name": "june\u202egnp.exe"}, ["body", "name"]),  # a bidi override would show staff another name
    ({"name": "june\u200b"}, ["body", "name"]),  # invisible: two campaigns that look the same
    # an offer is marketing: never sent in quiet hours, also when the API is asked to (the page asks the same)
    ({"variants": [{"name": "A", "split": 100, "message": {"kind": "offer", "product": "term_deposit"}}],
      "schedule": {"exempt_quiet_hours": True}}, ["body", "schedule"]),
])
def test_bad_input_is_422_naming_the_field_and_nothing_is_written(
        client: TestClient, change: dict[str, Any], loc: list[Any]) -> None:
    bulk_customers(6)
    response = client.post("/marketing/campaigns", json=spec(**change), headers=auth())
    assert response.status_code == 422, response.text
    assert response.json()["detail"][0]["loc"][:len(loc)] == loc
    assert campaigns_written() == (0, 0, 0)


def test_dry_run_writes_nothing_and_counts_the_sample(client: TestClient) -> None:
    bulk_customers(60)
    body = spec(audience={"segment": "affluent", "consent": "none"})
    preview = client.post("/marketing/campaigns/dry-run", json=body, headers=auth()).json()
    assert preview["audience"] == 20 and preview["control"] == 2
    assert sum(preview["treated"].values()) == 18
    assert sum(preview["sample"].values()) == preview["sample_size"] == 18
    assert preview["sample"] == {"would_send": 18}
    first = preview["messages"][0]
    assert first["template"] in ("statement_ready", "payment_due") and first["text"].startswith("Hi Ana")
    assert campaigns_written() == (0, 0, 0)


def test_dry_run_greets_by_the_profile_field_the_message_names(client: TestClient) -> None:
    """The sample messages are worded as the send words them (``campaign_queue._name_for``): a message whose
    greeting uses the last name shows the last name, not the first (the preview said "Hi Ana" for a campaign that
    would send "Hi Bulk12"). Same for a per-channel override's own greeting."""
    bulk_customers(30)
    last = {"kind": "reminder", "template": "statement_ready", "fields": {"push_name": "last_name"}}
    body = spec(audience={"segment": "affluent"}, control_pct=0,
                variants=[{"name": "A", "split": 100, "message": last}])
    preview = client.post("/marketing/campaigns/dry-run", json=body, headers=auth()).json()
    assert preview["messages"], preview
    for m in preview["messages"]:
        assert m["text"].startswith("Hi Bulk"), m["text"]
    # a rendered greeting is a name: never next to the customer's number (marketing searches without names)
    assert all("customer_id" not in m for m in preview["messages"]), preview["messages"][0]
    first = {"kind": "reminder", "template": "statement_ready"}
    body = spec(audience={"segment": "affluent"}, control_pct=0,
                variants=[{"name": "A", "split": 100, "message": first, "messages": {"socketio": last}}])
    preview = client.post("/marketing/campaigns/dry-run", json=body, headers=auth()).json()
    assert all(m["text"].startswith("Hi Ana") for m in preview["messages"])  # no channel: the default's greeting
    assert campaigns_written() == (0, 0, 0)


def test_schedule_now_sends_once_with_a_stratified_control_group_and_audit(client: TestClient) -> None:
    bulk_customers(300)  # 100 per segment
    body = spec(audience={"segment": None, "min_churn": 0.0}, control_pct=10)
    created = client.post("/marketing/campaigns", json=body, headers=auth())
    assert created.status_code == 201, created.text
    cid = created.json()["id"]
    assert created.json()["state"] == "draft" and created.json()["audience_size"] == 300
    done = client.post(f"/marketing/campaigns/{cid}/schedule", headers=auth()).json()
    assert done["state"] == "done", done
    assert done["counts"] == {"delivered": 270, "control": 30}
    log = rows(cid)
    assert len({r.customer_id for r in log}) == len(log) == 300
    per_segment = {seg: sum(1 for r in log if r.stratum == seg and r.variant == "control")
                   for seg in ("affluent", "young_savers", "families")}
    assert per_segment == {"affluent": 10, "young_savers": 10, "families": 10}
    arms = {v: sum(1 for r in log if r.variant == v) for v in ("A", "B")}
    assert arms == {"A": 135, "B": 135}
    actions = [(e["actor"], e["action"], e["to"]) for e in done["events"]]
    assert actions == [("staff:marketing-user", "created", "draft"), ("staff:marketing-user", "schedule", "scheduled"),
                       ("system:campaign-worker", "start", "running"), ("system:campaign-worker", "finish", "done")]
    # a task delivered twice (at-least-once queues) sends nothing more
    assert send_batch(cid, 0, 0) == {}
    plan = plan_campaign(cid)
    assert plan.created is False and campaigns_written()[2] == 300
    again = client.post(f"/marketing/campaigns/{cid}/schedule", headers=auth())
    assert again.status_code == 409


def test_schedule_and_resume_answer_when_the_queue_is_down_and_the_sweeper_runs_them_later(
        client: TestClient, monkeypatch: pytest.MonkeyPatch) -> None:
    """The queue (Redis in production) is down when marketing presses Schedule: the state change is committed
    and audited, so the answer is the campaign, ``scheduled`` (it was a 500 while the campaign had moved, and a
    second try got 409); the worker's sweeper plans it once the queue is back (the database is the truth, the
    task only a nudge). Same for resume: its batches are queued again by the sweeper."""
    bulk_customers(30)
    cid = client.post("/marketing/campaigns", json=spec(), headers=auth()).json()["id"]

    def down(*args: Any, **kwargs: Any) -> None:
        raise ConnectionError("Error 111 connecting to 127.0.0.1:6379. Connection refused.")

    monkeypatch.setattr("api.routes.marketing_campaigns.enqueue_plan", down)
    monkeypatch.setattr("api.routes.marketing_campaigns.enqueue_batches", down)
    answer = client.post(f"/marketing/campaigns/{cid}/schedule", headers=auth())
    assert answer.status_code == 200, answer.text
    assert answer.json()["state"] == "scheduled" and rows(cid) == []
    page = client.post(f"/staff/campaigns/{cid}/pause", headers=auth() | {"Origin": "http://testserver"},
                       follow_redirects=False)
    assert page.status_code == 409  # the page answers too (not running yet)
    monkeypatch.undo()
    sweep(min_age_minutes=0)  # the queue is back: the worker's sweep plans it (tasks run inline here)
    done = client.get(f"/marketing/campaigns/{cid}", headers=auth()).json()
    assert done["state"] == "done" and done["counts"] == {"delivered": 9, "control": 1}, done


def test_state_machine_refuses_illegal_moves(client: TestClient) -> None:
    bulk_customers(6)
    cid = client.post("/marketing/campaigns", json=spec(schedule={"kind": "at", "at": (
        datetime.now(UTC) + timedelta(days=1)).isoformat()}), headers=auth()).json()["id"]
    assert client.post(f"/marketing/campaigns/{cid}/pause", headers=auth()).status_code == 409
    assert client.post(f"/marketing/campaigns/{cid}/schedule", headers=auth()).json()["state"] == "scheduled"
    assert rows(cid) == []  # planned by the sweeper at its time, not now
    assert client.post(f"/marketing/campaigns/{cid}/cancel", headers=auth()).json()["state"] == "done"
    assert client.post(f"/marketing/campaigns/{cid}/resume", headers=auth()).status_code == 409
    assert client.post(f"/marketing/campaigns/{cid}/explode", headers=auth()).status_code == 422
    assert client.get("/marketing/campaigns/999999", headers=auth()).status_code == 404


def _planned(client: TestClient, n: int = 30, **over: Any) -> int:
    bulk_customers(n)
    cid = int(client.post("/marketing/campaigns", json=spec(**over), headers=auth()).json()["id"])
    transition(cid, "schedule", actor="staff:test")  # no queue: the test drives the batches
    plan_campaign(cid)
    return cid


def test_consent_and_channel_are_checked_again_at_send_time(client: TestClient) -> None:
    body = spec(audience={"segment": "affluent", "consent": "marketing"}, control_pct=0,
                variants=[{"name": "A", "split": 100, "message": {"kind": "reminder", "template": "statement_ready"}}])
    cid = _planned(client, 30, **body)
    log = rows(cid)
    assert len(log) == 10 and {r.status for r in log} == {"queued"}
    withdrawn, unlinked = log[0].customer_id, log[1].customer_id
    set_consent(withdrawn, "marketing", "telegram", False, source="telegram", actor="customer:x")
    with session_scope() as s:
        s.execute(delete(MessengerLink).where(MessengerLink.customer_id == unlinked))
    send_batch(cid, 0, 0)
    status = {r.customer_id: (r.status, r.reason) for r in rows(cid)}
    assert status[withdrawn][0] == "no_consent" and "telegram" in (status[withdrawn][1] or "")
    assert status[unlinked][0] == "no_channel"
    assert sum(1 for s_, _ in status.values() if s_ == "delivered") == 8


def test_quiet_hours_hold_the_message_until_the_window_opens(
        client: TestClient, override_settings: Callable[..., None]) -> None:
    now = utcnow()
    hour = now.astimezone(ZoneInfo("Europe/Lisbon")).hour
    cid = _planned(client, 9, control_pct=0)
    override_settings(**NO_SEND_RATE, campaign_sender="record", quiet_hours_start=hour, quiet_hours_end=(hour + 1) % 24)
    send_batch(cid, 0, 0)
    log = rows(cid)
    assert {r.status for r in log} == {"held"}
    opens = log[0].next_attempt_at
    assert opens is not None and opens > now and opens.astimezone(ZoneInfo("Europe/Lisbon")).hour == (hour + 1) % 24
    assert delivery.due_recipients(cid, 0, 0, now) == []  # not before the window opens
    spec_ = load_spec(cid)
    for recipient in delivery.due_recipients(cid, 0, 0, opens):
        assert send_one(spec_, recipient, client=None, now=opens) == "delivered"
    assert {r.status for r in rows(cid)} == {"delivered"}


def test_frequency_cap_across_campaigns(client: TestClient, override_settings: Callable[..., None]) -> None:
    override_settings(**NO_SEND_RATE, campaign_sender="record", quiet_hours_start=0, quiet_hours_end=0, campaign_frequency_cap=1)
    reset_queue()
    get_queue().immediate = True
    bulk_customers(9)
    one = client.post("/marketing/campaigns", json=spec(control_pct=0), headers=auth()).json()["id"]
    two = client.post("/marketing/campaigns", json=spec(control_pct=0), headers=auth()).json()["id"]
    assert client.post(f"/marketing/campaigns/{one}/schedule", headers=auth()).json()["counts"] == {"delivered": 3}
    second = client.post(f"/marketing/campaigns/{two}/schedule", headers=auth()).json()
    assert second["counts"] == {"capped": 3}
    log = client.get(f"/marketing/campaigns/{two}/deliveries?status=capped", headers=auth()).json()
    assert len(log) == 3 and "frequency cap" in log[0]["reason"]


def test_report_counts_conversions_of_both_groups(client: TestClient) -> None:
    bulk_customers(300)
    cid = client.post("/marketing/campaigns", json=spec(audience={"min_churn": 0.0}), headers=auth()).json()["id"]
    client.post(f"/marketing/campaigns/{cid}/schedule", headers=auth())
    log = rows(cid)
    treated = [r.customer_id for r in log if r.variant != "control"]
    control = [r.customer_id for r in log if r.variant == "control"]
    later = utcnow() + timedelta(minutes=1)
    with session_scope() as s:
        for customer in treated[:81] + control[:3]:
            s.add(OfferEvent(customer_id=customer, product="term_deposit", outcome="accepted", channel="telegram",
                             created_at=later))
        s.add(OfferEvent(customer_id=control[3], product="savings_account", outcome="accepted", channel="web",
                         created_at=later))  # another product: not this goal
    out = client.get(f"/marketing/campaigns/{cid}/report", headers=auth()).json()
    u = out["uplift"]
    assert (u["x_treatment"], u["n_treatment"], u["x_control"], u["n_control"]) == (81, 270, 3, 30)
    assert u["uplift"] == pytest.approx(0.3 - 0.1)
    assert u["ci_low"] < 0.2 < u["ci_high"] and u["ci_low"] > 0  # significant
    assert u["significant"] is True and u["p_value"] < 0.05
    assert out["funnel"]["control"]["delivered"] == 0
    assert out["funnel"]["A"]["targeted"] + out["funnel"]["B"]["targeted"] == 270
    # each arm against the same control group, with its own interval and test
    assert set(out["variants"]) == {"A", "B"}
    for arm in ("A", "B"):
        v, f = out["variants"][arm], out["funnel"][arm]
        assert (v["x_treatment"], v["n_treatment"], v["x_control"], v["n_control"]) == (f["converted"], f["targeted"], 3, 30)
        assert v["ci_low"] < v["uplift"] < v["ci_high"] and v["p_value"] is not None
    assert sum(out["variants"][a]["x_treatment"] for a in ("A", "B")) == 81


def test_channel_errors_are_retried_with_backoff_then_failed(
        client: TestClient, override_settings: Callable[..., None]) -> None:
    # the real sender, Rasa down (nothing listens on port 1): channel_error, retried, then failed
    override_settings(campaign_sender="rasa", rasa_url="http://127.0.0.1:1", quiet_hours_start=0, quiet_hours_end=0)
    cid = _planned(client, 3, control_pct=0)
    send_batch(cid, 0, 0)
    (row,) = rows(cid)
    assert (row.status, row.attempts) == ("queued", 1) and "Rasa unreachable" in (row.reason or "")
    assert row.next_attempt_at is not None and row.next_attempt_at > utcnow()
    spec_ = load_spec(cid)
    for expected in ("queued", "failed"):
        (recipient,) = delivery.due_recipients(cid, 0, 0, row.next_attempt_at + timedelta(minutes=5))
        assert send_one(spec_, recipient, client=httpx.Client(timeout=2), now=utcnow()) == expected
        (row,) = rows(cid)
    assert (row.status, row.attempts) == ("failed", 3)
    with session_scope() as s:  # every attempt is in the push log too
        assert s.scalar(select(func.count()).select_from(PushDelivery).where(
            PushDelivery.status == "channel_error")) == 3


def test_a_send_interrupted_mid_way_becomes_unknown_and_is_never_retried(client: TestClient) -> None:
    cid = _planned(client, 3, control_pct=0)
    (row,) = rows(cid)
    assert delivery.claim(row.id, row.customer_id, "telegram", record_only=False) == "sending"
    assert delivery.claim(row.id, row.customer_id, "telegram", record_only=False) is None  # a second worker
    assert delivery.expire_sending(utcnow()) == 0  # not stale yet
    assert delivery.expire_sending(utcnow() + timedelta(minutes=10)) == 1
    (row,) = rows(cid)
    assert row.status == "unknown"
    assert delivery.pending_batches(utcnow() + timedelta(hours=1)) == []


def test_cancel_gives_every_pending_row_a_final_status(client: TestClient) -> None:
    """A paused campaign cancelled half way is ``done``, and so is its log: the rows still queued (or held, or
    throttled) become ``cancelled`` with the reason and who did it, not ``queued``/``held`` forever in a
    finished campaign (the page showed "held 45" for a cancelled campaign); rows already final keep theirs, and
    nothing is sent afterwards, by a task still in the queue or by the sweeper."""
    cid = _planned(client, 30, control_pct=0)
    first = rows(cid)[0]
    spec_ = load_spec(cid)
    send_one(spec_, delivery.due_recipients(cid, 0, first.batch, utcnow())[0], client=None, now=utcnow())
    assert client.post(f"/marketing/campaigns/{cid}/pause", headers=auth()).json()["state"] == "paused"
    cancelled = client.post(f"/marketing/campaigns/{cid}/cancel", headers=auth()).json()
    assert cancelled["state"] == "done"
    assert cancelled["counts"] == {"delivered": 1, "cancelled": 9}, cancelled["counts"]
    log = {r.status: r for r in rows(cid)}
    assert log["cancelled"].reason == "campaign cancelled by staff:marketing-user"
    assert send_batch(cid, 0, first.batch) == {} and sweep(min_age_minutes=0) is not None
    assert Counter(r.status for r in rows(cid)) == {"delivered": 1, "cancelled": 9}
    report = client.get(f"/marketing/campaigns/{cid}/report", headers=auth()).json()
    treated = [f for g, f in report["funnel"].items() if g != "control"]
    assert sum(f["targeted"] for f in treated) == 10 and sum(f["delivered"] for f in treated) == 1  # still treated


def test_pause_stops_sending_and_resume_sends_the_rest(client: TestClient) -> None:
    cid = _planned(client, 30, control_pct=0)
    assert client.post(f"/marketing/campaigns/{cid}/pause", headers=auth()).json()["state"] == "paused"
    assert send_batch(cid, 0, 0) == {}
    assert {r.status for r in rows(cid)} == {"queued"}
    resumed = client.post(f"/marketing/campaigns/{cid}/resume", headers=auth()).json()  # queues the batches
    assert resumed["state"] == "done" and resumed["counts"] == {"delivered": 10}
    assert [e["action"] for e in resumed["events"]][-3:] == ["pause", "resume", "finish"]
