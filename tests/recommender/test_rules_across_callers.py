"""One consent rule and one offer gate, seen from every caller (issue 10): the bot's actions with a real rasa-sdk
tracker on the Telegram channel, the push API and the recommendations API, over one real database (SQLite and
PostgreSQL) and the real trained models. The same customer and channel must get the same answer everywhere.

Rasa itself is a recording stand-in answering 500 here (``tests/api/test_campaigns.py``'s ``rasa_calls``): a push
that passes consent and the gate reaches it and ends ``channel_error``; delivery through the real Rasa server,
and the shown event it writes, is ``tests/e2e/test_push.py``'s.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml
from fastapi.testclient import TestClient
from rasa_sdk import Tracker
from sqlalchemy import Engine, select

from actions.engagement import ActionAcknowledgeLifeEvent, ActionOfferProduct
from api.main import app
from profiles import issue_token, last_offer_outcome, record_offer
from profiles.consent import set_consent
from profiles.db import session_scope
from profiles.identity import messenger_proof
from profiles.models import MessengerLink, OfferEvent, PushDelivery, utcnow
from profiles.push import PushMessage, record_delivery
from profiles.staff import issue_staff_token
from recommender import offer_gate, suggest_offer
from tests.actions.conftest import make_tracker, run_action, slots_of
from tests.api.test_campaigns import rasa_calls  # noqa: F401 (a fixture: the recording stand-in Rasa)
from tests.recommender.conftest import add_customer

ROOT = Path(__file__).resolve().parents[2]
DOMAIN: dict[str, Any] = dict(yaml.safe_load((ROOT / "domain.yml").read_text()))
MARKETING = {"Authorization": f"Bearer {issue_staff_token('rules-marketing', 'marketing')}"}
STAFF = {"Authorization": f"Bearer {issue_staff_token('rules-staff', 'staff')}"}


@pytest.fixture
def api(db: Engine, model_registry: Path, rasa_calls: list[str]) -> Iterator[TestClient]:  # noqa: F811
    with TestClient(app) as client:
        yield client


def telegram_customer(*, all_channels: bool, telegram: bool | None, **profile: Any) -> tuple[int, str]:
    """A customer with a linked Telegram account and marketing consent 'all' / 'telegram' as given (None: no
    Telegram row)."""
    cid = add_customer(consent=all_channels, **profile)
    external = f"77{cid:08d}"
    with session_scope(write=True) as s:
        s.add(MessengerLink(customer_id=cid, channel="telegram", external_id=external))
    if telegram is not None:
        set_consent(cid, "marketing", "telegram", telegram, source="test", actor="staff:rules")
    return cid, external


def telegram_tracker(external: str, text: str, intent: str, **kwargs: Any) -> Tracker:
    """A tracker of a Telegram chat: the sender id is the Telegram user's id (identity from the link)."""
    tracker = make_tracker(text, intent, channel="telegram", **kwargs)
    tracker.sender_id = external
    # the connector's proof is for the chat it received the message from (make_tracker's is for its SENDER)
    tracker.latest_message["metadata"] = {"channel_proof": messenger_proof("telegram", external)}
    return tracker


def chat_offer(external: str) -> str | None:
    """The product the bot suggests after a resolved request in this Telegram chat, or None."""
    events, messages = run_action(ActionOfferProduct(), telegram_tracker(
        external, "balance", "check_balance", slots={"resolved": True}), DOMAIN)
    product = slots_of(events).get("offered_product")
    assert bool(product) == bool(messages)  # a suggestion is said exactly when one is made
    return str(product) if product else None


def push_offer(api: TestClient, cid: int, product: str) -> dict[str, Any]:
    response = api.post(f"/customers/{cid}/push", json={"kind": "offer", "product": product, "campaign": "rules"},
                        headers=MARKETING)
    assert response.status_code == 200, response.text
    return dict(response.json())


def recommendations(api: TestClient, cid: int, channel: str) -> dict[str, Any]:
    response = api.get(f"/customers/{cid}/recommendations", params={"channel": channel, "k": 6}, headers=STAFF)
    assert response.status_code == 200, response.text
    return dict(response.json())


def test_all_granted_telegram_withdrawn_no_offer_on_telegram_anywhere(api: TestClient, rasa_calls: list[str]) -> None:  # noqa: F811
    cid, external = telegram_customer(all_channels=True, telegram=False)
    product = suggest_offer(cid)  # the customer-wide choice allows an offer elsewhere ...
    assert product is not None
    pushed = push_offer(api, cid, product.product)
    assert (pushed["status"], pushed["reason"]) == ("no_consent", "no marketing consent on telegram")
    assert rasa_calls == []
    assert chat_offer(external) is None  # ... but the bot does not pitch in the Telegram chat
    assert last_offer_outcome(cid, product.product) is None
    on_telegram = recommendations(api, cid, "telegram")
    assert (on_telegram["marketing_consent"], on_telegram["recommendations"]) == (False, [])
    everywhere = recommendations(api, cid, "all")
    assert everywhere["marketing_consent"] is True and everywhere["recommendations"]
    gate = offer_gate(cid, product.product, "telegram")
    assert (gate.eligible, gate.reason) == (False, "no marketing consent on telegram")


