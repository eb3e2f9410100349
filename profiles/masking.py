"""The one masking rule: account, IBAN and card numbers leave profiles/ showing only their last 4 digits.

``mask_number`` masks a number we hold; ``redact`` masks the numbers a customer typed into free text (hand-off
reasons) before it is stored or shown to staff.
"""

from __future__ import annotations

import re
from typing import Any

MASK = "••••"

# IBAN-like: country code, 2 check digits, then 11..30 letters/digits, optionally grouped by single spaces or
# dashes (``PT50 0002 0123 1234 5678 9015 4``, ``GB82-WEST-1234-5698-7654-32``, lower case too).
_IBAN = re.compile(r"\b[A-Za-z]{2}[0-9]{2}(?:[ -]?[A-Za-z0-9]){11,30}(?![A-Za-z0-9])")
# Card-like (and any longer account number): 12 or more digits, optionally separated by single spaces/dashes.
_DIGIT_RUN = re.compile(r"(?<![0-9])[0-9](?:[ -]?[0-9]){11,}(?![0-9])")
_MIN_IBAN_DIGITS = 10
_REDACT_INPUT_MAX = 10_000


def mask_number(number: str | None) -> str:
    """Return ``'•••• 1234'`` for any account/IBAN/card number (spaces and dashes ignored).

    Numbers of 4 characters or fewer, and ``None``, are masked entirely (``'••••'``), so a short or
    malformed value is never shown in full.
    """
    if not number:
        return MASK
    chars = [c for c in number if c.isalnum()]
    if len(chars) <= 4:
        return MASK
    return f"{MASK} {''.join(chars[-4:])}"


def _iban_body(text: str) -> tuple[str, str] | None:
    """An IBAN-pattern match split into (the IBAN, the words after it), or None for a word that merely starts
    like an IBAN."""
    # The pattern may run on into ordinary words typed after the IBAN ("... 9015 4 please"): give back
    # trailing groups without a digit.
    groups = re.split(r"([ -])", text)
    tail = ""
    while len(groups) > 2 and not any(c.isdigit() for c in groups[-1]):
        tail = groups[-2] + groups[-1] + tail
        groups = groups[:-2]
    body = "".join(groups)
    if sum(c.isdigit() for c in body) < _MIN_IBAN_DIGITS or len([c for c in body if c.isalnum()]) < 15:
        return None
    return body, tail


def _mask_iban(match: re.Match[str]) -> str:
    found = _iban_body(match.group(0))
    return match.group(0) if found is None else mask_number(found[0]) + found[1]


def redact(text: str) -> str:
    """Return ``text`` with every card-, account- or IBAN-like number masked as ``'•••• 1234'``.

    - IBAN-like strings (two letters, two digits, 11..30 more letters/digits, optional single spaces or dashes
      between them, at least 10 digits in all);
    - runs of 12 or more digits with optional single spaces or dashes between them (card numbers, 12..19
      digits, and longer domestic account numbers).

    Shorter numbers (amounts, dates, a 9-digit phone number) are kept. Text beyond 10,000 characters is
    dropped, so the cost stays bounded.
    """
    out = _IBAN.sub(_mask_iban, text[:_REDACT_INPUT_MAX])
    return _DIGIT_RUN.sub(lambda m: mask_number(m.group(0)), out)


def redacted_spans(text: str) -> list[tuple[int, int]]:
    """The ``(start, end)`` character ranges of ``text`` that :func:`redact` masks, so that what was read out of
    those characters (an NLU entity's ``start``/``end``: "4111" of a card number typed in groups) can be masked
    with them."""
    text = text[:_REDACT_INPUT_MAX]
    spans: list[tuple[int, int]] = []
    for match in _IBAN.finditer(text):
        found = _iban_body(match.group(0))
        if found is not None:
            spans.append((match.start(), match.start() + len(found[0])))
    rest = list(text)
    for start, end in spans:  # digit runs are looked for after the IBANs are masked, as in redact
        rest[start:end] = "x" * (end - start)
    spans += [(m.start(), m.end()) for m in _DIGIT_RUN.finditer("".join(rest))]
    return sorted(spans)


def remask_stored_entities(text: str | None, entities: list[Any]) -> bool:
    """Mask, in place, the NLU entity values of a message stored before entities were masked with their text
    (``[{"entity", "value", ...}]``): when the stored ``text`` had something masked (it holds :data:`MASK`), every
    value with a digit is masked (:func:`mask_number`: a card typed in groups was four 4-digit values; the
    original text is gone, so the spans cannot be compared and an amount beside a card number is masked too,
    which only hides more); every other string value goes through :func:`redact`. Returns whether anything
    changed."""
    changed = False
    masked_text = isinstance(text, str) and MASK in text
    for entity in entities:
        if not isinstance(entity, dict) or entity.get("value") is None:
            continue
        value = entity["value"]
        if masked_text and any(c.isdigit() for c in str(value)):
            new: Any = mask_number(str(value))
        elif isinstance(value, str):
            new = redact(value)
        else:
            continue
        if new != value:
            entity["value"] = new
            changed = True
    return changed


# E-mail addresses and phone numbers in free text (transcripts): 9 to 11 digits, optional leading +, single
# spaces/dashes between digits (longer runs are masked above as account/card numbers).
_EMAIL = re.compile(r"(?<![\w.+-])[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}")
_PHONE = re.compile(r"(?<![\w+])\+?[0-9](?:[ -]?[0-9]){8,10}(?![0-9])")


def mask_email(address: str) -> str:
    """``'ana.silva@example.com'`` -> ``'a••••@example.com'`` (first character and domain kept)."""
    local, _, domain = address.partition("@")
    return f"{local[:1]}{MASK}@{domain}" if domain else MASK


def sensitive_values(text: str) -> list[str]:
    """The e-mail addresses and phone numbers in ``text``, in order of appearance (what :func:`redact_all`
    masks beyond :func:`redact`; card/IBAN numbers are already masked where texts are stored)."""
    found = [(m.start(), m.group(0)) for m in _EMAIL.finditer(text[:_REDACT_INPUT_MAX])]
    no_email = _EMAIL.sub(lambda m: " " * len(m.group(0)), text[:_REDACT_INPUT_MAX])
    found += [(m.start(), m.group(0)) for m in _PHONE.finditer(no_email)]
    return [value for _, value in sorted(found)]


def redact_all(text: str, *, reveal: int | None = None) -> str:
    """:func:`redact` plus e-mail addresses (``a••••@example.com``) and phone numbers (``•••• 5678``): the
    transcript view's rule. ``reveal`` leaves the value with that index in :func:`sensitive_values` (of the
    :func:`redact`-ed text) unmasked, every occurrence of it: an admin's audited unmask."""
    out = redact(text)
    values = sensitive_values(out)
    shown = values[reveal] if reveal is not None and 0 <= reveal < len(values) else None
    out = _EMAIL.sub(lambda m: m.group(0) if m.group(0) == shown else mask_email(m.group(0)), out)
    return _PHONE.sub(lambda m: m.group(0) if m.group(0) == shown else mask_number(m.group(0)), out)
