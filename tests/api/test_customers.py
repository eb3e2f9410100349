"""The customer 360 staff API over a real database (both backends): roles, status codes, audit and access-log
rows, nothing written on refused requests, erasure of the conversations in a real Redis tracker store."""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import jwt
import pytest
import redis
from fastapi.testclient import TestClient
from sqlalchemy import Engine, select

from api.main import app
from profiles.access import list_access
from profiles.conversation_ref import conversation_ref
from profiles.db import session_scope
from profiles.identity import issue_token
from profiles.models import AuditLog, Customer
from profiles.staff import issue_staff_token
from tests.profiles.conftest import audit_rows, snapshot
from tests.profiles.rich_customer import Rich, build_rich_customer


@pytest.fixture
def client(db: Engine, override_settings: Callable[..., None]) -> Iterator[TestClient]:
    # Never touch a Rasa server or an event broker that may be running on this machine: the erasure tests that
    # need one say so.
    override_settings(rasa_url="http://127.0.0.1:1", redis_url="", events_db_url="sqlite:////nonexistent/e.db")
    with TestClient(app) as c:
        yield c


@pytest.fixture
def rich(db: Engine) -> Rich:
    return build_rich_customer()


def auth(role: str, username: str | None = None) -> dict[str, str]:
    return {"Authorization": f"Bearer {issue_staff_token(username or f'{role}-user', role)}"}


def call(client: TestClient, method: str, url: str, headers: dict[str, str], body: Any = None) -> Any:
    return client.request(method, url, headers=headers, json=body)


# (name, method, url template, body)
ENDPOINTS: list[tuple[str, str, str, Any]] = [
    ("search_by_segment", "GET", "/customers?segment=affluent%20savers", None),
    ("search_by_name", "GET", "/customers?name=test", None),
    ("read_360", "GET", "/customers/{cid}", None),
    ("update", "PATCH", "/customers/{cid}", {"version": 1, "age": 45}),
    ("read_consents", "GET", "/customers/{cid}/consents", None),
    ("write_consent", "PUT", "/customers/{cid}/consents", {"purpose": "profiling", "granted": True}),
    ("timeline", "GET", "/customers/{cid}/timeline", None),
    ("add_note", "POST", "/customers/{cid}/notes", {"text": "called"}),
    ("export", "GET", "/customers/{cid}/export", None),
    ("access_log", "GET", "/customers/{cid}/access-log", None),
    ("erase", "DELETE", "/customers/{cid}", None),
    ("erasures", "GET", "/erasures?pending=true", None),
    ("retry_erasures", "POST", "/erasures/retry", None),
]
EXPECTED = {  # role -> endpoints it may use (the others: 403)
    "staff": {"search_by_segment", "search_by_name", "read_360", "update", "read_consents", "write_consent",
              "timeline", "add_note"},
    "marketing": {"search_by_segment"},
    "admin": {e[0] for e in ENDPOINTS},
}


@pytest.mark.parametrize("role", ["staff", "marketing", "admin"])
@pytest.mark.parametrize(("name", "method", "url", "body"), ENDPOINTS, ids=[e[0] for e in ENDPOINTS])
def test_roles(client: TestClient, rich: Rich, role: str, name: str, method: str, url: str, body: Any) -> None:
    before = snapshot()
    response = call(client, method, url.format(cid=rich.built.customer_id), auth(role), body)
    if name in EXPECTED[role]:
        assert response.status_code in (200, 201), response.text
    else:
        assert response.status_code == 403, response.text
        assert snapshot() == before  # a refused request writes nothing, not even an access-log row
        assert "Test" not in response.text


def _bad_credentials(customer_id: int) -> dict[str, dict[str, str]]:
    from profiles.settings import get_settings

    forged = {"sub": "eve", "role": "admin", "aud": "staff", "iss": "atlantic-bank", "exp": 4102444800}
    expired = {**forged, "exp": 1000}
    return {
        "none": {},
        "garbage": {"Authorization": "Bearer garbage"},
        "not-bearer": {"Authorization": f"Basic {issue_staff_token('ana', 'admin')}"},
        "customer-token": {"Authorization": f"Bearer {issue_token(customer_id)}"},
        "forged": {"Authorization": f"Bearer {jwt.encode(forged, 'not-the-secret-but-long-enough-000000', 'HS256')}"},
        "expired": {"Authorization": f"Bearer {jwt.encode(expired, get_settings().jwt_secret, 'HS256')}"},
    }


