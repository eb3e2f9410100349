"""Where a message may hold two requests (actions/multi.py): the split points the NLU then judges."""

from __future__ import annotations

from actions.multi import FORMS, SAY, servable, split_points


def test_split_points_at_conjunctions() -> None:
    assert split_points("block my card and tell me my balance") == [("block my card", "tell me my balance")]
    assert split_points("show my balance, then pay the credit card") == [("show my balance", "pay the credit card")]
    assert split_points("balance and transactions please") == [("balance", "transactions please")]
    assert split_points("what's my IBAN; how much is in savings?") == [("what's my IBAN", "how much is in savings")]
    # every conjunction is a candidate: the NLU decides which cut gives two requests
    assert len(split_points("transactions between 1 and 15 November and my balance")) == 2


def test_no_split_without_a_conjunction_or_with_an_empty_side() -> None:
    assert split_points("what's my balance") == []
    assert split_points("and") == []
    assert split_points("and my savings?") == []


def test_servable_requests() -> None:
    domain = {"responses": {"utter_card_arrival": [{"text": "..."}]}}
    assert servable("check_balance", domain) and servable("lost_or_stolen_card", domain)
    assert servable("card_arrival", domain)  # an FAQ answer
    assert not servable("greet", domain) and not servable("nlu_fallback", domain)
    assert set(FORMS) <= set(SAY)
