"""Two requests in one message ("block my card and tell me my balance"): ``action_multi_request``, after the
NLU's ``multi_request`` intent.

The message is split at a conjunction ("and", "then", "also", "plus", ";", ...) and each side is understood
by the real NLU model (Rasa's HTTP API ``/model/parse``): of all the split points, the one whose two sides are
both confidently a request we can serve wins. Then both are done: what only answers (balance, transactions,
payees, card or account details, an FAQ answer) at once, in the customer's order; a request that needs a form
(block a card, transfer, pay the card, change a contact detail) after the answers, introduced by "I'll do X
first, then Y". Two form requests are done one at a time: the first now, and the customer is told to ask for
the second when it is finished (a form cannot be queued behind another). A message that does not split into
two requests is served as the one request it is.
"""

from __future__ import annotations

import copy
import logging
import re
from dataclasses import dataclass
from typing import Any

import httpx
from rasa_sdk import Action, Tracker
from rasa_sdk.events import FollowupAction, SlotSet
from rasa_sdk.executor import CollectingDispatcher

from actions.accounts import ActionAccountDetails, ActionShowBalance, ActionShowTransactions
from actions.card_billing import ActionCardDetails
from actions.context import owner_slot, verified_customer
from actions.engagement import OFFER_ACTION
from actions.transfer import ActionListPayees, ActionTransferLimit
from profiles.settings import get_settings

log = logging.getLogger(__name__)
# httpx logs each request's URL at INFO, and Rasa's HTTP API takes its token as ?token=: warnings only.
logging.getLogger("httpx").setLevel(logging.WARNING)

# Requests answered at once, by the same action a single request runs.
ANSWERS: dict[str, type[Action]] = {
    "check_balance": ActionShowBalance,
    "show_transactions": ActionShowTransactions,
    "list_payees": ActionListPayees,
    "ask_transfer_limit": ActionTransferLimit,
    "card_details": ActionCardDetails,
    "account_details": ActionAccountDetails,
}
# Requests that need a form (one question at a time), and how to say them in "I'll do X first, then Y".
FORMS: dict[str, str] = {
    "lost_or_stolen_card": "block_card_form",
    "transfer_money": "transfer_form",
    "pay_card_bill": "card_payment_form",
    "update_contact": "contact_form",
}
SAY: dict[str, str] = {
    "check_balance": "show your balance",
    "show_transactions": "show your transactions",
    "list_payees": "list your payees",
    "ask_transfer_limit": "tell you the transfer limit",
    "card_details": "show your card balance and limit",
    "account_details": "give you your account details",
    "lost_or_stolen_card": "block your card",
    "transfer_money": "make the transfer",
    "pay_card_bill": "pay your credit card",
    "update_contact": "update your contact details",
}
MIN_CONFIDENCE = 0.5
# Where one request may end and the next begin.
_CONJUNCTION = re.compile(
    r"\s*(?:[,;]\s*)?\b(?:and then|and also|and|then|also|plus|as well as|after that|afterwards)\b\s*"
    r"|\s*[;]\s*|\s*,\s*(?=(?:can|could|please|what|what's|whats|how|show|tell|give|block|send|transfer|pay|"
    r"list|check|change|update)\b)",
    re.IGNORECASE,
)
_PARSE_TIMEOUT_S = 3.0


@dataclass(frozen=True, slots=True)
class Part:
    """One side of the message: its text and the NLU's parse of it (``intent`` and confidence, entities)."""

    text: str
    intent: str
    confidence: float
    parse: dict[str, Any]


def split_points(text: str) -> list[tuple[str, str]]:
    """Every way to cut ``text`` in two at a conjunction: ``[(left, right), ...]``, both sides non-empty."""
    cuts = []
    for m in _CONJUNCTION.finditer(text):
        left, right = text[:m.start()].strip(" ,.;"), text[m.end():].strip(" ,.;?!")
        if left and right:
            cuts.append((left, right))
    return cuts


def servable(intent: str, domain: dict[str, Any]) -> bool:
    """Whether ``intent`` is a request this action can carry out: an answer, a form, or an FAQ response."""
    return intent in ANSWERS or intent in FORMS or f"utter_{intent}" in (domain.get("responses") or {})


async def _parse(client: httpx.AsyncClient, text: str) -> dict[str, Any]:
    settings = get_settings()
    response = await client.post(f"{settings.rasa_url}/model/parse", params={"token": settings.rasa_token},
                                 json={"text": text})
    response.raise_for_status()
    result: dict[str, Any] = response.json()
    return result


def _part(text: str, parse: dict[str, Any]) -> Part:
    intent = parse.get("intent") or {}
    return Part(text, str(intent.get("name") or ""), float(intent.get("confidence") or 0.0), parse)


