"""Audience by the recommender's propensity for a product (issue 14 §3) over a real database (both backends): the
score range of ``recommender.batch_scores`` among the customers its one offer gate finds eligible (consent,
products held, cool-off), at planning and in the dry run; 422s for a bad range with nothing written. The product
is the savings account, which the recommender scores by its hand-set rule (0.10 + 0.15 x balance / €3,000), so no
trained model is needed."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from datetime import timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, func, insert, select

from api.campaign_queue import get_queue, reset_queue
from api.main import app
from profiles.campaigns.models import Campaign, CampaignDelivery
from profiles.db import session_scope
from profiles.models import Account, OfferEvent, utcnow
from profiles.staff import issue_staff_token
from tests.profiles.campaign_data import bulk_customers

NO_SEND_RATE = {"campaign_rate_telegram": "", "campaign_rate_facebook": "", "campaign_rate_web": ""}
AUTH = {"Authorization": f"Bearer {issue_staff_token('marketing-user', 'marketing')}"}


@pytest.fixture
def client(db: Engine, override_settings: Callable[..., None], tmp_path: Path) -> Iterator[TestClient]:
    override_settings(**NO_SEND_RATE, campaign_sender="record", quiet_hours_start=0, quiet_hours_end=0,
                      campaign_frequency_cap=100, campaign_queue_file=tmp_path / "q.db",
                      campaign_queue_name=f"p-{uuid.uuid4().hex[:8]}")
    reset_queue()
    get_queue().immediate = True
    with TestClient(app) as c:
        yield c
    reset_queue()


def account(customer_id: int, kind: str, balance: str) -> None:
    with session_scope() as s:
        s.execute(insert(Account).values(customer_id=customer_id, kind=kind, name=kind, balance=Decimal(balance),
                                         number=f"PT50{uuid.uuid4().int % 10**21:021d}"))


def spec(**propensity: Any) -> dict[str, Any]:
    return {"name": f"prop-{uuid.uuid4().hex[:6]}", "goal": {"conversion": "offer_accepted",
                                                             "product": "savings_account"},
            "audience": {"min_churn": 0.0, "propensity": {"product": "savings_account"} | propensity},
            "variants": [{"name": "A", "split": 100, "message": {"kind": "offer", "product": "savings_account"}}],
            "control_pct": 0}


def test_the_audience_is_the_score_range_among_eligible_customers(client: TestClient) -> None:
    poor, middle, rich, saver, declined = bulk_customers(5)
    [no_consent] = bulk_customers(1, consent=False)
    account(poor, "current", "0.00")  # score 0.10 + 0 = 0.0 (no balance: the rule gives 0)
    account(middle, "current", "1500.00")  # 0.175
    account(rich, "current", "6000.00")  # 0.25
    account(saver, "current", "6000.00")
    account(saver, "savings", "10.00")  # holds the product: not eligible
    account(declined, "current", "6000.00")
    account(no_consent, "current", "6000.00")  # no marketing consent: the gate refuses
    with session_scope() as s:  # declined it yesterday: cooling off
        s.add(OfferEvent(customer_id=declined, product="savings_account", outcome="declined", channel="telegram",
                         created_at=utcnow() - timedelta(days=1)))

    body = spec(min=0.15)
    preview = client.post("/marketing/campaigns/dry-run", json=body, headers=AUTH)
    assert preview.status_code == 200, preview.text
    assert preview.json()["audience"] == 2
    cid = client.post("/marketing/campaigns", json=body, headers=AUTH).json()["id"]
    client.post(f"/marketing/campaigns/{cid}/schedule", headers=AUTH)
    with session_scope() as s:
        planned = set(s.scalars(select(CampaignDelivery.customer_id).where(CampaignDelivery.campaign_id == cid)))
    assert planned == {middle, rich}

    narrow = spec(min=0.15, max=0.2)  # the middle only
    assert client.post("/marketing/campaigns/dry-run", json=narrow, headers=AUTH).json()["audience"] == 1


@pytest.mark.parametrize(("propensity", "loc"), [
    ({"product": "yacht"}, ["body", "audience", "propensity"]),
    ({"min": 0.5, "max": 0.2}, ["body", "audience", "propensity"]),
    ({"min": 1.5}, ["body", "audience", "propensity", "min"]),
])
def test_a_bad_propensity_filter_is_422_and_nothing_is_written(
        client: TestClient, propensity: dict[str, Any], loc: list[str]) -> None:
    bulk_customers(1)
    r = client.post("/marketing/campaigns", json=spec(**propensity), headers=AUTH)
    assert r.status_code == 422, r.text
    assert r.json()["detail"][0]["loc"] == loc
    with session_scope() as s:
        assert s.scalar(select(func.count()).select_from(Campaign)) == 0
