"""Telegram through the real Rasa server (bot/channels.py NovaTelegramInput), replies at the local Bot API fake.

Updates are real Bot API format; the webhook is /webhooks/telegram/webhook with the secret-token header.
Linking end to end: a code issued over REST to demo customer 1 is redeemed on Telegram, then the balance
answered on Telegram is customer 1's, as in the database.
"""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

import httpx
from sqlalchemy import update

from actions.parsing import money
from profiles import list_accounts
from profiles.db import session_scope
from profiles.linking import issue_link_code, linked_customer
from profiles.models import LinkCode, utcnow
from tests.channels.conftest import new_id, post_telegram, telegram_say, telegram_update

CODE = re.compile(r"\b([2-9A-HJ-NP-Z]{4}-[2-9A-HJ-NP-Z]{4})\b")


def _web_code(stack: Any, customer_id: int) -> str:
    """Ask for a link code in the logged-in web chat (REST channel with the customer's token)."""
    replies = " ".join(stack.texts(stack.new_sender("web"), "link my Telegram", token=stack.token_for(customer_id)))
    match = CODE.search(replies)
    assert match, replies
    assert "t.me/" in replies and "expires in" in replies
    return match.group(1)


def _balance_lines(customer_id: int) -> list[str]:
    return [f"{a.masked_number}: {money(a.balance)}" for a in list_accounts(customer_id)]


def test_update_is_answered_at_the_bot_api(live_stack: Any) -> None:
    cloud = live_stack.messenger_cloud
    chat = new_id()
    replies = telegram_say(live_stack, chat, "hello")
    assert replies, "no sendMessage reached the fake"
    sent = cloud.recorded("telegram", "sendMessage")[-1]
    assert sent.path == f"/bot{cloud.telegram_token}/sendMessage" and str(sent.params["chat_id"]) == str(chat)
    assert cloud.recorded("telegram", "setWebhook") == []  # no TELEGRAM_WEBHOOK_URL: no setWebhook at start-up
    assert len(cloud.recorded("telegram", "getMe")) == 1  # once at start-up, not per update


def test_wrong_or_missing_secret_token_is_refused(live_stack: Any) -> None:
    cloud = live_stack.messenger_cloud
    chat = new_id()
    for secret in ("not-the-secret", "", None):
        response = post_telegram(live_stack, telegram_update(chat, "hello"), secret=secret)
        assert response.status_code == 403, response.text
        assert "X-Telegram-Bot-Api-Secret-Token" in response.json()["error"]
    assert cloud.telegram_texts(chat) == []


def test_bad_and_unanswerable_updates(live_stack: Any) -> None:
    cloud = live_stack.messenger_cloud
    chat = new_id()
    for body in (b"", b"not json", b"[1, 2]"):
        response = post_telegram(live_stack, body)
        assert response.status_code == 400, (body, response.text)
    assert post_telegram(live_stack, {"update_id": "x", "message": 5}).status_code == 400
    # a group chat, an edited message, a sticker: acknowledged (Telegram must not resend them), never answered
    group = telegram_update(-chat, "what's my balance", chat_type="group")
    assert post_telegram(live_stack, group).json()["status"] == "ignored"
    edited = telegram_update(chat, "hello")
    edited["edited_message"] = edited.pop("message")
    assert post_telegram(live_stack, edited).json()["status"] == "ignored"
    sticker = telegram_update(chat, "x")
    del sticker["message"]["text"]
    sticker["message"]["sticker"] = {"file_id": "CAAC", "file_unique_id": "AgAD", "width": 512, "height": 512,
                                     "is_animated": False}
    assert post_telegram(live_stack, sticker).json()["status"] == "ignored"
    assert cloud.telegram_texts(chat) == [] and cloud.telegram_texts(-chat) == []


def test_unlinked_user_gets_faq_only_and_is_told_to_link(live_stack: Any) -> None:
    chat = new_id()
    replies = " ".join(telegram_say(live_stack, chat, "what's my balance?"))
    assert "link this Telegram account" in replies
    assert "Your balance" not in replies
    # the REST channel refuses a sender id in the messengers' id space: it never shares this chat's tracker
    assert live_stack.post_raw({"sender": str(chat), "message": "what's my balance?"}).status_code == 400


