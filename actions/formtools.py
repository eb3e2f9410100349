"""Shared pieces of our forms: which slot is asked, yes/no answers, leaving a form cleanly."""

from __future__ import annotations

import re
from abc import ABC, abstractmethod
from typing import Any

from rasa_sdk import Action, FormValidationAction, Tracker
from rasa_sdk.events import SlotSet
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.types import DomainDict

from actions.context import is_push_turn, latest_intent, seal_for_conversation, unseal_in_conversation

FORM_SLOTS = {
    "transfer_form": ("amount", "from_account", "to_account", "transfer_confirmed", "transfer_quote"),
    "block_card_form": ("card_id", "block_confirmed"),
    "contact_form": ("contact_field", "contact_value", "contact_confirmed"),
    "card_payment_form": ("pay_card", "pay_amount", "pay_from", "pay_confirmed", "pay_quote"),
}
# The slot each form's submit action needs to be a sealed yes before it changes anything.
CONFIRM_SLOTS = {
    "transfer_form": "transfer_confirmed",
    "block_card_form": "block_confirmed",
    "contact_form": "contact_confirmed",
    "card_payment_form": "pay_confirmed",
}
YES_INTENTS = {"affirm"}
NO_INTENTS = {"deny", "stop"}
# Intents that answer a form question; anything else the form rejects so that the FAQ / interruption
# rules answer it and the form then asks again.
ANSWER_INTENTS = {"inform", "affirm", "deny", "nlu_fallback"}
# Short answers the NLU model may score below the fallback threshold; inside a form the question
# makes them unambiguous.
_YES = re.compile(r"^\s*(y|yes|yeah|yea|yep|yup|sure|ok|okay|k|confirm(ed)?|correct|go ahead|do it|sim)\b[\s.!]*$", re.I)
_NO = re.compile(r"^\s*(n|no|nope|nah|not now|cancel|stop|don'?t|n[aã]o)\b[\s.!]*$", re.I)
# A yes in a sentence at a read-back ("Yes, I would like to confirm the transfer", "Yes, that is correct. Go
# ahead", "That's right"): it starts with a yes, and every other word is one that only confirms (an allow-list:
# "ok forget it", "okay never mind", "Ok so what is the fee", "Exactly what I didnt want" are not a yes).
_YES_SENTENCE = re.compile(
    r"^\s*(yes|yeah|yea|yep|yup|sure|ok|okay|correct|confirm(ed)?|that'?s (right|correct)|that is (right|correct)|"
    r"right|absolutely|definitely|exactly|perfect|go ahead|please do|looks good|that'?s what i said|i confirm)\b",
    re.I,
)
_CONFIRMING_WORDS = frozenset((
    "yes", "yeah", "yea", "yep", "yup", "sure", "ok", "okay", "correct", "confirm", "confirmed", "confirming",
    "right", "absolutely", "definitely", "exactly", "perfect", "go", "ahead", "please", "do", "does", "looks",
    "look", "sounds", "good", "great", "fine", "works", "thats", "that's", "that", "is", "it", "its", "it's",
    "this", "all", "i", "i'd", "id", "would", "like", "to", "want", "wish", "the", "transfer", "payment", "money",
    "block", "update", "proceed", "send", "pay", "make", "a", "bunch", "lot", "lots", "thanks", "thank", "you", "very", "much", "so", "what",
    "said", "and", "of", "course", "indeed", "true", "alright",
))
# A natural closing or refusal inside the form ("no thanks, that's all", "nevermind", "thanks, bye"): the
# form ends with nothing changed (FormValidation.run), a no whatever intent the NLU read (a model that reads
# "thanks, bye" as affirm must not confirm a payment). A bare "no" is left to the cancel rules (is_no).
_EXIT = re.compile(
    r"^\s*(no,?\s+thanks?( you)?\b.*|no,? that'?s (all|it)\b.*|that'?s (all|it)\b.*|never\s?mind\b.*|nvm\b.*|"
    r"forget (it|about it|that)\b.*|thanks?( you)?\b(?!.*\d).*|thank you\b(?!.*\d).*|cheers\b.*|(good)?bye\b.*|"
    r"see you\b.*|have a (good|nice) (one|day)\b.*|i'?m done\b.*|not anymore\b.*|i changed my mind\b.*)$",
    re.IGNORECASE,
)
_WORD = re.compile(r"[a-z']+")
# An affirm the NLU read in a message that also refuses, waits, asks or changes something is not a yes.
_CHANGES_OR_WAITS = re.compile(
    r"\b(no|not|nope|nah|cancel|stop|wrong|but|wait|change|instead|hold|actually|rather|however|except|forget|"
    r"never ?mind|nevermind|later|think|minute|moment|second|busy|abort|didnt|dont|wont|cant)\b|n['’]t\b|\?",
    re.I,
)