async def find_requests(text: str, domain: dict[str, Any]) -> tuple[list[Part], str | None]:
    """The requests in ``text`` and the part not understood, if any: the best split point whose two sides are
    both confidently a request we serve (``([a, b], None)``); else the best one with one such side
    (``([a], "<the other side>")``); else the message as the one request it is (``([a], None)``); else
    ``([], None)``.

    Raises:
        httpx.HTTPError: Rasa's HTTP API could not be asked.
    """
    best: tuple[float, list[Part]] | None = None
    half: tuple[float, Part, str] | None = None
    async with httpx.AsyncClient(timeout=_PARSE_TIMEOUT_S) as client:
        for left, right in split_points(text)[:4]:
            parts = [_part(left, await _parse(client, left)), _part(right, await _parse(client, right))]
            good = [p for p in parts if servable(p.intent, domain) and p.confidence >= MIN_CONFIDENCE]
            if len(good) == 2 and parts[0].intent != parts[1].intent:
                score = min(p.confidence for p in parts)
                if best is None or score > best[0]:
                    best = (score, parts)
            elif len(good) == 1 and (half is None or good[0].confidence > half[0]):
                other = next(p.text for p in parts if p is not good[0])
                half = (good[0].confidence, good[0], other)
        if best is not None:
            return best[1], None
        if half is not None:
            return [half[1]], half[2]
        whole = await _parse(client, text)
    # one request after all: the best-ranked intent that is not "two requests", if it is confident
    ranking = [r for r in whole.get("intent_ranking") or [] if r.get("name") not in ("multi_request", "nlu_fallback")]
    if ranking and servable(str(ranking[0]["name"]), domain) and float(ranking[0]["confidence"]) >= MIN_CONFIDENCE:
        return [_part(text, {**whole, "intent": ranking[0]})], None
    return [], None


PART_KEY = "nova_request_part"  # marks a latest message that is one request cut out of a longer one


def _as_latest(tracker: Tracker, part: Part) -> Tracker:
    """A copy of ``tracker`` whose latest message is ``part`` (same metadata: the same verified customer)."""
    view = copy.copy(tracker)
    view.latest_message = {**tracker.latest_message, "text": part.text, "intent": part.parse.get("intent"),
                           "entities": part.parse.get("entities") or [], PART_KEY: True}
    return view


async def two_requests(dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
                       ) -> list[dict[str, Any]] | None:
    """For an answering action whose message the NLU read as ONE request although it holds two ("block my card
    and tell me my balance" read as a card question): serve both, as ``action_multi_request``, and return its
    events; ``None`` when the message is not two requests (no conjunction, one side not a request, Rasa's HTTP
    API unreachable), so the action answers as usual."""
    text = str(tracker.latest_message.get("text") or "")
    if tracker.latest_message.get(PART_KEY) or not split_points(text):
        return None
    try:
        parts, unclear = await find_requests(text, domain)
    except httpx.HTTPError:
        return None
    if len(parts) != 2:
        return None
    return await ActionMultiRequest().serve(dispatcher, tracker, domain, parts, unclear)


class ActionMultiRequest(Action):
    """Carry out the two requests of one message (see the module doc)."""

    def name(self) -> str:
        return "action_multi_request"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]) -> list[dict[str, Any]]:
        text = str(tracker.latest_message.get("text") or "")
        try:
            parts, unclear = await find_requests(text, domain)
        except httpx.HTTPError as exc:
            log.error("multi_request: could not parse the parts (%s)", type(exc).__name__)
            parts, unclear = [], None
        if not parts:
            dispatcher.utter_message(text="I can do one thing at a time: what would you like me to do first?")
            return []
        return await self.serve(dispatcher, tracker, domain, parts, unclear)

    async def serve(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any],
                    parts: list[Part], unclear: str | None = None) -> list[dict[str, Any]]:
        """Do the requests ``parts`` (one or two): answers first, then at most one form; ``unclear``, the part
        of the message not understood, is named and the customer asked to say it another way."""
        answers = [p for p in parts if p.intent not in FORMS]
        forms = [p for p in parts if p.intent in FORMS]
        if len(parts) == 2:
            first, then = (answers + forms)[0], (answers + forms)[1]
            if len(forms) == 2:
                dispatcher.utter_message(
                    text=f"One at a time: I'll {SAY[first.intent]} first. When that's done, ask me to "
                    f"{SAY[then.intent]}."
                )
            elif forms:
                dispatcher.utter_message(text=f"I'll {SAY.get(first.intent, 'answer your question')} first, then "
                                              f"{SAY[then.intent]}.")
        if unclear is not None:
            what = SAY.get(parts[0].intent, "answer the part I understood")
            dispatcher.utter_message(text=f"I'll {what}. I didn't understand \"{unclear[:80]}\": could you say "
                                          "that part another way?")
        events: list[dict[str, Any]] = []
        for part in answers:
            view = _as_latest(tracker, part)
            if part.intent in ANSWERS:
                events += await ANSWERS[part.intent]().run(dispatcher, view, domain)
            else:
                dispatcher.utter_message(response=f"utter_{part.intent}")
        # An answer may schedule the product suggestion (actions.engagement.resolved): once at the end, and
        # not when a form follows (the form goes first; the last follow-up would win).
        offer = [FollowupAction(OFFER_ACTION)] if any(e.get("event") == "followup" for e in events) else []
        events = [e for e in events if e.get("event") != "followup"]
        if forms:
            customer_id = verified_customer(tracker)
            if customer_id is None:
                dispatcher.utter_message(response="utter_login_required")
                return events + offer
            # as action_verify_customer before every form: the form belongs to this verified customer
            return [*events, SlotSet("verified", True), owner_slot(tracker, customer_id),
                    FollowupAction(FORMS[forms[0].intent])]
        return events + offer
