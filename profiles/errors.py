"""The one error hierarchy of profiles/.

Every error carries ``user_message``: a sentence that is safe to show the customer (it names no other
customer's data and no full account or card number). ``str(error)`` is the same text unless a more technical
``detail`` was given for logs; neither ever holds an account number, card number, email or phone.
Actions turn these into a polite answer, the API into a 4xx.
"""

from __future__ import annotations


class ProfileError(Exception):
    """Base of every expected error raised by profiles/ services."""

    default_message = "Sorry, we could not complete that request."

    def __init__(self, user_message: str | None = None, *, detail: str | None = None) -> None:
        self.user_message: str = user_message or self.default_message
        super().__init__(detail or self.user_message)


class NotFound(ProfileError):
    """The customer, or an account/card/payee among *the customer's own*, does not exist."""

    default_message = "We could not find that."


class InvalidInput(ProfileError):
    """A value was refused; ``field`` names the input (e.g. ``"email"``, ``"amount"``)."""

    default_message = "That value is not valid."

    def __init__(
        self, user_message: str | None = None, *, field: str | None = None, detail: str | None = None
    ) -> None:
        super().__init__(user_message, detail=detail)
        self.field: str | None = field


class InsufficientFunds(ProfileError):
    """The source account's available balance does not cover the amount."""

    default_message = "There is not enough money in that account."


class LimitExceeded(ProfileError):
    """A business limit (e.g. the daily transfer limit, EUR) would be exceeded."""

    default_message = "That would go over your limit."


class IdentityError(ProfileError):
    """The token is missing, malformed, forged or expired, or names no existing customer."""

    default_message = "We could not verify who you are. Please sign in again."


class NotAllowed(ProfileError):
    """The customer may not do this (e.g. move money out of a term deposit)."""

    default_message = "Sorry, that is not allowed."


class Conflict(ProfileError):
    """The record changed at the same time (optimistic lock); trying again is safe."""

    default_message = "Your details were changed at the same time. Please try again."