def _confirming_sentence(text: str) -> bool:
    """``text`` starts with a yes and says nothing else than confirming words (``_CONFIRMING_WORDS``; no
    question mark, no digit: an amount or a name is a change, not a yes)."""
    if not _YES_SENTENCE.match(text) or "?" in text or any(c.isdigit() for c in text):
        return False
    words = _WORD.findall(text.lower().replace("’", "'"))
    return bool(words) and all(w in _CONFIRMING_WORDS for w in words)


def asking_for(tracker: Tracker, slot: str) -> bool:
    """True when the form's last question was for ``slot``."""
    return tracker.get_slot("requested_slot") == slot


def answering(tracker: Tracker, slot: str) -> bool:
    """True when the latest message may answer the question for ``slot``: it was asked, and the customer did
    not just say no/cancel (that is left to the form's cancel rules)."""
    return asking_for(tracker, slot) and not is_no(str(tracker.latest_message.get("text") or ""))


def yes_no(tracker: Tracker, slot: str) -> dict[str, Any]:
    """Extract a confirmation slot: ``{slot: True/False}`` on yes/no, ``{}`` otherwise (form rejects)."""
    if not asking_for(tracker, slot):
        return {}
    intent, _ = latest_intent(tracker)
    text = str(tracker.latest_message.get("text") or "")
    if _NO.match(text):
        return {slot: False}
    if _YES.match(text) or _confirming_sentence(text):
        return {slot: True}
    if intent in NO_INTENTS:  # the NLU's no wins over its yes: "ok forget it" must never confirm
        return {slot: False}
    if intent in YES_INTENTS and not _CHANGES_OR_WAITS.search(text):
        return {slot: True}
    return {}


def sealed_yes(tracker: Tracker, slot: str, value: Any, read_back: str) -> dict[str, Any]:
    """A confirmation slot's validated value: on a yes, the yes sealed to this conversation and to exactly what
    was read back (``read_back``, e.g. the card id); a no or nothing stays as it is. Only this action server can
    make the seal, so a hand-made tracker's ``True`` confirms nothing (see :func:`said_yes_to`)."""
    return {slot: seal_for_conversation(tracker, slot, read_back) if value is True else value}


def said_yes_to(tracker: Tracker, slot: str, read_back: str) -> bool:
    """Did the customer say yes, as parsed by this action server in this conversation, to ``read_back``?"""
    return unseal_in_conversation(tracker, slot, tracker.get_slot(slot)) == read_back


def is_exit(text: str) -> bool:
    """Whether ``text`` closes the conversation or refuses ("nevermind", "no thanks, that's all", "bye")."""
    return bool(_EXIT.match(text))


def is_no(text: str) -> bool:
    """Whether ``text`` is a bare "no"/"cancel" (so the form's cancel rules should handle it)."""
    return bool(_NO.match(text))


def reset(form: str) -> list[dict[str, Any]]:
    """Events that clear every slot of ``form`` so the next run starts afresh."""
    return [SlotSet(slot, None) for slot in FORM_SLOTS[form]] + [SlotSet("requested_slot", None)]


class ActionCancelForm(Action):
    """After a customer says stop/no inside a form: clear its slots and say nothing was changed."""

    def name(self) -> str:
        return "action_cancel_form"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]) -> list[dict[str, Any]]:
        dispatcher.utter_message(response="utter_cancelled")
        return [event for form in FORM_SLOTS for event in reset(form)]


class FormValidation(FormValidationAction, ABC):
    """The base of our forms' validation actions: a proactive push arriving while a form is open
    (``actions.context.is_push_turn``) is never an answer to its question. Nothing is extracted from it, so
    Rasa rejects the form for that turn, its rule sends the push, and the form asks its question again (with
    its buttons: the identity is the customer's own last message, ``actions.context.verified_customer``)."""

    @abstractmethod
    def name(self) -> str:
        """Every form names its own validation action (abstract: rasa-sdk registers only concrete actions)."""

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict) -> list[dict[str, Any]]:
        if is_push_turn(tracker):
            return []
        if tracker.get_slot("requested_slot") is not None and is_exit(str(tracker.latest_message.get("text") or "")):
            # A closing or refusal while a question is pending ("thanks, bye", "nevermind") ends the form
            # whatever intent the NLU read: the confirmation is set to no (a slot Rasa sees validated, so it does
            # not reject the form and leave it waiting on its question), the form ends, and its submit action
            # says nothing was changed and clears it.
            return [SlotSet(CONFIRM_SLOTS[self.form_name()], False), SlotSet("requested_slot", None)]
        return await super().run(dispatcher, tracker, domain)
