"""Facebook Messenger through the real Rasa server (bot/channels.py NovaFacebookInput), replies at the local
Graph API fake. Events are real webhook format, signed with X-Hub-Signature-256 (HMAC-SHA256, app secret)."""

from __future__ import annotations

import hashlib
import hmac
import json
import re
from typing import Any

import httpx

from actions.parsing import money
from profiles import list_accounts
from profiles.linking import linked_customer
from tests.channels.conftest import facebook_event, facebook_say, new_id, post_facebook

CODE = re.compile(r"\b([2-9A-HJ-NP-Z]{4}-[2-9A-HJ-NP-Z]{4})\b")


def test_signed_event_is_answered_at_the_graph_api(live_stack: Any) -> None:
    cloud = live_stack.messenger_cloud
    psid = f"psid{new_id()}"
    replies = facebook_say(live_stack, psid, "hello")
    assert replies, "no message reached the fake Graph API"
    sent = [r for r in cloud.recorded("facebook", "messages") if (r.params.get("recipient") or {}).get("id") == psid]
    assert all(r.params["access_token"] == cloud.facebook_page_token for r in sent)
    assert all(re.fullmatch(r"/v[0-9.]+/me/messages", r.path) for r in sent)
    assert {"mark_seen", "typing_on", "typing_off"} <= {r.params.get("sender_action") for r in sent}


def test_wrong_or_missing_signature_is_refused(live_stack: Any) -> None:
    cloud = live_stack.messenger_cloud
    psid = f"psid{new_id()}"
    body = json.dumps(facebook_event(psid, "hello")).encode()
    wrong_secret = cloud.facebook_signature(body, secret="not-the-app-secret")
    other_body = cloud.facebook_signature(body + b" ")
    sha1 = "sha1=" + hmac.new(cloud.facebook_secret.encode(), body, hashlib.sha1).hexdigest()
    for signature in (wrong_secret, other_body, "sha256=", "garbage", None):
        response = post_facebook(live_stack, body, signature=signature)
        assert response.status_code == 403, (signature, response.text)
    # the legacy SHA-1 header alone (what Rasa 3.6 checks) is not enough
    assert post_facebook(live_stack, body, signature=sha1, header="X-Hub-Signature").status_code == 403
    assert cloud.facebook_texts(psid) == []
    assert not [r for r in cloud.recorded("facebook") if (r.params.get("recipient") or {}).get("id") == psid]


def test_bad_bodies_are_400_when_signed(live_stack: Any) -> None:
    for body in (b"not json", b"[]", json.dumps({"object": "instagram", "entry": []}).encode(),
                 json.dumps({"object": "page"}).encode()):
        assert post_facebook(live_stack, body).status_code == 400, body


def test_webhook_subscription_check(live_stack: Any) -> None:
    cloud = live_stack.messenger_cloud
    url = f"{live_stack.rasa_url}/webhooks/facebook/webhook"
    ok = httpx.get(url, params={"hub.mode": "subscribe", "hub.verify_token": cloud.facebook_verify,
                                "hub.challenge": "1158201444"})
    assert ok.status_code == 200 and ok.text == "1158201444"
    bad = httpx.get(url, params={"hub.mode": "subscribe", "hub.verify_token": "wrong", "hub.challenge": "1"})
    assert bad.status_code == 403


def test_link_on_messenger_then_balance(live_stack: Any) -> None:
    psid = f"{new_id()}0042"
    assert "link this Messenger account" in " ".join(facebook_say(live_stack, psid, "what's my balance?"))
    web = " ".join(live_stack.texts(live_stack.new_sender("web"), "link my Messenger", token=live_stack.token_for(1)))
    match = CODE.search(web)
    assert match and "On Messenger" in web and "t.me/" not in web, web
    assert "now linked" in " ".join(facebook_say(live_stack, psid, f"link {match.group(1)}"))
    assert linked_customer("facebook", psid) == 1
    balance = "\n".join(facebook_say(live_stack, psid, "what's my balance?"))
    for account in list_accounts(1):
        assert f"{account.masked_number}: {money(account.balance)}" in balance, balance
    assert linked_customer("telegram", psid) is None  # links are per channel
    assert "no longer linked" in " ".join(facebook_say(live_stack, psid, "unlink"))


def test_external_event_reaches_messenger(live_stack: Any) -> None:
    """Rasa 3.6's FacebookInput has no output channel for external events; ours sends through the Graph API."""
    psid = f"psid{new_id()}"
    facebook_say(live_stack, psid, "hello")
    before = len(live_stack.messenger_cloud.facebook_texts(psid))
    response = httpx.post(
        f"{live_stack.rasa_url}/conversations/{psid}/trigger_intent",
        params={"output_channel": "latest", "token": live_stack.rasa_token}, json={"name": "help"}, timeout=60,
    )
    assert response.status_code == 200, response.text
    assert len(live_stack.messenger_cloud.facebook_texts(psid)) > before
