"""Marketing consent, product questions, handoff to a human, and the proactive product suggestion."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from rasa_sdk import Action, Tracker
from rasa_sdk.events import FollowupAction, SlotSet
from rasa_sdk.executor import CollectingDispatcher

from actions.context import (
    PUSH_INTENT_PREFIX,
    actor_of,
    channel_of,
    latest_intent,
    owner_slot,
    owning_customer,
    verified_customer,
)
from profiles import PRODUCT_IDS, create_handoff, record_offer, set_marketing_consent
from profiles.consent import ALL_CHANNELS, consent_channel
from profiles.errors import ProfileError
from profiles.identity import CLAIM_KEY, resolve_message_customer
from profiles.ratelimit import allow

if TYPE_CHECKING:
    from recommender import Offer

logger = logging.getLogger(__name__)

CHANNEL_NAMES = {"telegram": "Telegram", "facebook": "Messenger", "web": "the web chat"}



PUSH_REPLY_TURNS = 3  # a reply within this many customer messages of a push answers it


def answers_push(tracker: Tracker) -> bool:
    """True when the latest user message answers a proactive push (a campaign message): a push
    (``EXTERNAL_*`` intent, api/push.py's trigger_intent) came in this conversation within the customer's
    last ``PUSH_REPLY_TURNS`` messages before this one."""
    earlier = [e for e in tracker.events if e.get("event") == "user"][:-1]  # without the latest message
    recent = earlier[-PUSH_REPLY_TURNS:]
    return any(str(((e.get("parse_data") or {}).get("intent") or {}).get("name") or "").startswith(PUSH_INTENT_PREFIX)
               for e in recent)


class ActionMarketingConsent(Action):
    """Opt the verified customer out of (or back into) marketing; the consent record is audited.

    "Stop" in answer to a campaign message (``answers_push``) withdraws marketing on that message's channel
    only (``set_marketing_consent(only_this_channel=True)``: the one consent rule then refuses every later
    campaign send there as ``no_consent``); said anywhere else it withdraws marketing on every channel."""

    def name(self) -> str:
        return "action_marketing_consent"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]) -> list[dict[str, Any]]:
        customer_id = verified_customer(tracker)
        if customer_id is None:
            dispatcher.utter_message(response="utter_login_required")
            return []
        opted_in = latest_intent(tracker)[0] == "marketing_opt_in"
        channel = channel_of(tracker)
        per_channel = not opted_in and answers_push(tracker) and consent_channel(channel) != ALL_CHANNELS
        set_marketing_consent(customer_id, opted_in, channel=channel, actor=actor_of(tracker),
                              only_this_channel=per_channel)
        if per_channel:
            where = CHANNEL_NAMES.get(consent_channel(channel), consent_channel(channel))
            dispatcher.utter_message(text=f"Done: we won't send you marketing messages on {where} any more. You'll still receive service messages about your accounts; say \"unsubscribe me from marketing\" to stop marketing everywhere.")
        elif opted_in:
            dispatcher.utter_message(text="Done: you're opted in to marketing. We'll occasionally tell you about products that suit you; say \"stop sending me offers\" at any time.")
        else:
            dispatcher.utter_message(text="Done: you're opted out of marketing. You'll still receive service messages about your accounts.")
        return [SlotSet("offered_product", None)]


class ActionProductInfo(Action):
    """Describe the product the customer asked about, or list our products."""

    def name(self) -> str:
        return "action_product_info"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]) -> list[dict[str, Any]]:
        product = next(tracker.get_latest_entity_values("product"), None)
        if product in PRODUCT_IDS:
            dispatcher.utter_message(response=f"utter_product_{product}")
        else:
            dispatcher.utter_message(response="utter_product_overview")
        return []


# The product a life event makes relevant (recommender catalogue ids); divorced and unknown events: none.
LIFE_EVENT_PRODUCTS = {
    "married": "savings_account",
    "new_baby": "savings_account",
    "moving_home": "mortgage",
    "new_job": "current_account",
    "retired": "term_deposit",
}


class ActionAcknowledgeLifeEvent(Action):
    """Acknowledge a stated life event (slot ``life_event``); mention the product it makes relevant only to a
    verified customer the recommender's offer gate allows it for on this channel (``recommender.offer_gate``:
    marketing consent on the channel, not held, age, credit record and band, cool-off). An anonymous visitor,
    or a customer the gate refuses, gets the acknowledgement alone. The one-offer-a-day cap does not apply: the
    mention answers what the customer just said, and records no offer event. The profile change is the
    feed's (profiles.feed)."""

    def name(self) -> str:
        return "action_acknowledge_life_event"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]) -> list[dict[str, Any]]:
        dispatcher.utter_message(response="utter_life_event")
        product = LIFE_EVENT_PRODUCTS.get(str(tracker.get_slot("life_event")))
        customer_id = verified_customer(tracker)
        if product is None or customer_id is None:
            return []
        try:
            from recommender import offer_gate  # the model is not needed, only the CRM reads

            gate = offer_gate(customer_id, product, channel_of(tracker), frequency_cap=False)
        except ProfileError:
            logger.warning("life event: customer %s could not be read; no product mentioned", customer_id)
            return []
        if gate.eligible:
            dispatcher.utter_message(response="utter_life_event_product")
        else:
            logger.info("life event: no %s mention for customer %s (%s)", product, customer_id, gate.reason)
        return []


