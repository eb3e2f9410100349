"""The one masking rule: account, IBAN and card numbers leave profiles/ showing only their last 4 digits."""

from __future__ import annotations

MASK = "••••"


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