@pytest.mark.parametrize(("name", "method", "url", "body"), ENDPOINTS, ids=[e[0] for e in ENDPOINTS])
def test_no_valid_staff_token_is_401(client: TestClient, rich: Rich, name: str, method: str, url: str,
                                     body: Any) -> None:
    before = snapshot()
    for credential, headers in _bad_credentials(rich.built.customer_id).items():
        response = call(client, method, url.format(cid=rich.built.customer_id), headers, body)
        assert response.status_code == 401, credential
        assert response.headers["WWW-Authenticate"] == "Bearer"
        assert "Test" not in response.text
    assert snapshot() == before


@pytest.mark.parametrize(("name", "method", "url", "body"),
                         [e for e in ENDPOINTS if "{cid}" in e[2] and e[0] != "access_log"],
                         ids=[e[0] for e in ENDPOINTS if "{cid}" in e[2] and e[0] != "access_log"])
def test_unknown_customer_is_404(client: TestClient, rich: Rich, name: str, method: str, url: str, body: Any) -> None:
    before = snapshot()
    response = call(client, method, url.format(cid=999999), auth("admin"), body)
    assert response.status_code == 404, response.text
    assert response.json() == {"detail": "No customer with id 999999."}  # staff wording, not the customer's
    assert snapshot() == before


def test_360_answer_and_its_access_log_row(client: TestClient, rich: Rich) -> None:
    cid = rich.built.customer_id
    response = client.get(f"/customers/{cid}", headers=auth("staff", "bea"))
    assert response.status_code == 200
    assert response.headers["ETag"] == '"1"'
    body = response.json()
    assert body["id"] == cid and body["version"] == 1
    assert body["products"]["held"] == ["current_account", "mortgage", "savings_account"]
    assert body["products"]["loans"][0]["outstanding"] == "90000.00"
    assert body["scores"]["segment"] == "affluent savers"
    assert body["scores"]["model_versions"] == {"churn": "churn-v1", "clv": "clv-rule-1"}
    assert [i["id"] for i in body["recent_interactions"]] == list(reversed(rich.interaction_ids))
    assert rich.built.current_number not in response.text and rich.credit_card_number not in response.text
    log = list_access(cid, staff="bea")
    assert [(r.role, r.action) for r in log] == [("staff", "read_360")]


def test_every_read_is_logged(client: TestClient, rich: Rich) -> None:
    cid = rich.built.customer_id
    admin = auth("admin", "root")
    for url in (f"/customers/{cid}", f"/customers/{cid}/timeline?kind=offer", f"/customers/{cid}/consents",
                f"/customers/{cid}/export", "/customers?name=test"):
        assert client.get(url, headers=admin).status_code == 200
    actions = [r.action for r in reversed(list_access(cid, staff="root"))]
    assert actions == ["read_360", "timeline", "consents", "export", "search"]
    search_row = list_access(cid, staff="root")[0]
    assert search_row.detail == "filters: name"  # the filter names, never the values typed


def test_search_logs_one_read_per_hit_and_hides_contact_details_from_marketing(client: TestClient, db: Engine) -> None:
    a, b = build_rich_customer(), build_rich_customer(tag="-b")
    response = client.get("/customers?segment=affluent%20savers&max_churn=0.5", headers=auth("marketing", "mia"))
    assert response.status_code == 200
    items = response.json()["items"]
    assert [i["id"] for i in items] == [a.built.customer_id, b.built.customer_id]
    # the customer id, segment and scores only: no name, contact details or credit band
    assert all(set(i) == {"id", "segment", "churn_probability", "churn_band", "clv", "loyalty_score"} for i in items)
    assert items[0]["churn_probability"] == 0.12 and items[0]["segment"] == "affluent savers"
    assert "@example.com" not in response.text and "+351" not in response.text and "Test" not in response.text
    assert sorted(r.customer_id or 0 for r in list_access(staff="mia")) == [a.built.customer_id, b.built.customer_id]
    staff_view = client.get("/customers?segment=affluent%20savers", headers=auth("staff")).json()["items"]
    assert staff_view[0]["email"].endswith("@example.com") and staff_view[0]["first_name"] == "Test"
    assert "credit_band" in staff_view[0]


