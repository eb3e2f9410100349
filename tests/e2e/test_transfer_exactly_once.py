"""Money exactly once, against the real Rasa server, action server and database (issue 12 item 1).

- a replayed confirmation (the tracker store lost the "yes" turn: Rasa's fail-safe tracker store kept it in
  memory only, so the store still says "awaiting confirmation") moves the money once;
- a database failure while submitting (a trigger that makes the transfers table refuse inserts) clears the
  form: the next transfer request asks again instead of sending the old amount;
- "no" at the read-back moves nothing, and the staff analytics (over the feed's transcript store) count the
  transfer abandoned, not failed.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from decimal import Decimal
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select, text

from profiles import issue_token, list_accounts
from profiles.bot_analytics import TransferTasks, transfer_tasks
from profiles.db import get_engine, session_scope
from profiles.models import Transfer

pytestmark = pytest.mark.e2e


def said(replies: list[dict[str, Any]]) -> str:
    return "\n".join(str(r.get("text", "")) for r in replies)


def buttons(replies: list[dict[str, Any]]) -> list[dict[str, str]]:
    return [b for r in replies for b in r.get("buttons", [])]


def _customer_with_room(start: int) -> int:
    """A seeded customer with one current account (at least €100 in it) and a savings account."""
    for cid in range(start, start + 60):
        kinds = {a.kind: a for a in list_accounts(cid)}
        if "current" in kinds and "savings" in kinds and kinds["current"].balance >= 100 and (
            sum(a.kind == "current" for a in list_accounts(cid)) == 1
        ):
            return cid
    pytest.fail("no seeded customer with a current and a savings account")


def _balances(cid: int) -> dict[str, Decimal]:
    return {a.kind: a.balance for a in list_accounts(cid) if a.kind in ("current", "savings")}


def _to_confirmation(stack: Any, sender: str, token: str, cid: int, amount: str) -> str:
    accounts = {a.kind: a for a in list_accounts(cid)}
    assert "How much" in said(stack.chat(sender, "I want to transfer money", token=token))
    replies = stack.chat(sender, amount, token=token)
    if "Which account" in said(replies):  # asked only when the customer has more than one current account
        source = next(b["payload"] for b in buttons(replies) if accounts["current"].masked_number in b["payload"])
        replies = stack.chat(sender, source, token=token)
    target = next(b["payload"] for b in buttons(replies) if accounts["savings"].masked_number in b["payload"])
    question = said(stack.chat(sender, target, token=token))
    assert "confirm" in question
    return question


def _transfers_of(cid: int) -> int:
    with session_scope() as s:
        return int(s.scalar(select(func.count()).select_from(Transfer).where(Transfer.customer_id == cid)) or 0)


def _snapshot(stack: Any, sender: str) -> Callable[[], None]:
    """Remember the conversation as stored now; the returned function puts exactly that back in the store
    (Redis: the stored value itself; in-memory store: Rasa's replace-events API)."""
    if stack.redis_url:
        import redis

        client = redis.Redis.from_url(stack.redis_url, socket_timeout=5)
        key = f"nova:tracker:{sender}"
        stored, ttl = client.get(key), client.ttl(key)
        assert stored is not None, f"{key} not in Redis"

        def set_back() -> None:
            client.set(key, stored, ex=max(int(ttl), 60))
            client.close()
        return set_back
    events = stack.tracker(sender)["events"]

    def put_back() -> None:
        httpx.put(f"{stack.rasa_url}/conversations/{sender}/tracker/events",
                  params={"token": stack.rasa_token}, json=events, timeout=60).raise_for_status()
    return put_back


def test_a_replayed_confirmation_moves_the_money_once(live_stack: Any) -> None:
    cid = _customer_with_room(6)
    token, sender = issue_token(cid), live_stack.new_sender("once")
    _to_confirmation(live_stack, sender, token, cid, "17.25")
    restore_awaiting_yes = _snapshot(live_stack, sender)
    before, count = _balances(cid), _transfers_of(cid)

    assert "Done" in said(live_stack.chat(sender, "yes", token=token))
    # The store goes back to "awaiting confirmation", as after a failed save of the "yes" turn.
    restore_awaiting_yes()
    assert live_stack.tracker(sender)["slots"]["requested_slot"] == "transfer_confirmed"
    again = said(live_stack.chat(sender, "yes", token=token))

    assert "already made" in again and "Done" not in again
    after = _balances(cid)
    assert after["current"] == before["current"] - Decimal("17.25")
    assert after["savings"] == before["savings"] + Decimal("17.25")
    assert _transfers_of(cid) == count + 1


def test_no_at_the_read_back_moves_nothing_and_counts_as_abandoned(live_stack: Any) -> None:
    cid = _customer_with_room(12)
    token, sender = issue_token(cid), live_stack.new_sender("declined")
    _to_confirmation(live_stack, sender, token, cid, "12.40")
    before, count = _balances(cid), _transfers_of(cid)

    assert "Nothing was changed" in said(live_stack.chat(sender, "no", token=token))
    live_stack.chat(sender, "thanks", token=token)
    assert _balances(cid) == before and _transfers_of(cid) == count

    def outcome() -> TransferTasks | None:
        with session_scope() as s:
            tasks = transfer_tasks(s, {sender})
        return tasks if tasks.started and tasks.started == tasks.completed + tasks.failed + tasks.abandoned else None

    deadline = time.monotonic() + 15  # the feed delivers within seconds (docs/FEED.md)
    while (tasks := outcome()) is None:
        assert time.monotonic() < deadline, "the feed did not deliver the conversation"
        time.sleep(0.2)
    assert (tasks.started, tasks.completed, tasks.failed, tasks.abandoned) == (1, 0, 0, 1)


@pytest.fixture
def transfers_refuse_inserts() -> Iterator[None]:
    """A real database failure inside the submit path: a trigger that makes every insert into transfers fail."""
    engine = get_engine()
    postgres = engine.dialect.name == "postgresql"
    with engine.begin() as conn:
        if postgres:
            conn.execute(text(
                "CREATE FUNCTION e2e_refuse_transfer() RETURNS trigger LANGUAGE plpgsql AS "
                "$$ BEGIN RAISE EXCEPTION 'e2e: transfers table refuses writes'; END $$"
            ))
            conn.execute(text(
                "CREATE TRIGGER e2e_refuse_transfer BEFORE INSERT ON transfers "
                "FOR EACH ROW EXECUTE FUNCTION e2e_refuse_transfer()"
            ))
        else:
            conn.execute(text(
                "CREATE TRIGGER e2e_refuse_transfer BEFORE INSERT ON transfers "
                "BEGIN SELECT RAISE(ABORT, 'e2e: transfers table refuses writes'); END"
            ))
    try:
        yield
    finally:
        with engine.begin() as conn:
            conn.execute(text("DROP TRIGGER IF EXISTS e2e_refuse_transfer" + (" ON transfers" if postgres else "")))
            if postgres:
                conn.execute(text("DROP FUNCTION IF EXISTS e2e_refuse_transfer()"))


def test_a_database_failure_at_submit_disarms_the_form(live_stack: Any, request: pytest.FixtureRequest) -> None:
    cid = _customer_with_room(30)
    token, sender = issue_token(cid), live_stack.new_sender("dbfail")
    before, count = _balances(cid), _transfers_of(cid)
    _to_confirmation(live_stack, sender, token, cid, "20")

    request.getfixturevalue("transfers_refuse_inserts")
    reply = said(live_stack.chat(sender, "yes", token=token))
    assert "not made" in reply and "no money was moved" in reply
    assert "e2e:" not in reply  # the database's message stays in the server
    slots = live_stack.tracker(sender)["slots"]
    assert all(slots[s] is None for s in ("amount", "from_account", "to_account", "transfer_confirmed", "transfer_quote"))
    assert _balances(cid) == before and _transfers_of(cid) == count

    # the database works again (the fixture's clean-up is idempotent); the next request asks, it never
    # sends the old €20
    with get_engine().begin() as conn:
        postgres = conn.dialect.name == "postgresql"
        conn.execute(text("DROP TRIGGER IF EXISTS e2e_refuse_transfer" + (" ON transfers" if postgres else "")))
    replies = live_stack.chat(sender, "I want to transfer 35 euros", token=token)
    text_ = said(replies)
    assert "Done" not in text_ and "€20.00" not in text_
    assert "Where should the money go" in text_  # a question: the new €35 (default source), not the old €20
    assert live_stack.tracker(sender)["slots"]["amount"] == "35.00"
    assert _balances(cid) == before and _transfers_of(cid) == count