HANDOFF_SLOW_DOWN = ("You've already asked for a colleague several times: your request is in our queue and "
                     "someone will answer in this chat. Please don't send another one for now.")


def own_turns(tracker: Tracker, customer_id: int | None) -> list[str]:
    """The texts of this conversation's user messages that were the requester's own: on a messenger channel
    every message (the account is the identity); elsewhere the messages whose identity claim (the channel's
    sealed stand-in for the token) names ``customer_id`` (for an anonymous requester: the messages sent without
    any). A conversation id can
    carry several customers' turns; a hand-off must never show staff another customer's messages."""
    texts = []
    messenger = channel_of(tracker) in ("telegram", "facebook")
    users = [e for e in tracker.events if e.get("event") == "user" and e.get("text")]
    for n, event in enumerate(users, 1):
        if not messenger and n < len(users):  # the latest one, the request itself, is the requester's
            metadata = event.get("metadata")
            carried = isinstance(metadata, dict) and CLAIM_KEY in metadata
            # a claim that no longer holds (expired, another conversation's) is nobody's: left out, never shared
            who = (resolve_message_customer(channel_of(tracker), tracker.sender_id, metadata).customer_id or "?"
                   if carried else None)
            if who != customer_id:
                continue
        texts.append(str(event["text"]))
    return texts


class ActionHumanHandoff(Action):
    """Store a handoff request staff can pick up, and tell the customer what happens next."""

    def name(self) -> str:
        return "action_human_handoff"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]) -> list[dict[str, Any]]:
        customer_id = verified_customer(tracker)
        if not allow("handoff", tracker.sender_id, customer_id):
            dispatcher.utter_message(text=HANDOFF_SLOW_DOWN)
            return []
        recent = own_turns(tracker, customer_id)[-3:]
        handoff = create_handoff(
            customer_id=customer_id, sender_id=tracker.sender_id, channel=channel_of(tracker), reason=" | ".join(recent)[:500]
        )
        who = "" if customer_id is not None else " As you're not logged in, please have your customer number ready."
        dispatcher.utter_message(
            text=(
                f"I've asked a colleague to take over (reference H{handoff.id}). Our team answers in this chat within "
                f"one business hour, Monday to Friday 8:00–20:00; outside those hours, first thing next morning.{who}"
            )
        )
        return []


OFFER_ACTION = "action_offer_product"


def _suggestion(tracker: Tracker, customer_id: int) -> Offer | None:
    """``recommender.suggest_offer`` for ``customer_id`` on this chat's channel (an ``Offer`` or ``None``); a
    recommender failure is logged and reads as ``None``: it must never break the conversation."""
    try:
        from recommender import suggest_offer  # the model loads on first use, not at action-server start

        return suggest_offer(customer_id, channel=channel_of(tracker))
    except Exception:
        logger.exception("next-best-offer failed for customer %s", customer_id)
        return None


