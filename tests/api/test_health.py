"""GET /health reports whether the CRM database is reachable."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, create_engine

from api.main import app
from profiles.db import get_engine


@pytest.fixture
def client() -> Iterator[TestClient]:
    with TestClient(app) as c:
        yield c
    app.dependency_overrides.clear()


def test_health_ok_on_a_real_database(db: Engine, client: TestClient) -> None:
    response = client.get("/health")
    assert response.status_code == 200
    assert response.json() == {"status": "ok", "database": "ok", "database_dialect": db.dialect.name}


def test_health_503_when_the_database_is_unreachable(client: TestClient) -> None:
    # Nothing listens on port 1: the connection is refused at once.
    dead = create_engine("postgresql+psycopg://nobody@127.0.0.1:1/none", connect_args={"connect_timeout": 2})
    app.dependency_overrides[get_engine] = lambda: dead
    response = client.get("/health")
    assert response.status_code == 503
    assert response.json() == {"status": "degraded", "database": "unreachable", "database_dialect": "postgresql"}
    assert "nobody" not in response.text  # never the URL or credentials


def test_openapi_docs_are_served(client: TestClient) -> None:
    assert client.get("/docs").status_code == 200
    assert "/health" in client.get("/openapi.json").json()["paths"]
