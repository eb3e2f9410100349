"""Portuguese and Spanish messages are recognised by lingua; short English replies, amounts and names never are
(actions/language.py)."""

from __future__ import annotations

import pytest

from actions.language import REPLIES, detect_language


@pytest.mark.parametrize("text, language", [
    ("Olá, qual é o meu saldo?", "pt"),
    ("Perdi o meu cartão", "pt"),
    ("Quero falar com uma pessoa", "pt"),
    ("Bom dia, preciso de ajuda", "pt"),
    ("quanto tenho na conta", "pt"),
    ("He perdido mi tarjeta", "es"),
    ("quiero hablar con una persona", "es"),
    ("Buenas, necesito ayuda con mi cuenta", "es"),
    ("gracias por todo", "es"),
])
def test_portuguese_and_spanish_are_recognised(text: str, language: str) -> None:
    assert detect_language(text) == language


@pytest.mark.parametrize("text", [
    "ok", "yes", "no", "sim", "nope", "yes please", "no thanks", "ok thanks", "cheers mate", "hi there",
    "50", "€1,250.50", "20 euros", "Maria", "Pedro Santos", "Ana Correia Nunes", "José Gonçalves",
    "Rua Direita 5, Lisboa", "send 50 to Ana Costa", "pay Pedro 35 euros", "Send money to Joana",
    "transfer 20 to Maria please", "what's my balance?", "block my card", "I lost my card", "nevermind",
    "is there a fee?", "pay my credit card bill", "my IBAN please", "good morning", "hola", "obrigado", "",
])
def test_short_english_amounts_and_names_are_not_taken_for_another_language(text: str) -> None:
    assert detect_language(text) is None


def test_every_answer_offers_a_colleague() -> None:
    for reply in REPLIES.values():
        assert "English" in reply["text"]
        assert {"payload": "/human_handoff"}.items() <= reply["buttons"][0].items()
