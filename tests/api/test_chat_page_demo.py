"""The web chat's demo log-in: development only, and only for the demo customers 1..5 (``profiles.demo``)."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from api.main import app
from profiles.identity import verify_token
from profiles.seed import seed

TOKEN = re.compile(r'data-token="([^"]*)"')


@pytest.fixture
def client(db: Engine) -> Iterator[TestClient]:
    seed(15, progress=False)
    with TestClient(app) as c:
        yield c


def _token(html: str) -> str:
    found = TOKEN.search(html)
    assert found is not None
    return found.group(1)


def test_demo_log_in_only_for_demo_customers(client: TestClient) -> None:
    page = client.get("/chat?demo_customer=5")
    assert page.status_code == 200 and verify_token(_token(page.text)) == 5
    refused = client.get("/chat?demo_customer=12")  # customer 12 exists, but is not a demo customer
    assert refused.status_code == 404
    assert _token(refused.text) == ""
    assert "only for the demo customers 1-5" in refused.text


def test_no_demo_log_in_outside_development(client: TestClient, override_settings: Callable[..., None]) -> None:
    override_settings(environment="production", jwt_secret="p" * 40, rasa_token="r" * 40)
    refused = client.get("/chat?demo_customer=1")
    assert refused.status_code == 404
    assert _token(refused.text) == "" and "only in development" in refused.text
