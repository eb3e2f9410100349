"""Schemathesis over the whole API (every operation of the OpenAPI document), all checks on: no 500, every
status code and body documented, invalid input refused. Bounded: ``FUZZ_EXAMPLES`` (default 6; ``make test`` runs it so) examples per
operation, on SQLite with a few customers, Rasa "down" (a push is a channel_error, never a real message).
``make fuzz-api`` runs it with more examples."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_schema_conformance,
    status_code_conformance,
)
from sqlalchemy import Engine

from api.main import app
from profiles.staff import issue_staff_token
from tests.profiles.conftest import build_customer

EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "6"))

schema = schemathesis.openapi.from_asgi("/openapi.json", app)


@pytest.fixture
def fuzz_db(sqlite_db: Engine, override_settings: Callable[..., None]) -> Iterator[None]:
    override_settings(rasa_url="http://127.0.0.1:1", quiet_hours_start=0, quiet_hours_end=0)
    for _ in range(3):
        build_customer(consent=True)
    yield


# Not schemathesis' negative_data_rejection: it wants unknown query parameters refused, which no route does.
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]
FUZZ = settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)


@schema.parametrize()
@FUZZ
def test_api_conforms_to_its_openapi_document(case: schemathesis.Case, fuzz_db: None) -> None:
    """Valid and invalid input (schemathesis generates both) with an admin token (every route admits admin)."""
    case.call_and_validate(headers={"Authorization": f"Bearer {issue_staff_token('fuzz-admin', 'admin')}"},
                           checks=CHECKS)


@schema.parametrize()
@settings(FUZZ, max_examples=2)
def test_without_a_token_every_answer_is_documented(case: schemathesis.Case, fuzz_db: None) -> None:
    """No token (or whatever schemathesis makes up): 401 must be in the document (it was not for /handoffs)."""
    case.call_and_validate(checks=CHECKS)


def test_an_unparsable_body_is_a_documented_400_on_every_operation_with_a_body(fuzz_db: None) -> None:
    """Schemathesis only sends JSON: here every operation that takes a JSON body gets a truncated one and a
    non-UTF-8 one, and answers 400 (never 422 or 500), a status its OpenAPI entry lists."""
    from fastapi.testclient import TestClient

    document = app.openapi()
    headers = {"Authorization": f"Bearer {issue_staff_token('fuzz-admin', 'admin')}",
               "Content-Type": "application/json", "Origin": "http://testserver"}
    checked = 0
    with TestClient(app) as client:
        for path, item in document["paths"].items():
            for method, operation in item.items():
                if "application/json" not in (operation.get("requestBody") or {}).get("content", {}):
                    continue
                url = path.replace("{customer_id}", "1").replace("{", "").replace("}", "")
                for body in (b'{"email": ', b"\xff\xfe{}"):
                    response = client.request(method.upper(), url, content=body, headers=headers)
                    assert response.status_code == 400, (method, path, body, response.status_code, response.text)
                assert "400" in operation["responses"], (method, path)
                checked += 1
    assert checked >= 5  # the API has at least this many operations with a JSON body
