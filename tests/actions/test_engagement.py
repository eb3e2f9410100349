"""Consent, handoff and the proactive suggestion, against a real CRM database and a real trained model."""

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from actions.accounts import ActionShowBalance
from actions.engagement import (
    ActionAcknowledgeLifeEvent,
    ActionHumanHandoff,
    ActionMarketingConsent,
    ActionOfferProduct,
    ActionOfferResponse,
    ActionProductInfo,
)
from profiles import get_customer, has_marketing_consent, issue_token, last_offer_outcome
from profiles.db import session_scope
from profiles.models import HandoffRequest
from profiles.sealing import seal_owner
from profiles.settings import get_settings
from recommender import registry, suggest_offer
from recommender.train import train
from tests.actions.conftest import SENDER, make_tracker, run_action, slots_of, texts


@pytest.fixture(scope="module")
def model(tmp_path_factory: pytest.TempPathFactory, monkeypatch_module: pytest.MonkeyPatch) -> Iterator[Path]:
    """A real term-deposit model trained on a sample of the bank-marketing file, promoted in a temp registry."""
    path = tmp_path_factory.mktemp("registry")
    monkeypatch_module.setenv("MODEL_REGISTRY", str(path))
    get_settings.cache_clear()
    registry.clear_cache()
    train(get_settings().data_dir / "bank_marketing" / "bank-full-train.csv", sample=4000, folds=2, progress=lambda _: None)
    yield path
    registry.clear_cache()


pytestmark = pytest.mark.usefixtures("model", "crm")


def test_opt_out_and_back_in(domain: dict[str, Any]) -> None:
    token = issue_token(5)
    said = texts(run_action(ActionMarketingConsent(), make_tracker("stop sending offers", "marketing_opt_out", token=token), domain)[1])
    assert "opted out" in said and has_marketing_consent(5) is False and get_customer(5).marketing_consent is False
    said = texts(run_action(ActionMarketingConsent(), make_tracker("send me offers", "marketing_opt_in", token=token), domain)[1])
    assert "opted in" in said and has_marketing_consent(5) is True


def test_consent_change_needs_identity(domain: dict[str, Any]) -> None:
    before = has_marketing_consent(5)
    _, messages = run_action(ActionMarketingConsent(), make_tracker("unsubscribe me", "marketing_opt_out", token=None), domain)
    assert messages[0]["response"] == "utter_login_required" and has_marketing_consent(5) == before


def test_handoff_is_stored_for_staff(domain: dict[str, Any]) -> None:
    tracker = make_tracker("I want a human", "human_handoff", token=None)
    said = texts(run_action(ActionHumanHandoff(), tracker, domain)[1])
    with session_scope() as s:
        request = s.scalars(select(HandoffRequest).order_by(HandoffRequest.id.desc())).first()
    assert request is not None and request.customer_id is None and request.sender_id == "test-sender"
    assert f"H{request.id}" in said and request.reason == "I want a human"


def test_product_info_by_entity(domain: dict[str, Any]) -> None:
    tracker = make_tracker("mortgage?", "product_info", entities=[{"entity": "product", "value": "mortgage"}])
    assert run_action(ActionProductInfo(), tracker, domain)[1][0]["response"] == "utter_product_mortgage"
    assert run_action(ActionProductInfo(), make_tracker("products?", "product_info"), domain)[1][0]["response"] == "utter_product_overview"


def _customer_with_an_offer() -> tuple[int, str]:
    for cid in range(1, 31):
        offer = suggest_offer(cid)
        if offer is not None:
            return cid, offer.product
    raise AssertionError("no seeded customer gets any offer: check thresholds and consent in the seed")


def test_offer_once_per_session_then_cooloff_after_decline(domain: dict[str, Any]) -> None:
    cid, product = _customer_with_an_offer()
    token = issue_token(cid)
    events, messages = run_action(
        ActionOfferProduct(), make_tracker("balance", "check_balance", token=token, slots={"resolved": True}), domain
    )
    assert slots_of(events) == {"offered_product": product, "offer_made": True, "owner": seal_owner(SENDER, cid),
                                "resolved": None}
    assert messages[0]["buttons"] and (last_offer_outcome(cid, product) or (None,))[0] == "shown"

    again = make_tracker("balance", "check_balance", token=token, slots={"offer_made": True, "resolved": True})
    assert run_action(ActionOfferProduct(), again, domain)[1] == []

    answer = make_tracker("no thanks", "deny", token=token, slots={"offered_product": product, "offer_made": True, "owner": str(cid)})
    said = texts(run_action(ActionOfferResponse(), answer, domain)[1])
    assert "won't suggest" in said and (last_offer_outcome(cid, product) or (None,))[0] == "declined"
    later = suggest_offer(cid)
    assert later is None or later.product != product