def test_marketing_may_not_page_through_every_customer(client: TestClient, rich: Rich) -> None:
    before = snapshot()
    response = client.get("/customers?limit=100", headers=auth("marketing"))
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["query", "segment"]
    assert snapshot() == before  # not even an access-log row
    assert client.get("/customers?min_clv=0", headers=auth("marketing")).status_code == 200


@pytest.mark.parametrize("query", ["name=test", "email=a@example.com", "phone=912345678"])
def test_marketing_may_not_look_people_up_by_contact_details(client: TestClient, rich: Rich, query: str) -> None:
    before = snapshot()
    response = client.get(f"/customers?{query}", headers=auth("marketing"))
    assert response.status_code == 403
    assert snapshot() == before


def test_search_pages(client: TestClient, db: Engine) -> None:
    ids = [build_rich_customer(tag=f"-{n}").built.customer_id for n in range(3)]
    first = client.get("/customers?limit=2", headers=auth("staff")).json()
    assert [i["id"] for i in first["items"]] == ids[:2] and first["next_after_id"] == ids[1]
    second = client.get(f"/customers?limit=2&after_id={first['next_after_id']}", headers=auth("staff")).json()
    assert [i["id"] for i in second["items"]] == ids[2:] and second["next_after_id"] is None
    by_offset = client.get("/customers?limit=2&offset=2", headers=auth("staff")).json()
    assert [i["id"] for i in by_offset["items"]] == ids[2:]


@pytest.mark.parametrize(
    ("method", "url", "body", "headers", "where"),
    [
        ("PATCH", "/customers/{cid}", {"version": 1, "email": "not-an-email"}, {}, ["body", "email"]),
        ("PATCH", "/customers/{cid}", {"version": 1, "age": 45, "phone": "12"}, {}, ["body", "phone"]),
        ("PATCH", "/customers/{cid}", {"version": 1, "children": 5, "household_size": 3}, {}, ["body", "children"]),
        ("PATCH", "/customers/{cid}", {"version": 1, "first_name": "Eve"}, {}, ["body", "first_name"]),
        ("PATCH", "/customers/{cid}", {"version": 1, "age": "old"}, {}, ["body", "age"]),
        ("PATCH", "/customers/{cid}", {"version": 1}, {}, ["body", "body"]),
        ("PATCH", "/customers/{cid}", {"age": 45}, {"If-Match": "yesterday"}, ["header", "If-Match"]),
        ("PATCH", "/customers/{cid}", {"version": 2, "age": 45}, {"If-Match": '"1"'}, ["body", "version"]),
        ("PUT", "/customers/{cid}/consents", {"purpose": "spam", "granted": True}, {}, ["body", "purpose"]),
        ("PUT", "/customers/{cid}/consents", {"purpose": "marketing", "channel": "fax", "granted": True}, {},
         ["body", "channel"]),
        ("PUT", "/customers/{cid}/consents", {"purpose": "marketing"}, {}, ["body", "granted"]),
        ("POST", "/customers/{cid}/notes", {"text": ""}, {}, ["body", "text"]),
        ("POST", "/customers/{cid}/notes", {"text": "   "}, {}, ["body", "text"]),
        ("GET", "/customers/{cid}/timeline?kind=gossip", None, {}, ["query", "kind"]),
        ("GET", "/customers/{cid}/timeline?cursor=zzz", None, {}, ["query", "cursor"]),
        ("GET", "/customers/{cid}/timeline?limit=0", None, {}, ["query", "limit"]),
        ("GET", "/customers?limit=101", None, {}, ["query", "limit"]),
        ("GET", "/customers?min_churn=2", None, {}, ["query", "min_churn"]),
        ("GET", "/customers?min_clv=10&max_clv=1", None, {}, ["query", "min_clv"]),
        ("GET", "/customers?phone=12", None, {}, ["query", "phone"]),
        ("GET", "/customers?offset=2&after_id=3", None, {}, ["query", "after_id"]),
        ("GET", "/customers/0", None, {}, ["path", "customer_id"]),
        # never a 500: values SQL would refuse (PostgreSQL: 32-bit ids, no NUL in text)
        ("GET", "/customers/2147483648", None, {}, ["path", "customer_id"]),
        ("GET", "/customers?after_id=99999999999999999999", None, {}, ["query", "after_id"]),
        ("GET", "/customers?offset=99999999999999999999", None, {}, ["query", "offset"]),
        ("GET", "/customers?name=a%00b", None, {}, ["query", "name"]),
        ("GET", "/customers?segment=a%00b", None, {}, ["query", "segment"]),
        ("GET", "/customers?email=a%00b@example.com", None, {}, ["query", "email"]),
        ("GET", "/customers?min_clv=nan", None, {}, ["query", "min_clv"]),
        ("POST", "/customers/{cid}/notes", {"text": "hi\x00there"}, {}, ["body", "text"]),
        ("PUT", "/customers/{cid}/consents", {"purpose": "profiling", "granted": True, "source": "b\x00"}, {},
         ["body", "source"]),
        ("GET", "/customers/abc", None, {}, ["path", "customer_id"]),
    ],
)
def test_bad_input_is_422_naming_the_field_and_writes_nothing(
    client: TestClient, rich: Rich, method: str, url: str, body: Any, headers: dict[str, str], where: list[str]
) -> None:
    before = snapshot()
    response = call(client, method, url.format(cid=rich.built.customer_id), {**auth("staff"), **headers}, body)
    assert response.status_code == 422, response.text
    assert response.json()["detail"][0]["loc"] == where
    assert snapshot() == before