def resolved(tracker: Tracker, customer_id: int) -> list[dict[str, Any]]:
    """The events an action returns once it has resolved verified ``customer_id``'s request: the slot
    ``resolved`` (staff analytics count a transfer completed by it: profiles/bot_analytics.py) and, when a
    product suggestion is welcome now (none yet this session and ``recommender.suggest_offer`` has one), a
    ``FollowupAction`` to ``action_offer_product``.

    Deciding here, inside the answering action, means a turn without a suggestion (nearly every turn: at most
    one per session) costs Rasa one action-server call and one prediction instead of two of each (README,
    chat latency). The offer action reads ``suggest_offer`` again, at most once per session.

    Never while a form is active (a balance or card details asked in the middle of a transfer, a lost card, a
    card payment or a contact change): the form asks its question again next, and a suggestion between them
    would put its "Yes, tell me more" (/affirm) beside the form's own yes (also /affirm)."""
    if (tracker.active_loop_name or tracker.get_slot("offer_made")
            or _suggestion(tracker, customer_id) is None):
        return [SlotSet("resolved", True)]
    return [SlotSet("resolved", True), FollowupAction(OFFER_ACTION)]


class ActionOfferProduct(Action):
    """After a resolved request, suggest at most one product per conversation session, when welcome.

    Run only as the follow-up that :func:`resolved` schedules. The decision (consent on this chat's channel,
    products held, eligibility, propensity threshold, 30-day cool-off after a decline, one a day) is
    ``recommender.suggest_offer``'s; this action checks it again for the customer the server verified, asks
    once per session and records it.
    """

    def name(self) -> str:
        return OFFER_ACTION

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]) -> list[dict[str, Any]]:
        customer_id = verified_customer(tracker)
        # Only right after a request was resolved (not after a cancelled or failed one, nor a blocked card),
        # and at most once per conversation session.
        if customer_id is None or not tracker.get_slot("resolved") or tracker.get_slot("offer_made"):
            return [SlotSet("resolved", None)]
        offer = _suggestion(tracker, customer_id)
        if offer is None:
            return [SlotSet("resolved", None)]
        record_offer(customer_id, offer.product, "shown", channel=channel_of(tracker))
        dispatcher.utter_message(
            text=f"One more thing: {offer.reason} Would you like to hear more about our {offer.title.lower()}?",
            buttons=[{"title": "Yes, tell me more", "payload": "/affirm"}, {"title": "No thanks", "payload": "/deny"}],
        )
        return [
            SlotSet("offered_product", offer.product),
            SlotSet("offer_made", True),
            owner_slot(tracker, customer_id),
            SlotSet("resolved", None),
        ]


class ActionOfferResponse(Action):
    """Record the answer to a suggestion: a yes is a lead for an advisor, a no starts the cool-off."""

    def name(self) -> str:
        return "action_offer_response"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]) -> list[dict[str, Any]]:
        product = tracker.get_slot("offered_product")
        customer_id = owning_customer(tracker)  # the answer counts only from the customer who was offered it
        if product not in PRODUCT_IDS or customer_id is None:
            dispatcher.utter_message(response="utter_anything_else")
            return [SlotSet("offered_product", None)]
        accepted = latest_intent(tracker)[0] == "affirm"
        try:
            record_offer(customer_id, str(product), "accepted" if accepted else "declined", channel=channel_of(tracker))
        except ProfileError as exc:
            dispatcher.utter_message(text=exc.user_message)
            return [SlotSet("offered_product", None)]
        if accepted:
            dispatcher.utter_message(response=f"utter_product_{product}")
            dispatcher.utter_message(text="An advisor will contact you within two business days to go through it with you.")
        else:
            dispatcher.utter_message(text="No problem, I won't suggest that again for a while.")
        return [SlotSet("offered_product", None)]
