"""The satisfaction question (actions/csat.py) against a real CRM database: asked once a session, never while the
conversation's hand-off is waiting or taken; only scores 1..5 are stored."""

from __future__ import annotations

from typing import Any

import pytest

from actions.csat import ActionAskCsat, ActionStoreCsat, csat_score
from profiles.db import session_scope
from profiles.models import HandoffRequest, utcnow
from tests.actions.conftest import SENDER, make_tracker, run_action, slots_of

pytestmark = pytest.mark.usefixtures("crm")


def _handoffs(status: str | None) -> None:
    with session_scope(write=True) as s:
        s.query(HandoffRequest).filter(HandoffRequest.sender_id == SENDER).delete()
        if status is not None:
            s.add(HandoffRequest(sender_id=SENDER, channel="rest", reason="help", status=status, created_at=utcnow()))


def test_asked_once_with_five_buttons(domain: dict[str, Any]) -> None:
    _handoffs(None)
    events, messages = run_action(ActionAskCsat(), make_tracker("thanks", "thanks"), domain)
    assert [m["response"] for m in messages] == ["utter_ask_csat"] and slots_of(events) == {"csat_asked": True}
    buttons = domain["responses"]["utter_ask_csat"][0]["buttons"]
    assert [b["payload"] for b in buttons] == [f'/rate{{"csat": {n}}}' for n in range(1, 6)]
    for slots in ({"csat_asked": True}, {"csat": 4}):
        assert run_action(ActionAskCsat(), make_tracker("bye", "goodbye", slots=slots), domain) == ([], [])


@pytest.mark.parametrize(("status", "asked"), [("open", False), ("taken", False), ("closed", True)])
def test_not_asked_while_a_handoff_is_open(domain: dict[str, Any], status: str, asked: bool) -> None:
    _handoffs(status)
    _, messages = run_action(ActionAskCsat(), make_tracker("thanks", "thanks"), domain)
    assert bool(messages) is asked
    _handoffs(None)


def test_store_only_scores_one_to_five(domain: dict[str, Any]) -> None:
    asked = {"csat_asked": True}
    tracker = make_tracker('/rate{"csat": 4}', "rate", entities=[{"entity": "csat", "value": 4}], slots=asked)
    events, messages = run_action(ActionStoreCsat(), tracker, domain)
    assert slots_of(events) == {"csat": 4, "csat_asked": True} and messages[0]["response"] == "utter_csat_thanks"
    for value in (9, 0, "five", 2.5, None, True):
        bad = make_tracker("/rate", "rate", entities=[{"entity": "csat", "value": value}], slots=asked)
        events, messages = run_action(ActionStoreCsat(), bad, domain)
        assert events == [] and messages[0]["response"] == "utter_csat_invalid", value
    assert run_action(ActionStoreCsat(), make_tracker("/rate", "rate", slots=asked), domain)[0] == []
    # typed ratings: the NLU tags the number as an amount, the action reads the message's one number
    typed = make_tracker("4 stars", "rate", entities=[{"entity": "amount", "value": "4"}], slots=asked)
    assert slots_of(run_action(ActionStoreCsat(), typed, domain)[0])["csat"] == 4
    for text in ("7 stars", "between 3 and 4", "great", "4.5"):
        assert run_action(ActionStoreCsat(), make_tracker(text, "rate", slots=asked), domain)[0] == [], text
    assert [csat_score(v) for v in (1, "5", 3.0, " 2 ", 6, -1, "4.5")] == [1, 5, 3, 2, None, None, None]


def test_a_rating_nobody_asked_for_or_a_second_one_is_not_stored(domain: dict[str, Any]) -> None:
    """A script typing /rate{"csat": 1} in many conversations must not fill the analytics."""
    for slots in ({}, {"csat_asked": True, "csat": 5}):
        tracker = make_tracker('/rate{"csat": 1}', "rate", slots=slots, entities=[{"entity": "csat", "value": 1}])
        events, messages = run_action(ActionStoreCsat(), tracker, domain)
        assert events == [] and messages[0]["response"] == "utter_anything_else", slots