def _followups(events: list[dict[str, Any]]) -> list[str]:
    return [e["name"] for e in events if e.get("event") == "followup"]


def test_a_resolved_request_schedules_the_suggestion_only_when_there_is_one(domain: dict[str, Any]) -> None:
    """The answering action decides (actions.engagement.resolved): a follow-up to action_offer_product only when
    suggest_offer has a product and none was made this session; the ``resolved`` marker every time."""
    cid, _ = _customer_with_an_offer()
    events, messages = run_action(ActionShowBalance(), make_tracker("balance", "check_balance", token=issue_token(cid)), domain)
    assert "€" in texts(messages) and _followups(events) == ["action_offer_product"] and slots_of(events) == {"resolved": True}
    made = make_tracker("balance", "check_balance", token=issue_token(cid), slots={"offer_made": True})
    events, _ = run_action(ActionShowBalance(), made, domain)
    assert _followups(events) == [] and slots_of(events) == {"resolved": True}
    assert suggest_offer(3) is None  # no marketing consent
    events, _ = run_action(ActionShowBalance(), make_tracker("balance", "check_balance", token=issue_token(3)), domain)
    assert _followups(events) == [] and slots_of(events) == {"resolved": True}


@pytest.mark.parametrize("form", ["transfer_form", "block_card_form", "card_payment_form", "contact_form"])
def test_no_suggestion_in_the_middle_of_a_form(domain: dict[str, Any], form: str) -> None:
    """A balance (or card details) asked inside a form is answered and the form asks its question again
    (rules "check_balance inside ..."): no suggestion between them. Its "Yes, tell me more" button (/affirm)
    would sit live beside the read-back's "Yes, transfer" (/affirm) and answer the form instead."""
    cid, _ = _customer_with_an_offer()
    inside = make_tracker("balance", "check_balance", token=issue_token(cid), active_loop=form)
    events, messages = run_action(ActionShowBalance(), inside, domain)
    assert "€" in texts(messages) and _followups(events) == [] and slots_of(events) == {"resolved": True}


def test_accepting_records_a_lead(domain: dict[str, Any]) -> None:
    cid, product = _customer_with_an_offer()
    answer = make_tracker("yes", "affirm", token=issue_token(cid), slots={"offered_product": product, "owner": str(cid)})
    _, messages = run_action(ActionOfferResponse(), answer, domain)
    assert messages[0]["response"] == f"utter_product_{product}"
    assert (last_offer_outcome(cid, product) or (None,))[0] == "accepted"


def test_no_offer_without_consent_identity_or_a_resolved_request(domain: dict[str, Any]) -> None:
    assert get_customer(3).marketing_consent is False
    assert run_action(ActionOfferProduct(), make_tracker("hi", "greet", token=issue_token(3), slots={"resolved": True}), domain)[1] == []
    assert run_action(ActionOfferProduct(), make_tracker("hi", "greet", slots={"resolved": True}), domain)[1] == []
    cid, _ = _customer_with_an_offer()
    unresolved = make_tracker("cancel", "stop", token=issue_token(cid), slots={"resolved": None})
    assert run_action(ActionOfferProduct(), unresolved, domain)[1] == []


def test_an_offer_cannot_be_answered_with_another_customers_token(domain: dict[str, Any]) -> None:
    cid, product = _customer_with_an_offer()
    other = 3 if cid != 3 else 4
    before = last_offer_outcome(other, product)
    answer = make_tracker("yes", "affirm", token=issue_token(other), slots={"offered_product": product, "owner": str(cid)})
    _, messages = run_action(ActionOfferResponse(), answer, domain)
    assert messages[0]["response"] == "utter_anything_else"
    assert last_offer_outcome(other, product) == before


def _life_event(event: str, token: str | None, domain: dict[str, Any]) -> list[str | None]:
    tracker = make_tracker("big news", "inform_life_event", token=token, slots={"life_event": event},
                           entities=[{"entity": "life_event", "value": event}])
    return [m.get("response") for m in run_action(ActionAcknowledgeLifeEvent(), tracker, domain)[1]]


def test_life_event_mentions_a_product_only_with_consent_and_not_held(domain: dict[str, Any]) -> None:
    both = ["utter_life_event", "utter_life_event_product"]
    assert _life_event("retired", issue_token(1), domain) == both  # consent, no term deposit
    assert _life_event("retired", issue_token(3), domain) == ["utter_life_event"]  # no marketing consent
    assert _life_event("retired", None, domain) == ["utter_life_event"]  # anonymous
    assert _life_event("married", issue_token(1), domain) == ["utter_life_event"]  # holds a savings account
    assert _life_event("divorced", issue_token(1), domain) == ["utter_life_event"]  # no product for it
