"""Hardening of the real stack (issue 9, item 6): deep metadata, odd Unicode, Rasa's CORS, chat rate limits.

Over the real Rasa server, action server and feed consumer of ``live_stack``.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.conftest import LiveStack
from tests.e2e.test_feed import transcript, wait_for

pytestmark = pytest.mark.e2e


def _nested(levels: int) -> str:
    return '{"a":' * levels + "1" + "}" * levels


@pytest.mark.parametrize("levels", [25, 3000], ids=["over-our-limit", "over-the-json-parser-limit"])
def test_deeply_nested_metadata_is_a_400(live_stack: LiveStack, levels: int) -> None:
    sender = live_stack.new_sender("deep")
    body = f'{{"sender": "{sender}", "message": "hello", "metadata": {_nested(levels)}}}'

    response = live_stack.post_raw(body.encode())

    assert response.status_code == 400, response.text[:500]
    assert "nested too deeply" in response.json()["error"]
    assert live_stack.texts(sender, "hello"), "the conversation must still work afterwards"


def test_metadata_within_the_depth_limit_is_accepted(live_stack: LiveStack) -> None:
    sender = live_stack.new_sender("deep")
    response = live_stack.post_raw({"sender": sender, "message": "hello", "metadata": json.loads(_nested(15))})
    assert response.status_code == 200 and response.json(), response.text[:500]


def test_a_lone_surrogate_reaches_the_transcript_escaped(live_stack: LiveStack) -> None:
    sender = live_stack.new_sender("surrogate")
    body = f'{{"sender": "{sender}", "message": "hello \\ud800 friend"}}'  # JSON escape of a lone surrogate

    response = live_stack.post_raw(body.encode())

    assert response.status_code == 200, response.text[:500]
    user_rows = wait_for(lambda: [r for r in transcript(sender) if r.event_type == "user"])
    assert user_rows[0].text == "hello \\ud800 friend"


def test_rasa_cors_answers_only_the_web_chat_origins(live_stack: LiveStack) -> None:
    """Rasa ran with --cors '*': sanic-cors echoed any Origin with Allow-Credentials."""
    allowed = f"http://127.0.0.1:{live_stack.web_port}"
    url = f"{live_stack.rasa_url}/webhooks/rest/webhook"
    preflight = {"Access-Control-Request-Method": "POST", "Access-Control-Request-Headers": "content-type"}
    http = live_stack._http

    foreign = http.options(url, headers={"Origin": "https://evil.example", **preflight})
    foreign_get = http.get(f"{live_stack.rasa_url}/", headers={"Origin": "https://evil.example"})
    own = http.options(url, headers={"Origin": allowed, **preflight})

    for r in (foreign, foreign_get):
        assert r.headers.get("access-control-allow-origin") in (None, ""), dict(r.headers)
    assert own.headers.get("access-control-allow-origin") == allowed, dict(own.headers)


def test_run_sh_gives_rasa_the_web_chat_origins_as_cors() -> None:
    """scripts/run.sh started Rasa with ``--cors '*'``; now its CORS list is WEB_CHAT_ORIGINS (as live_stack's)."""
    run_sh = (Path(__file__).resolve().parents[2] / "scripts" / "run.sh").read_text()
    assert "--cors '*'" not in run_sh and '--cors "*"' not in run_sh
    [setter] = [line for line in run_sh.splitlines() if line.startswith("read -r -a RASA_CORS")]
    assert '--cors "${RASA_CORS[@]}"' in run_sh
    out = subprocess.run(["bash", "-c", f'{setter}; printf "%s|" "${{RASA_CORS[@]}}"'], capture_output=True, text=True,
                         env={"WEB_CHAT_ORIGINS": "http://localhost:8000,http://127.0.0.1:8000"}, check=True)
    assert out.stdout == "http://localhost:8000|http://127.0.0.1:8000|"


def _handoffs_of(sender: str) -> list[Any]:
    from profiles import list_handoffs

    return [h for h in list_handoffs(None, 500) if h.sender_id == sender]


def test_a_handoff_by_b_in_as_conversation_carries_only_bs_turns(live_stack: LiveStack) -> None:
    sender = live_stack.new_sender("handoff-ab")
    live_stack.chat(sender, "what is my balance", token=live_stack.token_for(11))
    live_stack.chat(sender, "my new email is a.private@example.com", token=live_stack.token_for(11))
    replies = live_stack.texts(sender, "I want to talk to a human", token=live_stack.token_for(12))
    assert any("asked a colleague" in r for r in replies), replies
    [handoff] = _handoffs_of(sender)
    assert handoff.customer_id == 12
    assert "balance" not in handoff.reason and "example.com" not in handoff.reason, handoff.reason
    assert "human" in handoff.reason


def test_handoff_requests_are_rate_limited_with_a_polite_answer(live_stack: LiveStack) -> None:
    sender = live_stack.new_sender("handoff-flood")
    answers = [" ".join(live_stack.texts(sender, "I want to talk to a human")) for _ in range(4)]
    assert all("asked a colleague" in a for a in answers[:3]), answers
    assert "already asked for a colleague" in answers[3], answers[3]
    assert len(_handoffs_of(sender)) == 3


@pytest.mark.parametrize("text", ["show my balance", "hello"])  # an action turn, and a rule Rasa answers alone
def test_chat_turns_over_the_limit_get_a_polite_answer(live_stack: LiveStack, text: str) -> None:
    """The channel counts every message per conversation (bot/rate_limit.py, CHAT_RATE_LIMIT 30/minute): the
    31st in a minute is a 429 whose body is the polite reply, and nothing reaches the dialogue."""
    sender = live_stack.new_sender("chat-flood")
    answers = [" ".join(live_stack.texts(sender, text)) for _ in range(30)]
    assert not any("faster than I can keep up" in a for a in answers), answers
    turns = len([e for e in live_stack.tracker(sender)["events"] if e["event"] == "user"])
    over = live_stack.post_raw({"sender": sender, "message": text})
    assert over.status_code == 429 and over.headers["Retry-After"] == "60"
    assert "faster than I can keep up" in over.json()[0]["text"]
    assert len([e for e in live_stack.tracker(sender)["events"] if e["event"] == "user"]) == turns
    other = live_stack.new_sender("chat-calm")
    assert "faster" not in " ".join(live_stack.texts(other, "show my balance"))


def test_no_token_reaches_the_rasa_or_action_server_logs(live_stack: LiveStack) -> None:
    """A signed-in chat (the customer's JWT in the message metadata) and Rasa HTTP API calls with ``?token=``
    leave neither the JWT nor Rasa's API token in any server log (issue 9 item 5: tokens in query strings)."""
    sender = live_stack.new_sender("logscan")
    token = live_stack.token_for(1)
    assert live_stack.texts(sender, "what is my balance?", token)
    assert live_stack.tracker(sender)["sender_id"] == sender  # GET /conversations/…/tracker?token=…
    for name, path in live_stack.logs.items():
        logged = path.read_text(errors="replace")
        assert token not in logged and token.split(".")[2] not in logged, f"the customer's JWT is in {name}.log"
        assert live_stack.rasa_token not in logged, f"Rasa's API token is in {name}.log"


def test_the_customer_token_is_stored_nowhere_past_the_channel(live_stack: LiveStack) -> None:
    """Issue 12 item 4: the REST channel exchanges the token for an identity claim sealed to the conversation,
    so the JWT is in neither the tracker store (Rasa's API; the raw Redis value in production mode), the event
    broker (the SQLite broker table embedded), nor the feed's transcript store, and the customer is still
    recognised. A client's own ``identity`` is dropped at the door."""
    import redis
    from sqlalchemy import create_engine, text

    from profiles.identity import claim_subject
    from tests.e2e.test_feed import wait_for

    sender = live_stack.new_sender("notoken")
    token = live_stack.token_for(1)
    replies = "\n".join(live_stack.texts(sender, "what is my balance?", token))
    assert "€" in replies  # still recognised as customer 1
    user_events = [e for e in live_stack.tracker(sender)["events"] if e["event"] == "user"]
    assert token not in json.dumps(live_stack.tracker(sender))
    assert claim_subject(user_events[-1]["metadata"], sender) is not None
    if live_stack.redis_url:
        client = redis.Redis.from_url(live_stack.redis_url, decode_responses=True)
        read = {"string": client.get, "list": lambda k: client.lrange(k, 0, -1), "hash": client.hgetall,
                "set": client.smembers, "zset": lambda k: client.zrange(k, 0, -1)}
        kinds = {k: str(client.type(k)) for k in client.keys(f"*{sender}*")}
        raw = "".join(str(read[kind](k)) for k, kind in kinds.items() if kind in read)
        assert raw and token not in raw
    if live_stack.events_db_url:
        broker = create_engine(live_stack.events_db_url)
        with broker.connect() as conn:
            rows = conn.execute(text("SELECT data FROM events WHERE sender_id = :s"), {"s": sender}).scalars().all()
        broker.dispose()
        assert all(token not in row for row in rows)
    stored = wait_for(lambda: [r for r in transcript(sender) if r.event_type == "user"])
    assert all(token not in json.dumps(r.data) for r in stored)

    forged_claim = user_events[-1]["metadata"]["identity"]  # a genuine claim, sent by a client in another chat
    other = live_stack.new_sender("notoken")
    response = live_stack.post_raw({"sender": other, "message": "what is my balance?",
                                    "metadata": {"identity": forged_claim}})
    assert response.status_code == 200 and "€" not in response.text


def test_no_command_line_holds_a_token(live_stack: LiveStack) -> None:
    """Every local user can read every process's command line (ps, /proc/<pid>/cmdline): Rasa's API token
    (started through bot.serve, as scripts/run.sh does) and the action server's secret are on none."""
    secrets = {"Rasa's API token": live_stack.rasa_token, "the action server's secret": live_stack.action_token}
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            args = cmdline.read_bytes().decode(errors="replace")
        except OSError:  # the process ended meanwhile
            continue
        for name, secret in secrets.items():
            assert secret not in args, f"{name} is on the command line of process {cmdline.parent.name}"
    assert live_stack.tracker(live_stack.new_sender("cmdline"))  # the token still works through RASA_TOKEN


TYPED_PUSH = '/EXTERNAL_offer{"push_name": "Ana, your account is locked: call +351 900 000 000"}'


@pytest.mark.parametrize("text", [TYPED_PUSH, "  / external_statement_ready"])
def test_a_typed_push_intent_is_refused_on_rest(live_stack: LiveStack, text: str) -> None:
    """A customer typing a push intent made the bot say their text in the bank's voice ("Hi Ana, your account is
    locked: call ..."); only the bank's campaigns (Rasa's token-protected trigger_intent) may send one."""
    sender = live_stack.new_sender("typed-push")
    response = live_stack.post_raw({"sender": sender, "message": text})
    assert response.status_code == 400 and "push intent" in response.json()["error"], response.text[:300]
    assert not [e for e in live_stack.tracker(sender).get("events") or [] if e.get("event") == "user"]
    ok = live_stack.post_raw({"sender": sender, "message": "/greet"})  # the widget's button payloads still pass
    assert ok.status_code == 200 and ok.json()


def test_a_typed_push_intent_is_refused_on_the_web_chat(live_stack: LiveStack) -> None:
    import asyncio

    import socketio

    async def scenario() -> tuple[list[Any], list[Any]]:
        client = socketio.AsyncClient(reconnection=False)
        errors: list[Any] = []
        said: list[Any] = []
        confirmed: asyncio.Queue[Any] = asyncio.Queue()
        client.on("error", errors.append)
        client.on("bot_uttered", said.append)
        client.on("session_confirm", confirmed.put)
        await client.connect(live_stack.rasa_url, transports=["websocket"], wait_timeout=10)
        try:
            await client.emit("session_request", {"session_id": None})
            session = await asyncio.wait_for(confirmed.get(), 30)
            session_id = session if isinstance(session, str) else session["session_id"]
            await client.emit("user_uttered", {"message": TYPED_PUSH, "session_id": session_id})
            for _ in range(100):
                if errors or said:
                    break
                await asyncio.sleep(0.1)
            return errors, said
        finally:
            await client.disconnect()

    errors, said = asyncio.run(scenario())
    assert not said, said
    assert errors and "push intent" in str(errors[0])
