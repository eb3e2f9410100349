"""GET /customers/{id}/recommendations over a real database (both backends) and a registry trained on samples of
the real data: roles, 404/422, the engine's rules (consent, held, declined), filters, access log."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, select

import profiles
from api.main import app
from profiles.db import session_scope
from profiles.identity import issue_token
from profiles.models import AccessLog
from profiles.staff import issue_staff_token
from recommender import registry, suggest_offer
from recommender.catalogue import PRODUCT_IDS
from recommender.tasks import PRODUCT_TASK
from tests.recommender.conftest import add_customer, hold, model_registry, trained  # noqa: F401 (fixtures)

URL = "/customers/{cid}/recommendations"


@pytest.fixture
def client(db: Engine, model_registry: Path, override_settings: Callable[..., None]) -> Iterator[TestClient]:  # noqa: F811
    override_settings(rasa_url="http://127.0.0.1:1", redis_url="", events_db_url="sqlite:////nonexistent/e.db")
    with TestClient(app) as c:
        yield c


def auth(role: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {issue_staff_token(f'{role}-user', role)}"}


def get(client: TestClient, cid: int, role: str | None = "staff", **params: Any) -> Any:
    return client.get(URL.format(cid=cid), headers=auth(role) if role else {}, params=params)


@pytest.mark.parametrize("role", ["staff", "marketing", "admin"])
def test_staff_marketing_and_admin_get_ranked_offers_with_reason_value_and_version(
    client: TestClient, role: str
) -> None:
    cid = add_customer(balance="5000.00", age=45)
    response = get(client, cid, role, k=3)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["customer_id"] == cid and body["k"] == 3 and body["marketing_consent"] is True
    recs = body["recommendations"]
    assert 1 <= len(recs) <= 3
    values = [r["expected_value"] for r in recs]
    assert values == sorted(values, reverse=True)
    for r in recs:
        assert r["product"] in PRODUCT_IDS and r["title"] and r["reason"].endswith(".")
        assert 0 <= r["propensity"] <= 1 and r["currency"] == "EUR"
        if r["product"] in PRODUCT_TASK:
            assert r["scored_by"] == "model" and r["model"] == PRODUCT_TASK[r["product"]]
            assert r["model_version"] == registry.promoted_version(PRODUCT_TASK[r["product"]])
        else:
            assert r["scored_by"] == "rule" and r["model_version"] is None
    offer = suggest_offer(cid)  # the bot's suggestion: the same engine
    assert offer is not None and recs[0]["product"] == offer.product


def test_tokens_are_required(client: TestClient) -> None:
    cid = add_customer()
    assert get(client, cid, role=None).status_code == 401
    customer_token = {"Authorization": f"Bearer {issue_token(cid)}"}  # a customer's token is not a staff token
    assert client.get(URL.format(cid=cid), headers=customer_token).status_code == 401


def test_unknown_customer_is_404_and_bad_ids_are_422(client: TestClient) -> None:
    response = get(client, 987_654)
    assert response.status_code == 404 and "detail" in response.json()
    assert get(client, 0).status_code == 422
    assert client.get("/customers/abc/recommendations", headers=auth("staff")).status_code == 422


@pytest.mark.parametrize("k", ["0", "7", "-1", "three", "1.5"])
def test_bad_k_is_422(client: TestClient, k: str) -> None:
    cid = add_customer()
    response = get(client, cid, k=k)
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["query", "k"]


def test_unknown_product_is_422_with_the_valid_ids(client: TestClient) -> None:
    cid = add_customer()
    response = get(client, cid, product="yacht_loan")
    assert response.status_code == 422
    detail = response.json()["detail"][0]
    assert detail["loc"] == ["query", "product"]
    assert all(p in detail["msg"] for p in PRODUCT_IDS)


def test_product_filter_returns_only_that_product(client: TestClient) -> None:
    cid = add_customer(balance="5000.00")
    every = get(client, cid, k=6).json()["recommendations"]
    assert every
    first = every[0]["product"]
    only = get(client, cid, product=first).json()["recommendations"]
    assert [r["product"] for r in only] == [first]
    assert only[0] == every[0]
    held = get(client, cid, product="current_account").json()["recommendations"]  # held: never offered
    assert held == []


def test_version_must_be_the_promoted_one(client: TestClient) -> None:
    cid = add_customer()
    promoted = registry.promoted_version("term_deposit")
    assert promoted is not None
    assert get(client, cid, version=promoted).status_code == 200
    response = get(client, cid, version="19990101T000000Z")
    assert response.status_code == 422
    detail = response.json()["detail"][0]
    assert detail["loc"] == ["query", "version"] and promoted in detail["msg"]


def test_no_consent_gives_an_empty_list(client: TestClient) -> None:
    cid = add_customer(consent=False)
    body = get(client, cid).json()
    assert body["marketing_consent"] is False and body["recommendations"] == []


def test_held_and_declined_products_are_never_recommended(client: TestClient) -> None:
    holder, decliner = add_customer(balance="5000.00"), add_customer(balance="5000.00")
    first = get(client, holder, k=6).json()["recommendations"][0]["product"]
    assert get(client, decliner, k=6).json()["recommendations"][0]["product"] == first  # the same profile
    hold(holder, first)
    profiles.record_offer(decliner, first, "declined", channel="web")
    for cid in (holder, decliner):
        assert first not in [r["product"] for r in get(client, cid, k=6).json()["recommendations"]]


@pytest.mark.parametrize(
    "attrs",
    [
        {"job": "unknown", "marital": "unknown", "education": "unknown", "balance": "0.00"},
        {"job": "", "marital": "", "education": "", "age": 80},  # empty: treated as missing
        {"job": "astronaut", "marital": "complicated", "education": "phd", "age": 19, "balance": "-250.00"},
    ],
)
def test_missing_attributes_give_a_ranked_eligible_list_or_none_never_an_error(
    client: TestClient, attrs: dict[str, Any]
) -> None:
    from recommender.scoring import is_eligible

    cid = add_customer(**attrs)
    response = get(client, cid, k=6)
    assert response.status_code == 200, response.text
    recs = response.json()["recommendations"]
    view = profiles.get_customer(cid)
    held = profiles.products_held(cid)
    assert all(is_eligible(r["product"], view, consent=True, held=held) for r in recs)
    values = [r["expected_value"] for r in recs]
    assert values == sorted(values, reverse=True)


def test_each_read_is_in_the_access_log(client: TestClient) -> None:
    cid = add_customer()
    assert get(client, cid, "marketing", k=2).status_code == 200
    assert get(client, cid, role=None).status_code == 401  # refused: not logged
    with session_scope() as s:
        rows = s.execute(select(AccessLog.staff, AccessLog.role, AccessLog.action).where(AccessLog.customer_id == cid))
        assert [tuple(r) for r in rows] == [("marketing-user", "marketing", "recommendations")]
