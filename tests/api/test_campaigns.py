"""The push/campaign API over a real database (both backends): marketing/admin roles only, 422 on bad input with
nothing recorded, 404 for an unknown customer, per-customer statuses of a background campaign, and Rasa down ->
channel_error. Delivery through a real Rasa server is tests/e2e/test_push.py's."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, func, select

from api.main import app
from api.push import GENERIC_NAME, external_entities, safe_name
from profiles.db import session_scope
from profiles.models import CustomerScore, Interaction, MessengerLink, OfferEvent, PushDelivery, utcnow
from profiles.offers import record_offer
from profiles.push import PushMessage, check_message
from profiles.staff import issue_staff_token
from tests.profiles.conftest import build_customer

OFFER = {"kind": "offer", "product": "term_deposit", "campaign": "td-test"}
REMINDER = {"kind": "reminder", "template": "statement_ready", "campaign": "statements-test"}


@pytest.fixture
def client(db: Engine, override_settings: Callable[..., None]) -> Iterator[TestClient]:
    # Rasa "down": nothing listens on port 1. No quiet hours unless a test sets them.
    override_settings(rasa_url="http://127.0.0.1:1", quiet_hours_start=0, quiet_hours_end=0)
    with TestClient(app) as c:
        yield c


def auth(role: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {issue_staff_token(f'{role}-user', role)}"}


def linked_customer(*, consent: bool, channel: str = "telegram") -> int:
    cid = build_customer(consent=consent).customer_id
    with session_scope() as s:
        s.add(MessengerLink(customer_id=cid, channel=channel, external_id=f"tg-{cid}"))
    return cid


def deliveries() -> int:
    with session_scope() as s:
        return int(s.scalar(select(func.count()).select_from(PushDelivery)) or 0)


def wait_finished(client: TestClient, job_id: str, role: str = "marketing") -> dict[str, Any]:
    deadline = time.monotonic() + 30
    while True:
        body: dict[str, Any] = client.get(f"/campaigns/{job_id}", headers=auth(role)).json()
        if body["finished"] or time.monotonic() > deadline:
            return body
        time.sleep(0.05)


@pytest.mark.parametrize(("role", "allowed"), [("staff", False), ("marketing", True), ("admin", True)])
def test_roles(client: TestClient, role: str, allowed: bool) -> None:
    cid = build_customer().customer_id
    one = client.post(f"/customers/{cid}/push", json=REMINDER, headers=auth(role))
    many = client.post("/campaigns/push", json=REMINDER | {"customer_ids": [cid]}, headers=auth(role))
    if allowed:
        assert one.status_code == 200 and one.json()["status"] == "no_channel"
        assert many.status_code == 202
        assert many.headers["Location"] == f"/campaigns/{many.json()['id']}"
        assert wait_finished(client, many.json()["id"], role)["counts"]["no_channel"] == 1
    else:
        assert (one.status_code, many.status_code) == (403, 403)
        assert deliveries() == 0


def test_no_token_is_401(client: TestClient) -> None:
    assert client.post("/customers/1/push", json=REMINDER).status_code == 401
    assert client.post("/campaigns/push", json=REMINDER | {"customer_ids": [1]}).status_code == 401
    assert client.get("/campaigns/" + "0" * 32).status_code == 401


@pytest.mark.parametrize(
    ("body", "field"),
    [
        (REMINDER | {"kind": "sms"}, "kind"),
        (REMINDER | {"template": "anything you like"}, "template"),
        (REMINDER | {"product": "mortgage"}, "product"),
        (OFFER | {"product": "bitcoin"}, "product"),
        ({"kind": "offer", "campaign": "x"}, "product"),
        (OFFER | {"campaign": ""}, "campaign"),
        (OFFER | {"campaign": "x" * 81}, "campaign"),
        (OFFER | {"text": "free text"}, "text"),
        ({"product": "mortgage", "campaign": "x"}, "kind"),
    ],
)
def test_bad_message_is_422_and_records_nothing(client: TestClient, body: dict[str, Any], field: str) -> None:
    cid = linked_customer(consent=True)
    response = client.post(f"/customers/{cid}/push", json=body, headers=auth("marketing"))
    assert response.status_code == 422, response.text
    assert field in response.json()["detail"][0]["loc"]
    assert deliveries() == 0


@pytest.mark.parametrize(
    "extra",
    [
        {},  # no audience
        {"customer_ids": []},
        {"customer_ids": [0]},
        {"customer_ids": [2**31]},
        {"customer_ids": ["one"]},
        {"customer_ids": list(range(1, 10_002))},
        {"customer_ids": [1], "segment": "savers"},  # both audiences
        {"segment": "savers", "min_churn": 1.5},
        {"segment": "savers", "limit": 0},
        {"segment": "a\x00b"},
    ],
)
def test_bad_campaign_is_422(client: TestClient, extra: dict[str, Any]) -> None:
    response = client.post("/campaigns/push", json=REMINDER | extra, headers=auth("marketing"))
    assert response.status_code == 422, response.text
    assert deliveries() == 0


def test_bad_paths(client: TestClient) -> None:
    assert client.post("/customers/0/push", json=REMINDER, headers=auth("admin")).status_code == 422
    assert client.post("/customers/999999/push", json=REMINDER, headers=auth("admin")).status_code == 404
    assert client.get("/campaigns/not-a-job", headers=auth("admin")).status_code == 422
    assert client.get("/campaigns/" + "0" * 32, headers=auth("admin")).status_code == 404
    assert deliveries() == 0


def test_single_push_statuses(client: TestClient) -> None:
    no_consent = linked_customer(consent=False)
    body = client.post(f"/customers/{no_consent}/push", json=OFFER, headers=auth("marketing")).json()
    assert (body["status"], body["channel"]) == ("no_consent", "telegram")
    assert "sender_id" not in body  # a conversation's key (a web chat session id) is never handed out
    # A reminder needs no marketing consent: it is tried, and Rasa being down is a channel_error.
    body = client.post(f"/customers/{no_consent}/push", json=REMINDER, headers=auth("marketing")).json()
    assert body["status"] == "channel_error"
    assert body["reason"].startswith("Rasa unreachable")
    with session_scope() as s:
        rows = s.scalars(select(PushDelivery).order_by(PushDelivery.id)).all()
        assert [(r.status, r.actor, r.campaign, r.sender_id) for r in rows] == [
            ("no_consent", "staff:marketing-user", "td-test", f"tg-{no_consent}"),
            ("channel_error", "staff:marketing-user", "statements-test", f"tg-{no_consent}"),
        ]  # the row keeps the conversation
        assert s.scalar(select(func.count()).select_from(Interaction)
                        .where(Interaction.kind == "campaign_message")) == 0  # nothing was delivered


@pytest.fixture
def rasa_calls(override_settings: Callable[..., None]) -> Iterator[list[str]]:
    """A stand-in Rasa on a free local port that records each request path and answers 500 (channel_error)."""
    calls: list[str] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 (http.server's name)
            calls.append(self.path)
            self.rfile.read(int(self.headers.get("Content-Length") or 0))
            self.send_response(500)
            self.send_header("Content-Type", "application/json")
            self.end_headers()
            self.wfile.write(b'{"message": "recorded"}')

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    override_settings(rasa_url=f"http://127.0.0.1:{server.server_address[1]}", quiet_hours_start=0,
                      quiet_hours_end=0)
    try:
        yield calls
    finally:
        server.shutdown()
        server.server_close()


def push_rows(cid: int) -> list[tuple[str, str | None, str | None]]:
    with session_scope() as s:
        return [(r.status, r.sender_id, r.reason) for r in s.scalars(
            select(PushDelivery).where(PushDelivery.customer_id == cid).order_by(PushDelivery.id))]


def test_offer_of_a_held_product_is_not_eligible(client: TestClient, rasa_calls: list[str]) -> None:
    cid = linked_customer(consent=True)  # holds a current and a savings account
    body = client.post(f"/customers/{cid}/push", json=OFFER | {"product": "current_account"},
                       headers=auth("marketing")).json()
    assert body["status"] == "not_eligible", body
    assert "already held" in body["reason"]
    assert rasa_calls == []  # nothing sent
    assert push_rows(cid) == [("not_eligible", f"tg-{cid}", body["reason"])]
    # the same customer and channel with a product they may have: Rasa is called (and answers 500)
    other = client.post(f"/customers/{cid}/push", json=OFFER, headers=auth("marketing")).json()
    assert other["status"] == "channel_error", other
    assert len(rasa_calls) == 1 and rasa_calls[0].startswith(f"/conversations/tg-{cid}/trigger_intent")


def test_offer_declined_within_the_cooloff_is_not_eligible(client: TestClient, rasa_calls: list[str]) -> None:
    declined = linked_customer(consent=True)
    record_offer(declined, "term_deposit", "declined", channel="telegram")
    long_ago = linked_customer(consent=True)  # declined 40 days ago: the 30-day cool-off is over
    with session_scope() as s:
        s.add(OfferEvent(customer_id=long_ago, product="term_deposit", outcome="declined", channel="telegram",
                         created_at=utcnow() - timedelta(days=40)))
    body = client.post(f"/customers/{declined}/push", json=OFFER, headers=auth("marketing")).json()
    assert body["status"] == "not_eligible", body
    assert "declined" in body["reason"]
    assert rasa_calls == []
    # a campaign applies the same rule per customer
    started = client.post("/campaigns/push", json=OFFER | {"customer_ids": [declined, long_ago]},
                          headers=auth("marketing"))
    status = wait_finished(client, started.json()["id"])
    outcome = {r["customer_id"]: r["status"] for r in status["results"]}
    assert outcome == {declined: "not_eligible", long_ago: "channel_error"}
    assert status["counts"]["not_eligible"] == 1
    assert len(rasa_calls) == 1 and rasa_calls[0].startswith(f"/conversations/tg-{long_ago}/")


def test_quiet_hours(client: TestClient, override_settings: Callable[..., None]) -> None:
    hour = datetime.now(UTC).hour
    override_settings(rasa_url="http://127.0.0.1:1", push_timezone="UTC", quiet_hours_start=hour,
                      quiet_hours_end=(hour + 2) % 24)
    cid = linked_customer(consent=True)
    body = client.post(f"/customers/{cid}/push", json=OFFER, headers=auth("marketing")).json()
    assert body["status"] == "quiet_hours"
    assert "UTC" in body["reason"]


def test_campaign_reports_each_customer(client: TestClient) -> None:
    no_link = build_customer(consent=True).customer_id
    no_consent = linked_customer(consent=False)
    reachable = linked_customer(consent=True)  # allowed, but Rasa is down
    ids = [no_link, no_consent, reachable, 999_999, no_link]  # an unknown id and a duplicate
    started = client.post("/campaigns/push", json=OFFER | {"customer_ids": ids}, headers=auth("marketing"))
    assert started.status_code == 202
    assert started.json()["total"] == 4  # duplicates removed
    status = wait_finished(client, started.json()["id"])
    assert status["finished"] and status["done"] == 4
    assert status["counts"] == {"delivered": 0, "no_channel": 1, "no_consent": 1, "quiet_hours": 0,
                                "not_eligible": 0, "channel_error": 1, "invalid": 1}
    assert all("sender_id" not in r for r in status["results"])
    outcome = {r["customer_id"]: r["status"] for r in status["results"]}
    assert outcome == {no_link: "no_channel", no_consent: "no_consent", reachable: "channel_error",
                       999_999: "invalid"}
    page = client.get(f"/campaigns/{status['id']}?offset=1&limit=2", headers=auth("marketing")).json()
    assert len(page["results"]) == 2
    with session_scope() as s:
        assert s.scalar(select(func.count()).select_from(PushDelivery)
                        .where(PushDelivery.campaign == "td-test")) == 4


def test_campaign_by_segment(client: TestClient) -> None:
    savers = [linked_customer(consent=False) for _ in range(3)]
    other = linked_customer(consent=False)
    with session_scope() as s:
        for cid in [*savers, other]:
            s.add(CustomerScore(customer_id=cid, segment="savers" if cid in savers else "young",
                                model_versions={}, computed_at=utcnow()))
    started = client.post("/campaigns/push", json=OFFER | {"segment": "savers", "limit": 2},
                          headers=auth("marketing"))
    assert started.status_code == 202
    status = wait_finished(client, started.json()["id"])
    assert status["total"] == 2
    assert sorted(r["customer_id"] for r in status["results"]) == savers[:2]
    assert status["counts"]["no_consent"] == 2


def test_entities_are_closed_sets() -> None:
    assert external_entities(check_message("offer", "c", product="mortgage"), "Ana") == {
        "push_name": "Ana", "push_product": "mortgage"}
    assert external_entities(check_message("reminder", "c", template="card_expiry"), "José Maria") == {
        "push_name": "José Maria", "push_template": "card_expiry"}
    for bad in (PushMessage("offer", "c", product="bitcoin"), PushMessage("reminder", "c", template="hi {x}")):
        with pytest.raises(ValueError):
            external_entities(bad, "Ana")


@pytest.mark.parametrize("name", [None, "", "   ", "{slot}", "Ana [x]", 'A"B', "a\\b", "x" * 61, "Ana\nSmith"])
def test_unsafe_first_names_are_not_sent(name: str | None) -> None:
    assert safe_name(name) == GENERIC_NAME


def test_openapi_lists_the_push_routes(client: TestClient) -> None:
    paths = client.get("/openapi.json").json()["paths"]
    assert {"/customers/{customer_id}/push", "/campaigns/push", "/campaigns/{job_id}"} <= set(paths)


def test_push_answer_names_the_template_and_product_never_the_text(client: TestClient) -> None:
    """The rendered text greets the customer by first name: marketing gets what was sent, not the text."""
    cid = linked_customer(consent=False)
    reminder = client.post(f"/customers/{cid}/push", json=REMINDER, headers=auth("marketing")).json()
    offer = client.post(f"/customers/{cid}/push", json=OFFER, headers=auth("marketing")).json()
    assert set(reminder) == {"customer_id", "status", "reason", "channel", "delivery_id", "template", "product"}
    assert (reminder["template"], reminder["product"]) == ("statement_ready", None)
    assert (offer["template"], offer["product"]) == ("product_offer", "term_deposit")
    started = client.post("/campaigns/push", json={**REMINDER, "customer_ids": [cid]}, headers=auth("marketing"))
    [result] = wait_finished(client, started.json()["id"])["results"]
    assert "text" not in result and result["template"] == "statement_ready"
