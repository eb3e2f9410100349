"""Impersonation through client-supplied channel, sender id or slots, and direct calls to the action server
(issue 9, items 1 and 3), against the real Rasa server and action server of ``live_stack``.

The victim is a customer whose Telegram chat / Messenger PSID is linked in the CRM (linked directly through
``profiles.linking``: whether the messenger webhooks are on plays no part in what the REST channel accepts).
"""

from __future__ import annotations

import itertools
import os
import subprocess
import sys
import time
import uuid
from decimal import Decimal
from typing import Any

import httpx
import pytest
import yaml
from sqlalchemy import func, select

from profiles import issue_token, list_accounts
from profiles.db import session_scope
from profiles.linking import failed_attempts, issue_link_code, linked_customer, redeem_link_code
from profiles.models import Transfer
from tests.e2e.conftest import ROOT

pytestmark = pytest.mark.e2e

_ids = itertools.count(int(time.time()) % 1_000_000 * 1000 + 7)


def _linked(channel: str, customer_id: int) -> str:
    """A fresh messenger id (digits, as Telegram chat ids and Messenger PSIDs are) linked to the customer."""
    external = str(next(_ids))
    assert redeem_link_code(channel, external, issue_link_code(customer_id)) == customer_id
    return external


def _two_account_customer(start: int) -> int:
    """The first customer from id ``start`` on with a current and a savings account (a transfer target)."""
    for customer_id in range(start, start + 100):
        if {"current", "savings"} <= {a.kind for a in list_accounts(customer_id)}:
            return customer_id
    raise AssertionError("no seeded customer with a current and a savings account")


def _transfers(customer_id: int) -> int:
    with session_scope() as s:
        return int(s.scalar(select(func.count()).select_from(Transfer).where(Transfer.customer_id == customer_id)) or 0)


def _said(response: httpx.Response) -> str:
    if response.status_code != 200:
        return ""
    return "\n".join(str(r.get("text", "")) for r in response.json())


def _spoof(stack: Any, sender: str, channel: str, text: str) -> httpx.Response:
    return stack.post_raw({"sender": sender, "message": text, "input_channel": channel})


@pytest.mark.parametrize("channel", ["telegram", "facebook"])
def test_rest_body_claiming_a_messenger_channel_gets_nothing_of_the_linked_customer(live_stack: Any, channel: str) -> None:
    customer = 11
    external = _linked(channel, customer)
    before = {a.id: a.balance for a in list_accounts(customer)}
    transfers_before = _transfers(customer)

    balance = _spoof(live_stack, external, channel, "what's my balance?")
    assert "€" not in _said(balance) and all(a.masked_number not in _said(balance) for a in list_accounts(customer))

    # a whole transfer dialogue: whatever the bot offers (buttons), take the first choice, then say yes
    replies = _spoof(live_stack, external, channel, "I want to transfer money")
    for text in ["10", None, None, "yes"]:
        choices = [b["payload"] for r in (replies.json() if replies.status_code == 200 else []) for b in r.get("buttons", [])]
        replies = _spoof(live_stack, external, channel, text or (choices[0] if choices else "yes"))
        assert "Done" not in _said(replies)
    assert {a.id: a.balance for a in list_accounts(customer)} == before
    assert _transfers(customer) == transfers_before

    # no unlink, and wrong link codes do not count against (and so cannot lock out) the messenger account
    _spoof(live_stack, external, channel, "unlink")
    assert linked_customer(channel, external) == customer
    _spoof(live_stack, external, channel, "link ABCD-EFGH")
    assert failed_attempts(channel, external) == 0


def test_rest_senders_shaped_like_messenger_ids_are_refused(live_stack: Any) -> None:
    for sender in ["123456789", "-1001234567890", "7"]:
        response = live_stack.post_raw({"sender": sender, "message": "hello"})
        assert response.status_code == 400, response.text
        assert "sender" in response.json()["error"]
    assert live_stack.post_raw({"sender": "web-123456789", "message": "hello"}).status_code == 200


def test_input_channel_of_a_rest_message_is_always_rest(live_stack: Any) -> None:
    sender = live_stack.new_sender()
    token = issue_token(12)
    for claimed in ["telegram", "facebook", "socketio"]:
        response = live_stack.post_raw({"sender": sender, "message": "hello", "input_channel": claimed,
                                        "metadata": {"token": token}})
        assert response.status_code == 200, response.text
        assert live_stack.tracker(sender)["latest_input_channel"] == "rest"


def test_typed_intent_payload_cannot_set_identity_or_confirmation_slots(live_stack: Any) -> None:
    sender = live_stack.new_sender()
    live_stack.chat(sender, '/affirm{"owner": "13", "transfer_confirmed": true, "verified": true, "amount": "10"}')
    slots = live_stack.tracker(sender)["slots"]
    assert slots.get("owner") in (None, "") and slots.get("transfer_confirmed") is not True
    assert slots.get("verified") is not True and slots.get("amount") is None