def test_all_withdrawn_telegram_granted_offer_on_telegram_everywhere(api: TestClient, rasa_calls: list[str]) -> None:  # noqa: F811
    cid, external = telegram_customer(all_channels=False, telegram=True)
    assert recommendations(api, cid, "all") == {"customer_id": cid, "k": 6, "channel": "all",
                                                "marketing_consent": False, "recommendations": []}
    on_telegram = recommendations(api, cid, "telegram")
    assert on_telegram["marketing_consent"] is True and on_telegram["recommendations"]
    best = on_telegram["recommendations"][0]["product"]
    assert offer_gate(cid, best, "telegram").eligible and not offer_gate(cid, best, "all").eligible
    pushed = push_offer(api, cid, best)  # allowed and eligible: it reaches (the stand-in) Rasa
    assert pushed["status"] == "channel_error", pushed
    assert len(rasa_calls) == 1 and rasa_calls[0].startswith(f"/conversations/{external}/trigger_intent")
    assert chat_offer(external) == best  # the bot makes the same offer in the Telegram chat
    assert last_offer_outcome(cid, best)[0] == "shown"  # type: ignore[index]


def life_event(token: str | None, event: str = "moving_home", external: str | None = None) -> list[str | None]:
    kwargs: dict[str, Any] = {"slots": {"life_event": event}, "entities": [{"entity": "life_event", "value": event}]}
    tracker = (telegram_tracker(external, "we are moving", "inform_life_event", **kwargs) if external
               else make_tracker("we are moving", "inform_life_event", token=token, **kwargs))
    return [m.get("response") for m in run_action(ActionAcknowledgeLifeEvent(), tracker, DOMAIN)[1]]


PITCH = ["utter_life_event", "utter_life_event_product"]
NO_PITCH = ["utter_life_event"]


def test_life_event_reply_asks_the_offer_gate(db: Engine, model_registry: Path) -> None:
    clean = add_customer()
    assert life_event(issue_token(clean)) == PITCH  # the control: a clean record gets the mortgage mention
    defaulted = add_customer(credit_default=True)
    assert life_event(issue_token(defaulted)) == NO_PITCH
    assert offer_gate(defaulted, "mortgage").reason == "credit record not known to be clean"
    declined = add_customer()
    with session_scope(write=True) as s:
        s.add(OfferEvent(customer_id=declined, product="mortgage", outcome="declined", channel="rest",
                         created_at=utcnow() - timedelta(days=7)))
    assert life_event(issue_token(declined)) == NO_PITCH  # declined last week: cooling off
    _, external = telegram_customer(all_channels=True, telegram=False)
    assert life_event(None, external=external) == NO_PITCH  # consent withdrawn on this chat's channel


def test_a_delivered_offer_push_is_a_shown_offer_event_and_the_cooloff_applies(
    api: TestClient, rasa_calls: list[str], override_settings: Callable[..., None]  # noqa: F811
) -> None:
    cid, external = telegram_customer(all_channels=True, telegram=None)
    best = recommendations(api, cid, "telegram")["recommendations"][0]["product"]
    assert offer_gate(cid, best, "telegram").eligible
    message = PushMessage(kind="offer", campaign="rules", template="product_offer", product=best)
    view = record_delivery(message, cid, "delivered", actor="staff:rules", channel="telegram", sender_id=external,
                           text="Hi Rita, something you may like")
    with session_scope() as s:
        [event] = s.scalars(select(OfferEvent).where(OfferEvent.customer_id == cid)).all()
        delivery = s.get(PushDelivery, view.id)
        assert delivery is not None
        assert (event.product, event.outcome, event.channel) == (best, "shown", "telegram")
        assert event.created_at == delivery.created_at  # written with the delivery row
    gate = offer_gate(cid, best, "telegram")
    assert not gate.eligible and gate.reason is not None and "shown on" in gate.reason
    again = push_offer(api, cid, best)
    assert again["status"] == "not_eligible" and "cooling off" in again["reason"]
    assert chat_offer(external) is None  # the bot sees the push too: one offer a day
    assert rasa_calls == []
    record_offer(cid, best, "declined", channel="telegram")
    assert "declined on" in str(offer_gate(cid, best, "telegram", frequency_cap=False).reason)


def test_the_recommendations_channel_is_checked(api: TestClient) -> None:
    cid = add_customer()
    response = api.get(f"/customers/{cid}/recommendations", params={"channel": "pigeon"}, headers=STAFF)
    assert response.status_code == 422
    assert "channel" in response.text
