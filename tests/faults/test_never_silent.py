"""Never silent, fail closed (issue 12 items 1 and 2), against a private production-mode stack
(tests/faults/conftest.py): each part is killed or paused for real, and the REST webhook must answer the
apology with a reference instead of ``200 []``; a "yes" sent while Redis was down executes nothing, and the
pending transfer moves the money once after Redis is back. Results: docs/RELIABILITY.md.
"""

from __future__ import annotations

import re
import time
import uuid
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import func, select, text

from tests.faults.conftest import FaultStack

pytestmark = pytest.mark.e2e

APOLOGY = re.compile(r"^Sorry, something went wrong on our side\. Please try again in a minute \(ref ([A-Z2-9]{6})\)\.$")
FAQ = "how long does it take for my card to arrive?"
BALANCE = "what's my balance?"


def said(replies: list[dict[str, Any]]) -> str:
    return "\n".join(str(r.get("text", "")) for r in replies)


def apology_ref(replies: list[dict[str, Any]]) -> str:
    """The reference of the apology that must be the turn's last message."""
    assert replies, "the webhook answered [] (silence)"
    match = APOLOGY.match(str(replies[-1].get("text", "")))
    assert match, f"no apology in {replies!r}"
    return match.group(1)


def sender() -> str:
    return f"fault-{uuid.uuid4().hex[:12]}"


def _rasa_log(stack: FaultStack) -> str:
    return stack.logs["rasa"].read_text(errors="replace")


def _customer_with_room() -> int:
    from profiles import list_accounts

    for cid in range(1, 61):
        accounts = list_accounts(cid)
        current = [a for a in accounts if a.kind == "current"]
        if len(current) == 1 and current[0].balance >= 100 and any(a.kind == "savings" for a in accounts):
            return cid
    pytest.fail("no seeded customer with one current account (>= 100) and a savings account")


def _transfers_of(cid: int) -> int:
    from profiles.db import session_scope
    from profiles.models import Transfer

    with session_scope() as s:
        return int(s.scalar(select(func.count()).select_from(Transfer).where(Transfer.customer_id == cid)) or 0)


def _log_line(stack: FaultStack, ref: str) -> str:
    """Rasa's one log line for the apology ``ref``; it never carries the customer's message."""
    line = next(line for line in _rasa_log(stack).splitlines() if f"ref {ref}" in line)
    assert FAQ not in line and "my balance" not in line
    return line


def test_faq_answers_when_all_is_well(fault_stack: FaultStack) -> None:
    replies = fault_stack.chat(sender(), FAQ)
    assert replies and not APOLOGY.match(said(replies)) and "working days" in said(replies)


def test_tracker_store_down_fails_closed_with_the_apology(fault_stack: FaultStack, tracker_redis_down: None) -> None:
    # Rasa's FailSafeTrackerStore would answer the FAQ from a fresh in-memory conversation and keep it there.
    ref = apology_ref(fault_stack.chat(sender(), FAQ))
    assert "TrackerStoreUnavailable" in _log_line(fault_stack, ref)


def test_lock_store_down_gives_the_apology_not_silence(fault_stack: FaultStack, lock_redis_down: None) -> None:
    ref = apology_ref(fault_stack.chat(sender(), FAQ))
    assert "LockError" in _log_line(fault_stack, ref)


def test_a_yes_sent_while_redis_was_down_moves_the_money_once(fault_stack: FaultStack, stack_database: None) -> None:
    from profiles import issue_token, list_accounts

    cid = _customer_with_room()
    token, conversation = issue_token(cid), sender()
    accounts = {a.kind: a for a in list_accounts(cid)}
    assert "How much" in said(fault_stack.chat(conversation, "I want to transfer money", token=token))
    replies = fault_stack.chat(conversation, "12.5", token=token)
    target = next(b["payload"] for r in replies for b in r.get("buttons", [])
                  if accounts["savings"].masked_number in b["payload"])
    assert "confirm" in said(fault_stack.chat(conversation, target, token=token))
    before, count = accounts["current"].balance, _transfers_of(cid)

    fault_stack.kill_redis("tracker")
    try:
        apology_ref(fault_stack.chat(conversation, "yes", token=token))
        assert _transfers_of(cid) == count, "a transfer was made while the tracker store was down"
    finally:
        fault_stack.start_redis("tracker")

    done = said(fault_stack.chat(conversation, "yes", token=token))
    assert "Done" in done
    again = said(fault_stack.chat(conversation, "yes", token=token))
    assert "Done" not in again
    assert _transfers_of(cid) == count + 1
    after = {a.kind: a.balance for a in list_accounts(cid)}
    assert after["current"] == before - Decimal("12.5")


def test_action_server_down_gives_the_apology(fault_stack: FaultStack, stack_database: None) -> None:
    from profiles import issue_token

    token = issue_token(_customer_with_room())
    fault_stack.kill_actions()
    try:
        ref = apology_ref(fault_stack.chat(sender(), BALANCE, token=token))
    finally:
        fault_stack.start_actions()
    assert "custom action failed: action_show_balance" in _log_line(fault_stack, ref)


def test_a_hung_action_server_gives_the_apology_within_seconds(fault_stack: FaultStack, stack_database: None) -> None:
    from profiles import issue_token

    token = issue_token(_customer_with_room())
    fault_stack.pause_actions(True)
    try:
        t0 = time.monotonic()
        replies = fault_stack.chat(sender(), BALANCE, token=token)
        took = time.monotonic() - t0
    finally:
        fault_stack.pause_actions(False)
    assert "custom action failed" in _log_line(fault_stack, apology_ref(replies))
    assert took < 30, f"the apology took {took:.0f} s (action timeout: 10 s)"


def test_a_database_error_in_an_action_gives_the_apology(fault_stack: FaultStack, stack_database: None) -> None:
    from profiles import issue_token
    from profiles.db import get_engine

    token = issue_token(_customer_with_room())
    engine = get_engine()
    with engine.begin() as conn:
        conn.execute(text("ALTER TABLE accounts RENAME TO faults_accounts_away"))
    try:
        ref = apology_ref(fault_stack.chat(sender(), BALANCE, token=token))
    finally:
        with engine.begin() as conn:
            conn.execute(text("ALTER TABLE faults_accounts_away RENAME TO accounts"))
    # The action answered the apology itself (rasa-sdk would have answered 500 and Rasa stayed silent).
    actions_log = fault_stack.logs["actions"].read_text(errors="replace")
    assert f"failed (ref {ref})" in actions_log
    assert "faults_accounts_away" not in actions_log.split(f"ref {ref}")[-1].splitlines()[0]