def test_update_to_another_customers_email_is_422(client: TestClient, rich: Rich) -> None:
    other = build_rich_customer(tag="-other")
    with session_scope() as s:
        taken = s.get(Customer, other.built.customer_id).email  # type: ignore[union-attr]
    before = snapshot()
    response = client.patch(f"/customers/{rich.built.customer_id}", json={"version": 1, "email": taken.upper()},
                            headers=auth("staff"))
    assert response.status_code == 422
    [error] = response.json()["detail"]
    assert error["loc"] == ["body", "email"] and "already used by another customer profile" in error["msg"]
    assert snapshot() == before


def test_update_needs_the_version_read(client: TestClient, rich: Rich) -> None:
    cid = rich.built.customer_id
    before = snapshot()
    response = client.patch(f"/customers/{cid}", json={"age": 45}, headers=auth("staff"))
    assert response.status_code == 428
    assert snapshot() == before


def test_update_with_if_match_audits_and_a_stale_version_is_409(client: TestClient, rich: Rich) -> None:
    cid = rich.built.customer_id
    read = client.get(f"/customers/{cid}", headers=auth("staff"))
    etag, old_email = read.headers["ETag"], read.json()["email"]
    response = client.patch(f"/customers/{cid}", json={"email": "New@Example.com", "annual_income": "30000"},
                            headers={**auth("staff", "ana"), "If-Match": etag})
    assert response.status_code == 200, response.text
    assert response.headers["ETag"] == '"2"'
    assert response.json()["changes"] == [
        {"field": "email", "old_value": old_email, "new_value": "New@example.com"},
        {"field": "annual_income", "old_value": None, "new_value": "30000.00"},
    ]
    rows = [(a.field, a.new_value, a.channel, a.actor) for a in audit_rows(cid)][-2:]
    assert rows == [("email", "New@example.com", "staff_api", "staff:ana"),
                    ("annual_income", "30000.00", "staff_api", "staff:ana")]
    before = snapshot()
    stale = client.patch(f"/customers/{cid}", json={"age": 50}, headers={**auth("staff"), "If-Match": etag})
    assert stale.status_code == 409
    assert stale.json() == {"detail": "The profile changed since you read it (version 2 now, 1 read); read it again."}
    assert snapshot() == before
    fresh = client.patch(f"/customers/{cid}", json={"version": 2, "age": 50}, headers=auth("admin"))
    assert fresh.status_code == 200 and fresh.json()["version"] == 3


