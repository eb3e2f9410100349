"""GET /handoffs and /leads: staff find what the bot passed on, behind staff tokens with roles."""

from __future__ import annotations

import re
from collections.abc import Iterator

import jwt
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from api.main import app
from profiles import conversation_ref, create_handoff, issue_staff_token, issue_token, record_offer
from profiles.seed import seed


@pytest.fixture
def client(db: Engine) -> Iterator[TestClient]:
    seed(3, progress=False)
    create_handoff(customer_id=None, sender_id="web-anon", channel="rest", reason="I want a human")
    create_handoff(customer_id=2, sender_id="web-2", channel="socketio", reason="card stuck in ATM")
    record_offer(1, "credit_card", "accepted", channel="rest")
    record_offer(2, "mortgage", "declined", channel="rest")
    with TestClient(app) as c:
        yield c


def auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def test_staff_see_open_handoffs_in_queue_order(client: TestClient) -> None:
    response = client.get("/handoffs", headers=auth(issue_staff_token("ana", "staff")))
    assert response.status_code == 200
    rows = response.json()
    assert [(r["conversation"], r["customer_id"], r["status"]) for r in rows] == [
        (conversation_ref("web-anon"), None, "open"), (conversation_ref("web-2"), 2, "open")]
    assert "web-anon" not in response.text and "web-2" not in response.text  # never Rasa's sender id
    assert all(re.fullmatch(r"c-[0-9a-f]{20}", r["conversation"]) for r in rows)
    assert rows[1]["reason"] == "card stuck in ATM"


def test_leads_are_only_accepted_offers(client: TestClient) -> None:
    response = client.get("/leads", headers=auth(issue_staff_token("mia", "marketing")))
    assert response.status_code == 200
    assert [(r["customer_id"], r["product"]) for r in response.json()] == [(1, "credit_card")]


@pytest.mark.parametrize(
    ("headers", "status"),
    [
        ({}, 401),
        ({"Authorization": "Bearer garbage"}, 401),
        ("customer", 401),
        ("forged", 401),
        ("marketing", 403),
    ],
    ids=["none", "garbage", "customer-token", "forged", "wrong-role"],
)
def test_handoffs_need_a_staff_role(client: TestClient, headers: object, status: int) -> None:
    if headers == "customer":
        headers = auth(issue_token(1))
    elif headers == "forged":
        claims = {"sub": "eve", "role": "admin", "aud": "staff", "iss": "atlantic-bank", "exp": 4102444800}
        headers = auth(jwt.encode(claims, "not-the-secret-but-long-enough-000000", algorithm="HS256"))
    elif headers == "marketing":
        headers = auth(issue_staff_token("mia", "marketing"))
    response = client.get("/handoffs", headers=headers)  # type: ignore[arg-type]
    assert response.status_code == status
    assert "web-2" not in response.text


def test_bad_query_is_422(client: TestClient) -> None:
    token = auth(issue_staff_token("ana", "admin"))
    assert client.get("/handoffs?limit=0", headers=token).status_code == 422
    assert client.get("/handoffs?status=weird", headers=token).status_code == 422
