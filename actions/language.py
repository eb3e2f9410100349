"""Messages in Portuguese or Spanish (a Lisbon bank): answer in that language that Nova speaks English for now,
and offer a colleague (``action_other_language``, after the NLU's ``other_language`` intent).

The language is decided by lingua (``lingua-language-detector``), restricted to the languages customers
write here, and only for messages long enough to tell: a short English reply ("ok", "yes", "50", a payee's
name) is never taken for Portuguese. Whatever lingua cannot tell gets the English fallback answer.
"""

from __future__ import annotations

import re
from functools import lru_cache
from typing import Any

from lingua import Language, LanguageDetector, LanguageDetectorBuilder
from rasa_sdk import Action, Tracker
from rasa_sdk.executor import CollectingDispatcher

from actions.context import latest_text

# Compared against each other only: a short text is more often right among few languages.
_LANGUAGES = (Language.ENGLISH, Language.PORTUGUESE, Language.SPANISH)
_WORD = re.compile(r"[^\W\d_]+")
# Below this many letters a message is a reply ("ok", "sim", "Ana"), never worth a language switch.
MIN_LETTERS = 6
# lingua's confidence (0..1, shared by the three languages above) in one language, or in the two together
# (then both are answered), that the answer needs.
MIN_CONFIDENCE = 0.6
MIN_ROMANCE = 0.8

REPLIES: dict[str, dict[str, Any]] = {
    "pt": {
        "text": "Olá! Por enquanto a Nova, a assistente virtual do Atlantic Bank, só fala inglês. Se preferir, "
                "passo a conversa a um colega. (Nova speaks English for now.)",
        "buttons": [{"title": "Falar com um colega", "payload": "/human_handoff"},
                    {"title": "Continuar em inglês", "payload": "/help"}],
    },
    "es": {
        "text": "¡Hola! Por ahora Nova, la asistente virtual de Atlantic Bank, solo habla inglés. Si lo prefiere, "
                "le paso con un compañero. (Nova speaks English for now.)",
        "buttons": [{"title": "Hablar con un compañero", "payload": "/human_handoff"},
                    {"title": "Seguir en inglés", "payload": "/help"}],
    },
}
REPLIES["pt_es"] = {
    "text": f"{REPLIES['pt']['text']}\n{REPLIES['es']['text']}",
    "buttons": [{"title": "Falar com um colega / Hablar con un compañero", "payload": "/human_handoff"},
                {"title": "Continue in English", "payload": "/help"}],
}


@lru_cache(maxsize=1)
def _detector() -> LanguageDetector:
    return LanguageDetectorBuilder.from_languages(*_LANGUAGES).with_preloaded_language_models().build()


def detect_language(text: str) -> str | None:
    """``"pt"``, ``"es"``, or ``"pt_es"`` (Portuguese or Spanish, lingua cannot tell which) when ``text`` is
    confidently one of them, else ``None``: English, too short to tell (a single word, fewer than
    ``MIN_LETTERS`` letters), or only names (capitalised words after the first are names or places, "send 50 to
    Ana Costa": they are left out before the language is decided)."""
    words = _WORD.findall(text or "")
    kept = words[:1] + [w for w in words[1:] if not w[0].isupper()]
    if len(kept) < 2 or sum(len(w) for w in kept) < MIN_LETTERS or all(w[0].isupper() for w in kept):
        return None
    values = {v.language: v.value for v in _detector().compute_language_confidence_values(" ".join(kept))}
    pt, es = values.get(Language.PORTUGUESE, 0.0), values.get(Language.SPANISH, 0.0)
    if max(pt, es) >= MIN_CONFIDENCE:
        return "pt" if pt >= es else "es"
    if pt + es >= MIN_ROMANCE:
        return "pt_es"
    return None


class ActionOtherLanguage(Action):
    """Answer a Portuguese or Spanish message in its language (English for now, a colleague on offer); a
    message lingua does not find Portuguese or Spanish gets the usual fallback."""

    def name(self) -> str:
        return "action_other_language"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]) -> list[dict[str, Any]]:
        language = detect_language(latest_text(tracker))
        if language is None:
            dispatcher.utter_message(response="utter_fallback")
            return []
        dispatcher.utter_message(**REPLIES[language])
        return []