def test_consents_read_and_write(client: TestClient, rich: Rich) -> None:
    cid = rich.built.customer_id
    response = client.put(f"/customers/{cid}/consents", headers=auth("staff", "ana"),
                          json={"purpose": "marketing", "channel": "sms", "granted": False, "source": "branch"})
    assert response.status_code == 200
    assert {k: response.json()[k] for k in ("purpose", "channel", "granted", "source")} == {
        "purpose": "marketing", "channel": "sms", "granted": False, "source": "branch"}
    listed = client.get(f"/customers/{cid}/consents", headers=auth("staff")).json()
    assert [(c["purpose"], c["channel"], c["granted"]) for c in listed] == [
        ("marketing", "all", True), ("marketing", "sms", False)]
    last = audit_rows(cid)[-1]
    assert (last.entity, last.field, last.new_value, last.channel, last.actor) == (
        "consent", "marketing:sms", "false", "branch", "staff:ana")
    # marketing/all moves the profile flag too
    client.put(f"/customers/{cid}/consents", headers=auth("staff"), json={"purpose": "marketing", "granted": False})
    with session_scope() as s:
        assert s.get(Customer, cid).marketing_consent is False  # type: ignore[union-attr]
    # a stale If-Match is refused
    stale = client.put(f"/customers/{cid}/consents", headers={**auth("staff"), "If-Match": '"1"'},
                       json={"purpose": "profiling", "granted": True})
    assert stale.status_code == 409
    assert "The profile changed since you read it" in stale.json()["detail"]


def test_timeline_and_notes(client: TestClient, rich: Rich) -> None:
    cid = rich.built.customer_id
    created = client.post(f"/customers/{cid}/notes", headers=auth("staff", "ana"), json={"text": "Called back."})
    assert created.status_code == 201
    note = created.json()
    assert (note["kind"], note["direction"], note["actor"], note["summary"]) == (
        "staff_note", "internal", "ana", "Called back.")
    page = client.get(f"/customers/{cid}/timeline?limit=2", headers=auth("staff")).json()
    assert [i["id"] for i in page["items"]] == [note["id"], rich.interaction_ids[-1]]
    rest = client.get(f"/customers/{cid}/timeline?limit=10&cursor={page['next_cursor']}", headers=auth("staff")).json()
    assert [i["id"] for i in rest["items"]] == list(reversed(rich.interaction_ids[:-1]))
    assert rest["next_cursor"] is None
    only = client.get(f"/customers/{cid}/timeline?kind=staff_note&kind=offer", headers=auth("staff")).json()
    assert [i["kind"] for i in only["items"]] == ["staff_note", "offer"]


def test_export_is_everything_for_admin(client: TestClient, rich: Rich) -> None:
    response = client.get(f"/customers/{rich.built.customer_id}/export", headers=auth("admin"))
    assert response.status_code == 200
    assert response.headers["Content-Disposition"] == f'attachment; filename="customer-{rich.built.customer_id}.json"'
    data = response.json()
    assert data["customer"]["id"] == rich.built.customer_id
    assert len(data["conversation_events"]) == 2 and len(data["interactions"]) == 4
    # conversations by their opaque id only: Rasa's sender id (a web chat session's address) is not in it
    assert rich.sender_id not in json.dumps(data)
    assert {e["sender_id"] for e in data["conversation_events"]} == {conversation_ref(rich.sender_id)}


def test_erase_reports_a_conversation_rasa_could_not_erase(client: TestClient, rich: Rich) -> None:
    cid = rich.built.customer_id
    response = client.delete(f"/customers/{cid}", headers=auth("admin", "root"))
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["complete"] is False
    assert sorted((c["conversation"], c["erased"], c["method"]) for c in body["conversations"]) == sorted(
        [(conversation_ref(rich.sender_id), False, "rasa_api"), (conversation_ref(rich.messenger_id), False, "rasa_api")])
    assert rich.sender_id not in response.text
    assert all("unreachable" in c["error"] for c in body["conversations"])
    assert body["deleted"]["customers"] == 1
    assert client.get(f"/customers/{cid}", headers=auth("admin")).status_code == 404
    with session_scope() as s:
        erasure = s.scalars(select(AuditLog).where(AuditLog.field == "erasure")).one()
        assert (erasure.customer_id, erasure.entity_id, erasure.actor) == (None, cid, "staff:root")
    assert [r.action for r in list_access(cid, staff="root")] == ["erase"]
    # who read the record is still known after the erasure
    log = client.get(f"/customers/{cid}/access-log", headers=auth("admin")).json()
    assert [(r["staff"], r["action"]) for r in log] == [("root", "erase"), ("ana", "read_360")]
    # the erasure record keeps the conversations still to erase (the customer is gone: DELETE is 404 now)
    assert client.delete(f"/customers/{cid}", headers=auth("admin")).status_code == 404
    pending = client.get("/erasures?pending=true", headers=auth("admin")).json()
    assert [(e["id"], e["customer_id"], e["actor"], e["complete"]) for e in pending] == [
        (body["erasure_id"], cid, "staff:root", False)]
    conversations = pending[0]["conversations"]
    assert sorted(c["conversation"] for c in conversations) == sorted(
        [conversation_ref(rich.sender_id), conversation_ref(rich.messenger_id)])
    assert rich.sender_id not in str(pending)
    assert all(c["erased_at"] is None and "unreachable" in c["last_error"] for c in conversations)
    assert "Test" not in str(pending) and "@example.com" not in str(pending)


