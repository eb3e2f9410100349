"""NLU annotation over HTTP, both backends: the JSON API (/annotations), the page (/staff/annotations) with its
decision and export forms, the transcript's "Wrong intent" button, roles and the Origin check."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from fastapi.testclient import TestClient
from sqlalchemy import Engine, select

from api.main import app
from profiles.conversations import conversation_ref
from profiles.db import session_scope
from profiles.models import AuditLog, ConversationEvent
from profiles.settings import get_settings
from tests.api.test_staff_console import FORM, ORIGIN, bearer
from tests.profiles.test_conversation_console import T0, _store, _user


@pytest.fixture
def client(db: Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[TestClient]:
    monkeypatch.setenv("NLU_REVIEWED_FILE", str(tmp_path / "data" / "nlu" / "reviewed.yml"))
    monkeypatch.setenv("NLU_EVAL_FILE", str(tmp_path / "nlu_eval.json"))
    get_settings.cache_clear()
    _store([
        _user("rest-a", T0, "my card 4111 1111 1111 1111 was eaten", "card_swallowed", 0.38),
        _user("rest-a", T0 + 5, "the cash machine swallowed it", "card_arrival", 0.41),
        _user("tg-b", T0 + 50, "how much is in my account", "check_balance", 0.95, "telegram"),
    ])
    with TestClient(app) as c:
        yield c


def _id(text: str) -> int:
    with session_scope() as s:
        return int(s.scalar(select(ConversationEvent.id).where(ConversationEvent.text == text)) or 0)


def test_api_inbox_decide_flag_export_and_accuracy(client: TestClient, tmp_path: Path) -> None:
    body = client.get("/annotations", headers=bearer("staff")).json()
    assert [i["text"] for i in body["items"]] == ["the cash machine swallowed it", "my card •••• 1111 was eaten"]
    assert "card_swallowed" in body["intents"] and "merchant" in body["entities"]
    assert "rest-a" not in json.dumps(body)
    assert client.get("/annotations").status_code == 401
    assert client.get("/annotations", headers=bearer("marketing")).status_code == 403
    assert client.get("/annotations", params={"threshold": "2"}, headers=bearer("staff")).status_code == 422

    swallowed = _id("the cash machine swallowed it")
    bad = client.post(f"/annotations/{swallowed}", json={"intent": "nope"}, headers=bearer("staff"))
    assert bad.status_code == 422 and bad.json()["detail"][0]["loc"][-1] == "intent"
    assert client.post("/annotations/999999", json={"intent": "card_swallowed"}, headers=bearer("staff")).status_code == 404
    assert client.post("/annotations/0", json={"intent": "card_swallowed"}, headers=bearer("staff")).status_code == 422
    done = client.post(f"/annotations/{swallowed}", headers=bearer("staff", "rui"),
                       json={"intent": "card_swallowed", "entities": [["merchant", "cash machine"]]}).json()
    assert done == {"event_id": swallowed, "status": "corrected", "intent": "card_swallowed",
                    "entities": [{"entity": "merchant", "value": "cash machine"}], "decided_by": "rui"}
    balance = _id("how much is in my account")
    assert client.post(f"/annotations/{balance}/flag", headers=bearer("staff")).status_code == 204
    assert [i["event_id"] for i in client.get("/annotations", headers=bearer("staff")).json()["items"]][0] == balance
    client.post(f"/annotations/{_id('my card •••• 1111 was eaten')}", json={"intent": "card_swallowed"},
                headers=bearer("staff"))

    exported = client.post("/annotations/export", headers=bearer("staff")).json()
    assert exported["path"] == "reviewed.yml"  # outside the repository: its name only
    assert (exported["total"], exported["masked"]) == (1, 1)  # the card number's message is refused
    written = yaml.safe_load((tmp_path / "data" / "nlu" / "reviewed.yml").read_text())
    assert written["nlu"] == [{"intent": "card_swallowed", "examples": "- the [cash machine](merchant) swallowed it\n"}]

    assert client.get("/annotations/accuracy", headers=bearer("staff")).json() == {"before": None, "after": None}
    (tmp_path / "nlu_eval.json").write_text(json.dumps({"history": [
        {"evaluated_at": "2026-12-05T10:00:00+00:00", "model_sha256": "a" * 64, "n": 3080, "accuracy": 0.905,
         "macro_f1": 0.919},
        {"evaluated_at": "2026-12-06T01:00:00+00:00", "model_sha256": "b" * 64, "n": 3080, "accuracy": 0.9103,
         "macro_f1": 0.92}]}))
    acc = client.get("/annotations/accuracy", headers=bearer("staff")).json()
    assert (acc["before"]["accuracy"], acc["after"]["accuracy"]) == (0.905, 0.9103)
    spec = client.get("/openapi.json").json()["paths"]["/annotations/{event_id}"]["post"]["responses"]
    assert {"200", "401", "403", "404", "422"} <= set(spec)


def test_page_decides_flags_from_the_transcript_and_exports(client: TestClient, tmp_path: Path) -> None:
    (tmp_path / "nlu_eval.json").write_text(json.dumps({"history": [
        {"evaluated_at": "2026-12-05T10:00:00+00:00", "model_sha256": "a" * 64, "n": 3080, "accuracy": 0.905,
         "macro_f1": 0.919},
        {"evaluated_at": "2026-12-06T01:00:00+00:00", "model_sha256": "b" * 64, "n": 3080, "accuracy": 0.9103,
         "macro_f1": 0.92}]}))
    assert client.get("/staff/annotations", follow_redirects=False).status_code == 303
    assert client.get("/staff/annotations", headers=bearer("marketing")).status_code == 403
    page = client.get("/staff/annotations", headers=bearer("staff"))
    assert page.status_code == 200 and "the cash machine swallowed it" in page.text and "4111" not in page.text
    assert "90.5%" in page.text and "91.0%" in page.text and "b" * 12 in page.text
    assert client.get("/staff/annotations?threshold=x", headers=bearer("staff")).status_code == 422

    swallowed = _id("the cash machine swallowed it")
    for headers in ({}, {"Origin": "https://evil.example"}):
        refused = client.post(f"/staff/annotations/{swallowed}", content="intent=card_swallowed",
                              headers={**FORM, **bearer("staff"), **headers}, follow_redirects=False)
        assert refused.status_code == 403
    bad = client.post(f"/staff/annotations/{swallowed}", content="intent=card_swallowed&entities=oops",
                      headers={**FORM, **bearer("staff"), **ORIGIN}, follow_redirects=False)
    assert bad.status_code == 303 and "error=" in bad.headers["location"]
    ok = client.post(f"/staff/annotations/{swallowed}", content="intent=card_swallowed&entities=merchant%3Dcash+machine",
                     headers={**FORM, **bearer("staff"), **ORIGIN}, follow_redirects=False)
    assert ok.status_code == 303 and "Corrected+to+card_swallowed" in ok.headers["location"]
    assert client.post("/staff/annotations/99999", content="intent=card_swallowed",
                       headers={**FORM, **bearer("staff"), **ORIGIN}).status_code == 404

    # the transcript's "Wrong intent" button puts a confident message into the inbox
    ref = conversation_ref("tg-b")
    transcript = client.get(f"/staff/conversations/{ref}", headers=bearer("staff"))
    assert "Wrong intent" in transcript.text
    balance = _id("how much is in my account")
    flagged = client.post(f"/staff/conversations/{ref}/wrong-intent", content=f"event_id={balance}",
                          headers={**FORM, **bearer("staff"), **ORIGIN}, follow_redirects=False)
    assert flagged.status_code == 303 and "annotation+inbox" in flagged.headers["location"]
    other = client.post(f"/staff/conversations/{conversation_ref('rest-a')}/wrong-intent", content=f"event_id={balance}",
                        headers={**FORM, **bearer("staff"), **ORIGIN})
    assert other.status_code == 404  # a message of another conversation
    assert "marked wrong by ana" in client.get("/staff/annotations", headers=bearer("staff")).text

    export = client.post("/staff/annotations/export", headers={**bearer("staff"), **ORIGIN}, follow_redirects=False)
    assert export.status_code == 303 and "Exported+1+examples" in export.headers["location"]
    assert (tmp_path / "data" / "nlu" / "reviewed.yml").is_file()
    with session_scope() as s:
        fields = s.scalars(select(AuditLog.field).where(AuditLog.entity == "nlu_annotation").order_by(AuditLog.id)).all()
    assert list(fields) == ["corrected", "flagged", "export"]


def test_a_fallback_message_has_no_intent_preselected(client: TestClient) -> None:
    # nlu_fallback is not a choice: the select used to fall on its first option, and Save "corrected" the
    # message to whichever intent that was (exported as training data)
    _store([_user("rest-c", T0 + 60, "blorp fizzle quux", "nlu_fallback", 0.3)])
    fallback = _id("blorp fizzle quux")
    page = client.get("/staff/annotations", headers=bearer("staff")).text
    form = page[page.index(f'action="/staff/annotations/{fallback}"'):]
    select = form[:form.index("</select>")]
    assert "required" in select and '<option value="" selected>' in select
    assert select.count(" selected") == 1
    swallowed = page[page.index(f'action="/staff/annotations/{_id("the cash machine swallowed it")}"'):]
    assert '<option value="card_arrival" selected>' in swallowed[:swallowed.index("</select>")]
    unpicked = client.post(f"/staff/annotations/{fallback}", content="intent=&entities=",
                           headers={**FORM, **bearer("staff"), **ORIGIN}, follow_redirects=False)
    assert unpicked.status_code == 303 and "error=Pick+one" in unpicked.headers["location"]
