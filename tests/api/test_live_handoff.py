"""Live hand-off over HTTP (JSON API /handoffs/... and pages /staff/handoffs), on SQLite and PostgreSQL.

Rasa is a recording fake (an httpx MockTransport in place of the API's client): these tests check what the API
asks Rasa to do (pause, the bot events with their metadata and output channel, resume), the hand-off states,
the audit and access log, roles, the Origin check and the errors. The real Rasa, web chat and feed are in
tests/browser/test_live_handoff_browser.py.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, select

import api.live_handoff as live
from api.main import app
from profiles import create_handoff, issue_staff_token
from profiles.conversation_ref import conversation_ref
from profiles.db import session_scope
from profiles.live_handoff import agent_display_name, check_message
from profiles.models import AccessLog, AuditLog, HandoffRequest
from profiles.seed import seed
from tests.profiles.test_conversation_console import T0, _bot, _store, _user

ORIGIN = {"Origin": "http://testserver"}
FORM = {"Content-Type": "application/x-www-form-urlencoded"}


@dataclass
class FakeRasa:
    """Records every append-events call; ``answer`` decides the response (default 200)."""

    calls: list[tuple[str, dict[str, str], list[dict[str, Any]]]] = field(default_factory=list)
    answer: Callable[[httpx.Request], httpx.Response] | None = None

    def handle(self, request: httpx.Request) -> httpx.Response:
        self.calls.append((request.url.path, dict(request.url.params), json.loads(request.content)))
        if self.answer is not None:
            return self.answer(request)
        return httpx.Response(200, json={"sender_id": "x"})

    def events(self) -> list[tuple[str, str | None, str | None]]:
        """(event type, text, output channel) of every appended event, in order."""
        return [(e["event"], e.get("text"), p.get("output_channel")) for _, p, es in self.calls for e in es]


@pytest.fixture
def rasa(monkeypatch: pytest.MonkeyPatch) -> FakeRasa:
    fake = FakeRasa()
    monkeypatch.setattr(live, "_client", lambda client: httpx.Client(transport=httpx.MockTransport(fake.handle)))
    return fake


@pytest.fixture
def client(db: Engine, rasa: FakeRasa) -> Iterator[TestClient]:
    seed(3, progress=False)
    _store([
        _user("web-2", T0, "my card 4111 1111 1111 1111 is stuck, mail bob@example.org", "card_swallowed", 0.9,
              "socketio"),
        _bot("web-2", T0 + 1, "Sorry to hear that."),
        _user("web-2", T0 + 2, "I want a human", "human_handoff", 0.95, "socketio"),
        _user("rest-anon", T0 + 3, "let me talk to someone", "human_handoff", 0.9, "rest"),
    ])
    create_handoff(customer_id=2, sender_id="web-2", channel="socketio", reason="card stuck | I want a human")
    create_handoff(customer_id=None, sender_id="rest-anon", channel="rest", reason="let me talk to someone")
    create_handoff(customer_id=2, sender_id="web-2", channel="socketio", reason="still waiting")
    with TestClient(app) as c:
        yield c


def bearer(role: str = "staff", user: str = "ana") -> dict[str, str]:
    return {"Authorization": f"Bearer {issue_staff_token(user, role)}"}


def ids() -> dict[str, int]:
    with session_scope() as s:
        rows = s.scalars(select(HandoffRequest).order_by(HandoffRequest.id)).all()
        return {r.sender_id: min(x.id for x in rows if x.sender_id == r.sender_id) for r in rows}


def states(sender: str) -> list[tuple[str, str | None]]:
    with session_scope() as s:
        return [(r.status, r.taken_by) for r in s.scalars(
            select(HandoffRequest).where(HandoffRequest.sender_id == sender).order_by(HandoffRequest.id))]


def test_queue_lists_waiting_conversations_once_with_masked_last_turns_and_no_sender_id(client: TestClient) -> None:
    response = client.get("/handoffs/queue", headers=bearer())
    assert response.status_code == 200
    body = response.json()
    assert [w["conversation"] for w in body["waiting"]] == [conversation_ref("web-2"), conversation_ref("rest-anon")]
    web = body["waiting"][0]
    assert (web["customer_id"], web["customer"], web["channel"], web["requests"]) == (2, "Tiago Vieira", "socketio", 2)
    assert web["transcript"] == f"/staff/conversations/{conversation_ref('web-2')}"
    assert [t["who"] for t in web["last_turns"]] == ["customer", "bot", "customer"]
    assert web["last_turns"][0]["text"] == "my card •••• 1111 is stuck, mail b••••@example.org"
    assert body["waiting"][1]["customer"] is None and body["in_progress"] == []
    assert "web-2" not in response.text and "rest-anon" not in response.text and "4111" not in response.text
    with session_scope() as s:
        assert s.scalars(select(AccessLog.customer_id).where(AccessLog.action == "handoff_queue")).all() == [2]
    assert client.get("/handoffs/queue").status_code == 401
    assert client.get("/handoffs/queue", headers=bearer("marketing")).status_code == 403


def test_take_pauses_the_bot_announces_the_agent_and_a_second_take_is_409(client: TestClient, rasa: FakeRasa) -> None:
    hid = ids()["web-2"]
    response = client.post(f"/handoffs/{hid}/take", headers=bearer(user="ana.silva"))
    assert response.status_code == 200, response.text
    assert response.json()["delivered"] is True and "Ana" in response.json()["note"]
    assert rasa.events() == [("pause", None, None),
                             ("bot", "You are now talking to Ana, Atlantic Bank.", "socketio")]
    path, params, events = rasa.calls[1]
    assert path == "/conversations/web-2/tracker/events" and params["execute_side_effects"] == "true"
    assert events[0]["metadata"]["handoff"] == {"agent": "ana.silva", "agent_name": "Ana", "state": "taken",
                                                "handoff_id": hid}
    assert states("web-2") == [("taken", "ana.silva"), ("taken", "ana.silva")]

    again = client.post(f"/handoffs/{hid}/take", headers=bearer(user="bruno"))
    assert again.status_code == 409 and "ana.silva has already taken" in again.json()["detail"]
    assert client.post(f"/handoffs/{hid}/take", headers=bearer(user="ana.silva")).status_code == 409
    assert len(rasa.calls) == 2  # no second pause
    queue = client.get("/handoffs/queue", headers=bearer()).json()
    assert [i["taken_by"] for i in queue["in_progress"]] == ["ana.silva"]
    assert [w["conversation"] for w in queue["waiting"]] == [conversation_ref("rest-anon")]
    assert client.post("/handoffs/999/take", headers=bearer()).status_code == 404
    assert client.post("/handoffs/0/take", headers=bearer()).status_code == 422
    assert client.post(f"/handoffs/{hid}/take", headers=bearer("marketing")).status_code == 403


def test_messages_reach_the_channel_with_the_agent_in_metadata_and_are_audited(client: TestClient, rasa: FakeRasa) -> None:
    hid = ids()["web-2"]
    assert client.post(f"/handoffs/{hid}/messages", json={"text": "hello"}, headers=bearer()).status_code == 409
    client.post(f"/handoffs/{hid}/take", headers=bearer())
    sent = client.post(f"/handoffs/{hid}/messages", json={"text": "Hi Tiago, I can see your card is stuck."},
                       headers=bearer())
    assert sent.status_code == 201 and sent.json()["delivered"] is True
    assert rasa.events()[-1] == ("bot", "Hi Tiago, I can see your card is stuck.", "socketio")
    assert rasa.calls[-1][2][0]["metadata"]["handoff"]["agent"] == "ana"
    # refused: a card number, empty, too long, someone else's conversation
    card = client.post(f"/handoffs/{hid}/messages", json={"text": "is it 4111 1111 1111 1111?"}, headers=bearer())
    assert card.status_code == 422 and "card" in card.json()["detail"][0]["msg"]
    assert client.post(f"/handoffs/{hid}/messages", json={"text": "   "}, headers=bearer()).status_code == 422
    assert client.post(f"/handoffs/{hid}/messages", json={"text": "x" * 1001}, headers=bearer()).status_code == 422
    other = client.post(f"/handoffs/{hid}/messages", json={"text": "hi"}, headers=bearer(user="bruno"))
    assert other.status_code == 403 and "ana has this conversation" in other.json()["detail"]
    assert sum(1 for e in rasa.events() if e[0] == "bot") == 2  # the announcement and the one good message
    with session_scope() as s:
        audit = s.scalars(select(AuditLog).where(AuditLog.entity == "handoff").order_by(AuditLog.id)).all()
    assert [(a.field, a.new_value, a.actor) for a in audit] == [
        ("status", "taken", "staff:ana"), ("message", "Hi Tiago, I can see your card is stuck.", "staff:ana")]


def test_hand_back_resumes_tells_the_customer_and_closes(client: TestClient, rasa: FakeRasa) -> None:
    hid = ids()["web-2"]
    client.post(f"/handoffs/{hid}/take", headers=bearer())
    assert client.post(f"/handoffs/{hid}/hand-back", headers=bearer(user="bruno")).status_code == 403
    back = client.post(f"/handoffs/{hid}/hand-back", headers=bearer())
    assert back.status_code == 200 and back.json()["delivered"] is True
    assert rasa.events()[-2:] == [("resume", None, None), ("bot", "You're back with Nova, the assistant.", "socketio")]
    assert states("web-2") == [("closed", "ana"), ("closed", "ana")]
    assert client.post(f"/handoffs/{hid}/hand-back", headers=bearer()).status_code == 409
    assert client.post(f"/handoffs/{hid}/take", headers=bearer()).status_code == 409  # closed
    # an admin may hand back another staff member's conversation
    rest = ids()["rest-anon"]
    client.post(f"/handoffs/{rest}/take", headers=bearer(user="bruno"))
    assert client.post(f"/handoffs/{rest}/hand-back", headers=bearer("admin", "root")).status_code == 200


def test_rest_is_stored_only_and_rasa_failures_change_nothing(client: TestClient, rasa: FakeRasa) -> None:
    rest = ids()["rest-anon"]
    taken = client.post(f"/handoffs/{rest}/take", headers=bearer())
    assert taken.json()["delivered"] is False and "cannot push" in taken.json()["note"]
    assert rasa.calls[1][1].get("execute_side_effects") is None  # stored only: no output channel
    msg = client.post(f"/handoffs/{rest}/messages", json={"text": "hello"}, headers=bearer()).json()
    assert msg["delivered"] is False

    web = ids()["web-2"]
    rasa.answer = lambda request: httpx.Response(503, json={"message": "down"})
    down = client.post(f"/handoffs/{web}/take", headers=bearer())
    assert down.status_code == 502 and "answered 503" in down.json()["detail"]
    assert states("web-2") == [("open", None), ("open", None)]  # the take was undone
    rasa.answer = None
    client.post(f"/handoffs/{web}/take", headers=bearer())
    rasa.answer = lambda request: httpx.Response(
        500, json={"message": "An unexpected error occurred. Error: no open web chat page for conversation x"})
    closed = client.post(f"/handoffs/{web}/messages", json={"text": "still there?"}, headers=bearer())
    assert closed.status_code == 409 and "not open" in closed.json()["detail"]

    def unreachable(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("refused")

    rasa.answer = unreachable
    gone = client.post(f"/handoffs/{web}/hand-back", headers=bearer())
    assert gone.status_code == 502 and "cannot be reached" in gone.json()["detail"]
    assert states("web-2")[0] == ("taken", "ana")  # still with staff


def test_conversation_polling_returns_only_newer_messages_and_logs_reads(client: TestClient) -> None:
    hid = ids()["web-2"]
    whole = client.get(f"/handoffs/{hid}/conversation", headers=bearer())
    assert whole.status_code == 200
    body = whole.json()
    assert [t["who"] for t in body["turns"]] == ["customer", "bot", "customer"]
    last = body["last_event_id"]
    assert client.get(f"/handoffs/{hid}/conversation", params={"after": last}, headers=bearer()).json()["turns"] == []
    _store([_user("web-2", T0 + 10, "are you there?", "greet", 0.5, "socketio"),
            {**_bot("web-2", T0 + 11, "Yes, Ana here."), "metadata": {"handoff": {"agent": "ana"}}}])
    newer = client.get(f"/handoffs/{hid}/conversation", params={"after": last}, headers=bearer()).json()
    assert [(t["who"], t["text"], t["agent"]) for t in newer["turns"]] == [
        ("customer", "are you there?", None), ("agent", "Yes, Ana here.", "ana")]
    with session_scope() as s:
        reads = s.scalars(select(AccessLog.detail).where(AccessLog.action == "transcript")).all()
    assert len(reads) == 2 and all(conversation_ref("web-2") in (d or "") for d in reads)  # the empty poll: none
    transcript = client.get(f"/conversations/{conversation_ref('web-2')}", headers=bearer()).json()
    assert [(t["text"], t["agent"]) for t in transcript["turns"] if t["kind"] == "bot"][-1] == ("Yes, Ana here.", "ana")
    assert client.get(f"/handoffs/{hid}/conversation", params={"after": -1}, headers=bearer()).status_code == 422


def sign_in(client: TestClient, role: str = "staff", user: str = "ana") -> None:
    client.cookies.set("nova_staff", issue_staff_token(user, role), path="/staff")


def test_pages_queue_take_chat_and_hand_back(client: TestClient, rasa: FakeRasa) -> None:
    hid = ids()["web-2"]
    assert client.get("/staff/handoffs", follow_redirects=False).status_code == 303  # sign in first
    sign_in(client, "marketing", "mia")
    assert client.get("/staff/handoffs").status_code == 403
    sign_in(client)
    page = client.get("/staff/handoffs")
    assert page.status_code == 200 and "Take hand-off H" in page.text
    assert "web-2" not in page.text and "4111" not in page.text and "•••• 1111" in page.text
    assert client.post(f"/staff/handoffs/{hid}/take", follow_redirects=False).status_code == 403  # no Origin
    assert client.post(f"/staff/handoffs/{hid}/take", headers={"Origin": "http://evil.example"},
                       follow_redirects=False).status_code == 403
    taken = client.post(f"/staff/handoffs/{hid}/take", headers=ORIGIN, follow_redirects=False)
    assert taken.status_code == 303 and taken.headers["location"].startswith(f"/staff/handoffs/{hid}?done=Taken")
    live_page = client.get(f"/staff/handoffs/{hid}")
    assert live_page.status_code == 200 and 'id="reply"' in live_page.text
    assert "script-src 'self'" in live_page.headers["content-security-policy"]
    sent = client.post(f"/staff/handoffs/{hid}/messages", content="text=Hello+there", headers={**ORIGIN, **FORM},
                       follow_redirects=False)
    assert sent.status_code == 303 and "done=Sent." in sent.headers["location"]
    bad = client.post(f"/staff/handoffs/{hid}/messages", content="text=4111111111111111", headers={**ORIGIN, **FORM},
                      follow_redirects=False)
    assert bad.status_code == 303 and "error=" in bad.headers["location"]
    poll = client.get(f"/staff/handoffs/{hid}/turns", params={"after": "0"})
    assert poll.status_code == 200 and poll.json()["status"] == "taken" and len(poll.json()["turns"]) == 3
    assert client.get(f"/staff/handoffs/{hid}/turns", params={"after": "x"}).status_code == 422
    assert client.get("/staff/handoffs/abc").status_code == 404
    assert client.get("/staff/handoffs/99999").status_code == 404
    assert client.get("/staff/handoffs-static/live.js").status_code == 200
    sign_in(client, user="bruno")
    again = client.post(f"/staff/handoffs/{hid}/take", headers=ORIGIN, follow_redirects=False)
    assert again.status_code == 303 and "error=ana+has+already+taken" in again.headers["location"]
    assert 'id="reply"' not in client.get(f"/staff/handoffs/{hid}").text  # bruno watches, cannot write
    sign_in(client)
    back = client.post(f"/staff/handoffs/{hid}/hand-back", headers=ORIGIN, follow_redirects=False)
    assert back.status_code == 303 and back.headers["location"].startswith("/staff/handoffs?done=H")
    assert states("web-2")[0] == ("closed", "ana")
    assert [e[0] for e in rasa.events()] == ["pause", "bot", "bot", "resume", "bot"]


def test_agent_names_and_message_rules() -> None:
    assert agent_display_name("ana.silva") == "Ana"
    assert agent_display_name("bruno_c") == "Bruno"
    assert agent_display_name("42") == "a colleague"
    assert check_message("  Hello\r\nthere ") == "Hello\nthere"
    for bad in ("", "x" * 1001, "PT50 0002 0123 1234 5678 9015 4", "bell\x07"):
        with pytest.raises(Exception, match=r"."):
            check_message(bad)