def test_a_pending_erasure_is_retried_until_complete(
    client: TestClient, db: Engine, override_settings: Callable[..., None], test_redis_url: str
) -> None:
    url = test_redis_url
    red = redis.Redis.from_url(url, socket_timeout=3)
    rich = build_rich_customer(tag=f"-{uuid.uuid4().hex[:8]}")
    key = f"nova:tracker:{rich.sender_id}"
    red.set(key, b'{"events": [{"event": "user", "text": "hello"}]}')
    try:
        # Rasa down (no Redis configured, the HTTP API unreachable): the erasure is partial
        first = client.delete(f"/customers/{rich.built.customer_id}", headers=auth("admin")).json()
        assert first["complete"] is False and red.exists(key) == 1
        erasure_id = first["erasure_id"]
        # a retry that fails again keeps it pending
        again = client.post(f"/erasures/{erasure_id}/retry", headers=auth("admin"))
        assert again.status_code == 200 and again.json()["complete"] is False
        # with the tracker store reachable, the retry of every pending erasure completes it
        override_settings(redis_url=url, events_db_url="sqlite:////nonexistent/e.db")
        retried = client.post("/erasures/retry", headers=auth("admin", "root"))
        assert retried.status_code == 200, retried.text
        [record] = retried.json()
        assert record["id"] == erasure_id and record["complete"] is True and record["completed_at"]
        assert all(c["erased_at"] and c["last_error"] is None for c in record["conversations"])
        assert red.exists(key) == 0
        assert client.get("/erasures?pending=true", headers=auth("admin")).json() == []
        assert client.get(f"/erasures/{erasure_id}", headers=auth("admin")).json()["complete"] is True
        assert [r.action for r in list_access(rich.built.customer_id, staff="root")] == ["erase_retry"]
        assert client.post("/erasures/999/retry", headers=auth("admin")).status_code == 404
    finally:
        red.delete(key)
        red.close()


def test_erase_deletes_the_conversation_from_the_redis_tracker_store(
    client: TestClient, db: Engine, override_settings: Callable[..., None], test_redis_url: str
) -> None:
    url = test_redis_url
    red = redis.Redis.from_url(url, socket_timeout=3)
    tag = f"-{uuid.uuid4().hex[:8]}"
    rich = build_rich_customer(tag=tag)
    other_key = f"nova:tracker:someone-else{tag}"
    red.set(f"nova:tracker:{rich.sender_id}", b'{"events": [{"event": "user", "text": "hello"}]}')
    red.set(other_key, b"{}")
    try:
        override_settings(redis_url=url, events_db_url="sqlite:////nonexistent/e.db")
        response = client.delete(f"/customers/{rich.built.customer_id}", headers=auth("admin"))
        assert response.status_code == 200, response.text
        body = response.json()
        assert body["complete"] is True
        assert sorted(body["conversations"], key=lambda c: str(c["conversation"])) == sorted(
            ({"conversation": conversation_ref(s), "erased": True, "method": "redis", "error": None}
             for s in (rich.sender_id, rich.messenger_id)), key=lambda c: str(c["conversation"]))
        assert red.exists(f"nova:tracker:{rich.sender_id}") == 0
        assert red.exists(other_key) == 1
    finally:
        red.delete(other_key, f"nova:tracker:{rich.sender_id}")
        red.close()


