"""Per-channel send rate limits over a real database (both backends) with the `limits` library: with a tiny
rate every recipient is eventually delivered exactly once, held as `throttled` (never failed, never dropped)
while the window is full, and no second holds more sends than the rate; with Redis, worker processes share the
count."""

from __future__ import annotations

import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine, select

from api.campaign_queue import get_queue, reset_queue, send_batch
from profiles import ratelimit
from profiles.campaigns import delivery
from profiles.campaigns.models import CampaignDelivery
from profiles.campaigns.spec import CampaignSpec
from profiles.campaigns.store import create_campaign, get_campaign, transition
from profiles.db import session_scope
from profiles.settings import ROOT
from tests.profiles.campaign_data import bulk_customers

N = 10
RATE = 3


@pytest.fixture
def queue(db: Engine, override_settings: Callable[..., None], tmp_path: Path) -> Iterator[None]:
    override_settings(campaign_sender="record", quiet_hours_start=0, quiet_hours_end=0, campaign_frequency_cap=100,
                      campaign_rate_telegram=f"{RATE}/second", campaign_queue_file=tmp_path / "q.db",
                      campaign_queue_name=f"rate-{uuid.uuid4().hex[:8]}")
    ratelimit.namespace_salt = uuid.uuid4().hex  # counts of this test only
    ratelimit.reset()
    reset_queue()
    get_queue().immediate = True
    yield
    reset_queue()
    ratelimit.namespace_salt = ""


def _rows(cid: int) -> list[CampaignDelivery]:
    with session_scope() as s:
        return list(s.scalars(select(CampaignDelivery).where(CampaignDelivery.campaign_id == cid)))


def test_tiny_rate_delivers_everyone_once_at_the_rate(queue: None) -> None:
    bulk_customers(N)
    spec = CampaignSpec.model_validate({
        "name": f"rate-{uuid.uuid4().hex[:6]}", "goal": {"conversion": "profile_updated"},
        "audience": {"min_churn": 0.0},
        "variants": [{"name": "A", "split": 100, "message": {"kind": "reminder", "template": "update_contact"}}],
        "control_pct": 0})
    cid = create_campaign(spec, actor="staff:test").id
    transition(cid, "schedule", actor="staff:test")
    get_queue()  # plan + first pass inline (immediate): RATE sent, the next one throttled, the rest still queued
    from api.campaign_queue import enqueue_plan
    enqueue_plan(cid)
    first = {r.status for r in _rows(cid)}
    assert "throttled" in first and "failed" not in first
    throttled = [r for r in _rows(cid) if r.status == "throttled"]
    assert len(throttled) == 1 and "send rate of telegram" in (throttled[0].reason or "")
    assert throttled[0].next_attempt_at is not None
    assert sum(r.status == "delivered" for r in _rows(cid)) == RATE
    deadline = time.monotonic() + 30
    while delivery.unfinished(cid) and time.monotonic() < deadline:  # the re-queued task, when it is due
        time.sleep(0.1)
        send_batch(cid, 0, 0)
    rows = _rows(cid)
    assert len(rows) == len({r.customer_id for r in rows}) == N
    assert {r.status for r in rows} == {"delivered"} and all(r.attempts == 1 for r in rows)
    assert get_campaign(cid).state == "done"
    sent = sorted(r.sent_at for r in rows if r.sent_at is not None)
    assert len(sent) == N
    for i in range(len(sent) - RATE):  # any RATE + 1 consecutive sends span at least a second
        assert sent[i + RATE] - sent[i] >= timedelta(seconds=0.95), (i, sent)
    assert sent[-1] - sent[0] >= timedelta(seconds=(N - 1) // RATE * 0.95)


def test_no_rate_setting_means_no_limit(queue: None, override_settings: Callable[..., None]) -> None:
    override_settings(campaign_rate_telegram="")
    assert all(ratelimit.campaign_send_wait("telegram") == 0.0 for _ in range(50))
    override_settings(campaign_rate_telegram="2/minute")
    assert [ratelimit.campaign_send_wait("telegram") == 0.0 for _ in range(3)] == [True, True, False]
    assert ratelimit.campaign_send_wait("telegram") > 1  # seconds until the window has room
    assert ratelimit.campaign_send_wait("facebook") == 0.0  # its own count


def test_workers_share_one_count_through_redis(queue: None, override_settings: Callable[..., None],
                                               test_redis_url: str) -> None:
    """Production mode: another worker process's sends count against this one's (one Redis count per channel)."""
    salt = uuid.uuid4().hex
    override_settings(redis_url=test_redis_url, campaign_rate_facebook="3/minute")
    ratelimit.namespace_salt = salt
    code = ("import sys; from profiles import ratelimit; ratelimit.namespace_salt = sys.argv[1]; "
            "print([ratelimit.campaign_send_wait('facebook') for _ in range(2)])")
    other = subprocess.run([sys.executable, "-c", code, salt], cwd=ROOT, capture_output=True, text=True, timeout=60,
                           check=False)
    assert other.returncode == 0, other.stderr[-2000:]
    assert other.stdout.strip() == "[0.0, 0.0]"  # the other worker sent two
    assert ratelimit.campaign_send_wait("facebook") == 0.0  # the third of the minute
    assert ratelimit.campaign_send_wait("facebook") > 1  # the fourth waits, whichever worker asks