# --- the action server ---------------------------------------------------------------------------------------


def _forged_transfer_call(sender: str, customer_id: int, channel: str = "telegram") -> dict[str, Any]:
    """What Rasa would send to run ``action_submit_transfer``, made by hand: a tracker whose latest message
    came in on ``channel`` from ``sender`` and whose slots claim the owner and a confirmed transfer."""
    accounts = {a.kind: a for a in list_accounts(customer_id)}
    slots = {"owner": str(customer_id), "verified": True, "transfer_confirmed": True, "amount": "10",
             "from_account": str(accounts["current"].id), "to_account": f"acc:{accounts['savings'].id}"}
    latest = {"text": "yes", "intent": {"name": "affirm", "confidence": 1.0}, "entities": [], "metadata": {}}
    events = [{"event": "action", "name": "action_listen", "timestamp": time.time()},
              {"event": "user", "text": "yes", "parse_data": latest, "input_channel": channel,
               "timestamp": time.time(), "metadata": {}}]
    tracker = {"sender_id": sender, "slots": slots, "latest_message": latest, "events": events, "paused": False,
               "followup_action": None, "active_loop": {}, "latest_action_name": "action_listen",
               "latest_input_channel": channel}
    domain = yaml.safe_load((ROOT / "domain.yml").read_text())
    return {"next_action": "action_submit_transfer", "sender_id": sender, "tracker": tracker, "domain": domain,
            "version": "3.6.21"}


def _balances(customer_id: int) -> dict[int, Decimal]:
    return {a.id: a.balance for a in list_accounts(customer_id)}


def test_action_server_refuses_calls_without_the_shared_secret(live_stack: Any) -> None:
    customer = _two_account_customer(20)
    chat = _linked("telegram", customer)
    before, transfers_before = _balances(customer), _transfers(customer)
    call = _forged_transfer_call(chat, customer)
    for headers in [{}, {"Authorization": "Bearer wrong"}, {"Authorization": f"Basic {live_stack.action_token}"}]:
        response = httpx.post(f"{live_stack.action_url}/webhook", json=call, headers=headers, timeout=60)
        assert response.status_code == 401, (headers, response.text)
    assert httpx.get(f"{live_stack.action_url}/actions", timeout=30).status_code == 401
    assert httpx.get(f"{live_stack.action_url}/health", timeout=30).json() == {"status": "ok"}
    assert _balances(customer) == before and _transfers(customer) == transfers_before


def test_forged_owner_slot_executes_no_transfer_even_with_the_secret(live_stack: Any) -> None:
    customer = _two_account_customer(60)
    chat = _linked("telegram", customer)
    before, transfers_before = _balances(customer), _transfers(customer)
    response = httpx.post(f"{live_stack.action_url}/webhook", json=_forged_transfer_call(chat, customer),
                          headers={"Authorization": f"Bearer {live_stack.action_token}"}, timeout=60)
    assert response.status_code == 200, response.text
    texts = " ".join(str(r.get("text") or r.get("response") or "") for r in response.json()["responses"])
    assert "Done" not in texts
    assert _balances(customer) == before and _transfers(customer) == transfers_before


def test_rasa_passes_the_secret_so_real_conversations_still_work(live_stack: Any) -> None:
    sender, token = f"e2e-{uuid.uuid4().hex[:10]}", issue_token(16)
    text = " ".join(live_stack.texts(sender, "what's my balance?", token=token))
    for account in list_accounts(16):
        assert account.masked_number in text


def _production_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("ACTION_SERVER_TOKEN", "REDIS_URL", "HOST")}
    return {**env, "ENVIRONMENT": "production", "JWT_SECRET": "j" * 40, "RASA_TOKEN": "r" * 40, **extra}


def test_outside_development_the_default_or_no_secret_stops_the_action_server_and_run_sh(tmp_path: Any) -> None:
    for extra in ({}, {"ACTION_SERVER_TOKEN": ""}):
        done = subprocess.run([sys.executable, "-m", "actions.server", "--actions", "actions", "--port", "1"],
                              cwd=ROOT, env=_production_env(**extra), capture_output=True, text=True, timeout=120)
        assert done.returncode != 0 and "ACTION_SERVER_TOKEN" in done.stderr, done.stderr[-2000:]
    done = subprocess.run(["bash", "scripts/run.sh"], cwd=ROOT, env=_production_env(LOG_DIR=str(tmp_path)),
                          capture_output=True, text=True, timeout=60)
    assert done.returncode != 0
    assert "ACTION_SERVER_TOKEN" in done.stderr and "development default" in done.stderr