def test_openapi_documents_the_customer_routes(client: TestClient) -> None:
    spec = client.get("/openapi.json").json()
    paths = spec["paths"]
    assert {"/customers", "/customers/{customer_id}", "/customers/{customer_id}/consents",
            "/customers/{customer_id}/timeline", "/customers/{customer_id}/notes",
            "/customers/{customer_id}/export"} <= set(paths)
    patch = paths["/customers/{customer_id}"]["patch"]
    assert {"200", "401", "403", "404", "409", "422", "428"} <= set(patch["responses"])
    assert patch["responses"]["200"]["content"]["application/json"]["schema"]["$ref"].endswith("ProfileUpdateOut")
    assert "Customer360Out" in spec["components"]["schemas"]


@pytest.mark.parametrize(
    ("method", "url", "raw", "where"),
    [
        ("PATCH", "/customers/{cid}", '{"version": 1, "age": NaN}', ["body", "age"]),
        ("PATCH", "/customers/{cid}", '{"version": 1, "age": Infinity}', ["body", "age"]),
        ("PATCH", "/customers/{cid}", '{"version": 1, "annual_income": 1e400}', ["body", "annual_income"]),
        ("PATCH", "/customers/{cid}", '{"version": 1, "annual_income": NaN}', ["body", "annual_income"]),
        ("PATCH", "/customers/{cid}", '{"version": 1e999, "age": 45}', ["body", "version"]),
        ("PUT", "/customers/{cid}/consents", '{"purpose": "marketing", "granted": NaN}', ["body", "granted"]),
        ("POST", "/customers/{cid}/notes", '{"text": NaN}', ["body", "text"]),
        ("POST", "/customers/{cid}/notes", '{"text": -Infinity}', ["body", "text"]),
    ],
)
def test_non_finite_numbers_are_422_never_500(
    client: TestClient, rich: Rich, method: str, url: str, raw: str, where: list[str]
) -> None:
    before = snapshot()
    response = client.request(method, url.format(cid=rich.built.customer_id), content=raw,
                              headers={**auth("staff"), "Content-Type": "application/json"})
    assert response.status_code == 422, response.text
    [error] = response.json()["detail"]
    assert error["loc"] == where and set(error) == {"loc", "msg", "type"}
    assert snapshot() == before


def test_a_validation_error_does_not_echo_the_input(client: TestClient, rich: Rich) -> None:
    long_note = "x" * 500_000
    response = client.post(f"/customers/{rich.built.customer_id}/notes", json={"text": long_note},
                           headers=auth("staff"))
    assert response.status_code == 422
    assert len(response.content) < 1000 and "xxxxxxxxxx" not in response.text
    assert response.json()["detail"][0]["loc"] == ["body", "text"]


@pytest.mark.parametrize(("method", "url"), [("POST", "/customers/{cid}/notes"), ("PATCH", "/customers/{cid}"),
                                              ("POST", "/staff/sign-in"), ("POST", "/erasures/retry")])
def test_a_body_over_1_mb_is_413(client: TestClient, rich: Rich, method: str, url: str) -> None:
    before = snapshot()
    huge = '{"text": "' + "x" * 1_100_000 + '"}'
    response = client.request(method, url.format(cid=rich.built.customer_id), content=huge,
                              headers={**auth("admin"), "Content-Type": "application/json"})
    assert response.status_code == 413, response.text[:200]
    assert len(response.content) < 200
    assert snapshot() == before

    def chunked() -> Iterator[bytes]:  # no Content-Length: counted as it arrives
        for _ in range(11):
            yield b"x" * 100_000

    streamed = client.request(method, url.format(cid=rich.built.customer_id), content=chunked(),
                              headers={**auth("admin"), "Content-Type": "application/json"})
    assert streamed.status_code == 413
    assert snapshot() == before
    # a body under the limit still reaches the route
    ok = client.post(f"/customers/{rich.built.customer_id}/notes", json={"text": "Called."}, headers=auth("staff"))
    assert ok.status_code == 201


def test_staff_page_bad_query_is_422_without_the_input(client: TestClient) -> None:
    response = client.get("/staff/sign-in?expired=" + "9" * 5000 + "x")
    assert response.status_code == 422
    assert "9999999999" not in response.text and response.json()["detail"][0]["loc"] == ["query", "expired"]
