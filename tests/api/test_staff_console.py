"""The staff console over HTTP: JSON API (/conversations) and pages (/staff/conversations), both backends."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, select

from api.main import app
from profiles import issue_staff_token
from profiles.conversations import conversation_ref
from profiles.db import session_scope
from profiles.models import AccessLog
from tests.profiles.test_conversation_console import T0, _action, _bot, _slot, _store, _user

ORIGIN = {"Origin": "http://testserver"}
FORM = {"Content-Type": "application/x-www-form-urlencoded"}


@pytest.fixture
def client(db: Engine) -> Iterator[TestClient]:
    _store([
        _user("rest-a", T0, "my card 4111 1111 1111 1111 was eaten, mail bob@example.org", "card_swallowed", 0.88),
        _bot("rest-a", T0 + 1, "Sorry to hear that.", ["Block a lost or stolen card"]),
        _user("tg-b", T0 + 50, "blorp", "nlu_fallback", 0.12, "telegram"),
        _action("tg-b", T0 + 51, "utter_fallback"),
        _bot("tg-b", T0 + 52, "Sorry, I didn't quite understand that."),
    ])
    with TestClient(app) as c:
        yield c


def bearer(role: str, user: str = "ana") -> dict[str, str]:
    return {"Authorization": f"Bearer {issue_staff_token(user, role)}"}


def test_api_lists_filters_and_documents_the_errors(client: TestClient) -> None:
    body = client.get("/conversations", headers=bearer("staff")).json()
    assert [c["ref"] for c in body["items"]] == [conversation_ref("tg-b"), conversation_ref("rest-a")]
    assert body["total"] == 2 and "rest-a" not in json.dumps(body) and "tg-b" not in json.dumps(body)
    only = client.get("/conversations", params={"fallback": "true", "channel": "telegram"}, headers=bearer("admin"))
    assert [c["flags"]["fallback"] for c in only.json()["items"]] == [True]
    assert client.get("/conversations", params={"q": "eaten"}, headers=bearer("staff")).json()["total"] == 1
    assert client.get("/conversations").status_code == 401
    assert client.get("/conversations", headers=bearer("marketing")).status_code == 403
    for bad in ({"min_confidence": "2"}, {"channel": "fax"}, {"date_from": "soon"}, {"per_page": "0"},
                {"min_confidence": "0.9", "max_confidence": "0.1"}, {"date_to": "9999-12-31"}):
        response = client.get("/conversations", params=bad, headers=bearer("staff"))
        assert response.status_code == 422, bad
        assert response.json()["detail"][0]["loc"][0] == "query"
    spec = client.get("/openapi.json").json()["paths"]["/conversations"]["get"]["responses"]
    assert {"200", "401", "403", "422"} <= set(spec)


def test_api_transcript_review_and_export(client: TestClient) -> None:
    ref = conversation_ref("rest-a")
    t = client.get(f"/conversations/{ref}", headers=bearer("staff")).json()
    user = t["turns"][0]
    assert user["text"] == "my card •••• 1111 was eaten, mail b••••@example.org"
    assert (user["intent"], user["confidence"]) == ("card_swallowed", 0.88)
    assert t["turns"][1]["buttons"] == ["Block a lost or stolen card"]
    assert client.get(f"/conversations/{ref}", headers=bearer("marketing")).status_code == 403
    assert client.get("/conversations/c-" + "0" * 20, headers=bearer("staff")).status_code == 404
    assert client.get("/conversations/rest-a", headers=bearer("staff")).status_code == 422
    assert client.post(f"/conversations/{ref}/tags", json={"tag": "bad answer"}, headers=bearer("staff")).json()["tags"] == ["bad-answer"]
    assert client.post(f"/conversations/{ref}/tags", json={"tag": "<b>"}, headers=bearer("staff")).status_code == 422
    done = client.put(f"/conversations/{ref}/review", json={"reviewed": True, "assignee": "bruno"}, headers=bearer("staff")).json()
    assert (done["reviewed"], done["assignee"]) == (True, "bruno")
    assert client.post(f"/conversations/{ref}/notes", json={"text": "ok"}, headers=bearer("staff")).status_code == 201
    bulk = client.post("/conversations/bulk", json={"filters": {"reviewed": "0"}, "action": "tag", "value": "follow-up"},
                       headers=bearer("staff")).json()
    assert bulk == {"changed": 1}
    exported = client.get("/conversations/export", params={"format": "csv"}, headers=bearer("staff"))
    assert exported.status_code == 200 and exported.headers["content-type"].startswith("text/csv")
    assert "4111" not in exported.text and "bob@example.org" not in exported.text and "rest-a" not in exported.text
    saved = client.post("/conversations/saved-filters", json={"name": "Fallbacks", "filters": {"fallback": "1"}},
                        headers=bearer("staff"))
    assert saved.status_code == 201
    assert [f["name"] for f in client.get("/conversations/saved-filters", headers=bearer("staff")).json()] == ["Fallbacks"]
    assert client.get("/conversations/saved-filters", headers=bearer("staff", "bruno")).json() == []
    with session_scope() as s:
        reads = s.scalars(select(AccessLog).where(AccessLog.action == "transcript")).all()
    assert reads and all(r.staff == "ana" for r in reads)


def test_pages_need_the_staff_role_and_same_origin_posts(client: TestClient) -> None:
    ref = conversation_ref("tg-b")
    assert client.get("/staff/conversations", follow_redirects=False).status_code == 303
    page = client.get("/staff/conversations?fallback=1", headers=bearer("staff"))
    assert page.status_code == 200 and ref in page.text and conversation_ref("rest-a") not in page.text
    assert "tg-b" not in page.text
    assert client.get("/staff/conversations?min_confidence=x", headers=bearer("staff")).status_code == 422
    assert client.get("/staff/conversations?date_to=9999-12-31", headers=bearer("staff")).status_code == 422
    assert client.get("/conversations/export?date_to=9999-12-31", headers=bearer("staff")).status_code == 422
    assert client.get(f"/staff/conversations/{ref}", headers=bearer("marketing")).status_code == 403
    assert client.get("/staff/conversations/c-" + "1" * 20, headers=bearer("staff")).status_code == 404
    transcript = client.get(f"/staff/conversations/{ref}", headers=bearer("staff"))
    assert "nlu_fallback" in transcript.text and "utter_fallback" in transcript.text
    for headers in ({}, {"Origin": "https://evil.example"}, {"Origin": "null"}):
        refused = client.post(f"/staff/conversations/{ref}/tags", content="tag=x",
                              headers={**FORM, **bearer("staff"), **headers}, follow_redirects=False)
        assert refused.status_code == 403, headers
    ok = client.post(f"/staff/conversations/{ref}/tags", content="standard_tag=wrong-intent",
                     headers={**FORM, **bearer("staff"), **ORIGIN}, follow_redirects=False)
    assert ok.status_code == 303 and ok.headers["location"].startswith(f"/staff/conversations/{ref}?done=")
    bad = client.post(f"/staff/conversations/{ref}/tags", content="tag=%3Cscript%3E",
                      headers={**FORM, **bearer("staff"), **ORIGIN}, follow_redirects=False)
    assert "error=" in bad.headers["location"]
    client.post(f"/staff/conversations/{ref}/review", content="reviewed=1", headers={**FORM, **bearer("staff"), **ORIGIN})
    after = client.get("/staff/conversations?reviewed=1&tag=wrong-intent", headers=bearer("staff"))
    assert ref in after.text
    bulk = client.post("/staff/conversations/bulk", content="filter_channel=rest&action=assign&value=bruno",
                       headers={**FORM, **bearer("staff"), **ORIGIN}, follow_redirects=False)
    assert bulk.status_code == 303
    assert conversation_ref("rest-a") in client.get("/staff/conversations?assignee=bruno", headers=bearer("staff")).text
    export = client.get("/staff/conversations/export?format=json&channel=telegram", headers=bearer("staff"))
    assert [r["ref"] for r in export.json()] == [ref]


def test_admin_unmasks_one_value_on_the_page(client: TestClient) -> None:
    ref = conversation_ref("rest-a")
    page = client.get(f"/staff/conversations/{ref}", headers=bearer("admin", "root"))
    assert "bob@example.org" not in page.text and "Unmask" in page.text
    assert "Unmask" not in client.get(f"/staff/conversations/{ref}", headers=bearer("staff")).text
    event_id = client.get(f"/conversations/{ref}", headers=bearer("admin", "root")).json()["turns"][0]["event_id"]
    form = f"event_id={event_id}&item=0&reason=customer+asked+for+a+copy"
    denied = client.post(f"/staff/conversations/{ref}/unmask", content=form, headers={**FORM, **bearer("staff"), **ORIGIN})
    assert denied.status_code == 403
    shown = client.post(f"/staff/conversations/{ref}/unmask", content=form, headers={**FORM, **bearer("admin", "root"), **ORIGIN})
    assert shown.status_code == 200 and "bob@example.org" in shown.text and "4111 1111" not in shown.text
    with session_scope() as s:
        assert [r.staff for r in s.scalars(select(AccessLog).where(AccessLog.action == "unmask"))] == ["root"]


def test_csat_in_the_inbox_api_page_and_export(client: TestClient) -> None:
    _store([_slot("tg-b", T0 + 60, "csat", 4)])
    body = client.get("/conversations", params={"csat": "rated"}, headers=bearer("staff")).json()
    assert [(c["ref"], c["csat"]) for c in body["items"]] == [(conversation_ref("tg-b"), 4)]
    assert client.get("/conversations", params={"csat": "unrated"}, headers=bearer("staff")).json()["total"] == 1
    bad = client.get("/conversations", params={"csat": "7"}, headers=bearer("staff"))
    assert bad.status_code == 422 and bad.json()["detail"][0]["loc"] == ["query", "csat"]
    page = client.get("/staff/conversations", params={"csat": "4"}, headers=bearer("staff")).text
    assert '<td data-label="CSAT" class="csat">4/5</td>' in page and '<option value="4" selected>' in page
    assert page.count('data-label="CSAT"') == 1
    exported = client.get("/conversations/export", params={"format": "json"}, headers=bearer("staff")).json()
    assert sorted((row["ref"], row["csat"]) for row in exported) == sorted(
        [(conversation_ref("tg-b"), 4), (conversation_ref("rest-a"), None)])


def test_control_characters_in_staff_text_are_a_4xx_not_a_500(client: TestClient) -> None:
    """A NUL in a note or a saved filter's name reached PostgreSQL and the request failed with a 500."""
    ref = conversation_ref("rest-a")
    for body in ({"text": "a\x00b"}, {"text": "ring\x07"}):
        response = client.post(f"/conversations/{ref}/notes", json=body, headers=bearer("staff"))
        assert response.status_code == 422 and "control characters" in response.text, response.text
    response = client.post("/conversations/saved-filters", json={"name": "a\x00b", "filters": {"fallback": "1"}},
                           headers=bearer("staff"))
    assert response.status_code == 422 and "control characters" in response.text, response.text
    page = client.post("/staff/conversations/saved-filters", content="name=abc%00def&fallback=1",
                       headers={**ORIGIN, **FORM, **bearer("staff")}, follow_redirects=False)
    assert page.status_code == 303 and "control+characters" in page.headers["location"]  # the page says why
    # what staff really type is kept: line breaks, a no-break space, an emoji sequence
    ok = client.post(f"/conversations/{ref}/notes", json={"text": "called back\n\xa0done 👩\u200d💻"},
                     headers=bearer("staff"))
    assert ok.status_code == 201
    assert client.get("/conversations/saved-filters", headers=bearer("staff")).json() == []