def test_link_on_telegram_then_balance_then_unlink(live_stack: Any) -> None:
    chat = new_id()
    code = _web_code(live_stack, 1)
    replies = " ".join(telegram_say(live_stack, chat, f"link {code}"))
    assert "now linked" in replies, replies
    assert linked_customer("telegram", chat) == 1

    balance = "\n".join(telegram_say(live_stack, chat, "what's my balance?"))
    for line in _balance_lines(1):
        assert line in balance, balance

    # The REST channel with the Telegram chat id as sender id (even claiming the telegram channel) gets nothing
    for body in ({"sender": str(chat), "message": "what's my balance?"},
                 {"sender": str(chat), "message": "what's my balance?", "input_channel": "telegram"}):
        response = live_stack.post_raw(body)
        assert response.status_code == 400 and "Your balance" not in response.text

    assert "no longer linked" in " ".join(telegram_say(live_stack, chat, "unlink"))
    assert linked_customer("telegram", chat) is None
    after = " ".join(telegram_say(live_stack, chat, "what's my balance?"))
    assert "link this Telegram account" in after and "Your balance" not in after


def test_bare_code_after_being_asked_and_start_deep_link(live_stack: Any) -> None:
    chat = new_id()
    asked = " ".join(telegram_say(live_stack, chat, "link my telegram"))
    assert "log in to online banking" in asked and "link 7KQ2-9XPA" in asked
    code = _web_code(live_stack, 2)
    assert "now linked" in " ".join(telegram_say(live_stack, chat, code.lower()))
    assert linked_customer("telegram", chat) == 2

    other = new_id()
    code = _web_code(live_stack, 3)
    assert "now linked" in " ".join(telegram_say(live_stack, other, f"/start {code}"))  # t.me/<bot>?start=<code>
    assert linked_customer("telegram", other) == 3


def test_used_and_expired_codes_fail(live_stack: Any) -> None:
    code = _web_code(live_stack, 4)
    first, second = new_id(), new_id()
    assert "now linked" in " ".join(telegram_say(live_stack, first, f"link {code}"))
    assert "already been used" in " ".join(telegram_say(live_stack, second, f"link {code}"))
    assert linked_customer("telegram", second) is None

    expired = issue_link_code(5)
    with session_scope() as s:
        s.execute(update(LinkCode).where(LinkCode.customer_id == 5, LinkCode.used_at.is_(None))
                  .values(expires_at=utcnow() - timedelta(minutes=1)))
    assert "expired" in " ".join(telegram_say(live_stack, second, f"link {expired}"))
    assert "not valid" in " ".join(telegram_say(live_stack, second, "link QWER-2345"))
    assert linked_customer("telegram", second) is None


def test_external_event_reaches_telegram(live_stack: Any) -> None:
    """trigger_intent with output_channel=latest on a Telegram conversation: Rasa 3.6's channel would call
    asyncio.run inside the running loop (RasaHQ/rasa#10666) and answer 500; ours sends the reply."""
    chat = new_id()
    telegram_say(live_stack, chat, "hello")
    before = len(live_stack.messenger_cloud.telegram_texts(chat))
    response = httpx.post(
        f"{live_stack.rasa_url}/conversations/{chat}/trigger_intent",
        params={"output_channel": "latest", "token": live_stack.rasa_token}, json={"name": "help"}, timeout=60,
    )
    assert response.status_code == 200, response.text
    assert len(live_stack.messenger_cloud.telegram_texts(chat)) > before


def test_delivery_failure_is_acknowledged_not_a_500(live_stack: Any) -> None:
    cloud = live_stack.messenger_cloud
    chat = new_id()
    cloud.fail("telegram", 502)
    try:
        response = post_telegram(live_stack, telegram_update(chat, "hello"))
    finally:
        cloud.fail("telegram", None)
    assert response.status_code == 200 and response.json()["status"] == "error", response.text
    assert telegram_say(live_stack, chat, "hello")  # the channel still works afterwards


def test_web_side_of_linking(live_stack: Any) -> None:
    anonymous = " ".join(live_stack.texts(live_stack.new_sender("web"), "link my Telegram"))
    assert "log in to online banking first" in anonymous and not CODE.search(anonymous)
    code = _web_code(live_stack, 1)
    typed_on_web = " ".join(live_stack.texts(live_stack.new_sender("web"), f"link {code}", token=live_stack.token_for(1)))
    assert "not here" in typed_on_web
    unlink_on_web = " ".join(live_stack.texts(live_stack.new_sender("web"), "unlink my telegram", token=live_stack.token_for(1)))
    assert "send \"unlink\" in that chat" in unlink_on_web
