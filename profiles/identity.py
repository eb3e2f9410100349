"""Customer identity: signed tokens (JWT, HS256). The sender_id of a chat is never an identity by itself.

Claims: ``sub`` = str(customer_id), ``iat``, ``exp``, ``iss`` = ``"atlantic-bank"``; the secret and the default
lifetime come from settings (``JWT_SECRET``, ``JWT_TTL_MINUTES``).

Who sent a chat message is decided once, by :func:`resolve_message_customer` (messenger link, else token), for
the action server and the feed alike.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta

import jwt

from profiles.customers import customer_exists
from profiles.errors import IdentityError
from profiles.linking import MESSENGER_CHANNELS, linked_customer
from profiles.models import utcnow
from profiles.settings import get_settings

log = logging.getLogger(__name__)

ISSUER = "atlantic-bank"
ALGORITHM = "HS256"
# ASCII decimal digits only: str.isdigit() also accepts "²" or "٣", which int() then refuses or reads oddly.
_SUBJECT = re.compile(r"[1-9][0-9]{0,9}")
MAX_CUSTOMER_ID = 2**31 - 1  # ids are INTEGER columns: a larger one would be a DataError on PostgreSQL


def issue_token(customer_id: int, ttl_minutes: int | None = None) -> str:
    """Return a signed token for ``customer_id`` valid for ``ttl_minutes`` (default: settings.jwt_ttl_minutes).

    Raises:
        ValueError: customer_id is not a positive int, or ttl_minutes <= 0.
    """
    if isinstance(customer_id, bool) or not isinstance(customer_id, int) or customer_id <= 0:
        raise ValueError("customer_id must be a positive int")
    settings = get_settings()
    ttl = settings.jwt_ttl_minutes if ttl_minutes is None else ttl_minutes
    if ttl <= 0:
        raise ValueError("ttl_minutes must be positive")
    now = utcnow()
    claims = {"sub": str(customer_id), "iat": now, "exp": now + timedelta(minutes=ttl), "iss": ISSUER}
    return jwt.encode(claims, settings.jwt_secret, algorithm=ALGORITHM)


def verify_token(token: str | None) -> int:
    """Return the customer id of a valid token whose customer exists.

    Raises:
        IdentityError: missing, malformed, forged (wrong secret or algorithm), expired or wrong-issuer token,
            a ``sub`` that is not a positive integer in ASCII digits (no sign, space or leading zero, at most
            ``MAX_CUSTOMER_ID``), or a customer that does not exist.
    """
    if not token or not isinstance(token, str):
        raise IdentityError("Please sign in first.", detail="missing token")
    try:
        claims = jwt.decode(
            token,
            get_settings().jwt_secret,
            algorithms=[ALGORITHM],
            issuer=ISSUER,
            options={"require": ["sub", "iat", "exp", "iss"]},
        )
    except jwt.ExpiredSignatureError:
        raise IdentityError(
            "Your session has expired. Please sign in again.", detail="expired token"
        ) from None
    except jwt.InvalidTokenError as exc:
        raise IdentityError(detail=f"invalid token ({type(exc).__name__})") from None
    sub = claims.get("sub")
    if not isinstance(sub, str) or _SUBJECT.fullmatch(sub) is None or int(sub) > MAX_CUSTOMER_ID:
        raise IdentityError(detail="invalid subject")
    customer_id = int(sub)
    if not customer_exists(customer_id):
        log.warning("token for unknown customer %s refused", customer_id)
        raise IdentityError(detail="unknown customer")
    return customer_id


def token_subject(token: object) -> int | None:
    """The customer id a genuine token names, *expired or not* (signature, algorithm and issuer verified; the
    customer need not exist): for erasure, which must find every conversation that ever carried the customer's
    identity. Never use it to authenticate (``verify_token`` does). None for anything else; never raises."""
    if not isinstance(token, str) or not token:
        return None
    try:
        claims = jwt.decode(token, get_settings().jwt_secret, algorithms=[ALGORITHM], issuer=ISSUER,
                            options={"verify_exp": False, "require": ["sub", "iss"]})
    except jwt.InvalidTokenError:
        return None
    sub = claims.get("sub")
    if not isinstance(sub, str) or _SUBJECT.fullmatch(sub) is None or int(sub) > MAX_CUSTOMER_ID:
        return None
    return int(sub)


#: Key of the signed customer token in a user message's metadata (web channels).
TOKEN_KEY = "token"


@dataclass(frozen=True, slots=True)
class MessageIdentity:
    """Who sent one user message (:func:`resolve_message_customer`): ``customer_id`` (None: anonymous), and
    ``by_messenger``: the channel is a messenger whose identity is its account link (then None means "that
    account is not linked", and the feed unlinks the conversation)."""

    customer_id: int | None
    by_messenger: bool


def resolve_message_customer(channel: str | None, sender_id: str, metadata: object) -> MessageIdentity:
    """The one identity rule for a user message, used by the action server (``actions.context``) and the feed
    (``profiles.feed.translate``): both give the same answer for the same message.

    ``channel`` must be the input channel the server's connector set (Rasa's ``input_channel`` of the user
    event / the tracker's latest input channel), never a value taken from the request body or its metadata;
    ``sender_id`` is Rasa's conversation id; ``metadata`` the message's metadata.

    - On Telegram and Messenger (``profiles.linking.MESSENGER_CHANNELS``) the sender id is the messenger's own
      user id, checked by the webhook's secret token or signature: the customer linked to that account
      (``profiles.linking.linked_customer``), else no one, whatever token the metadata carries.
    - Anywhere else only a valid signed token in ``metadata["token"]`` (:func:`verify_token`: not expired, not
      forged, an existing customer); the sender id is chosen by the client and never an identity. A token that
      does not verify is logged (never the token) and names no one.

    Never raises.
    """
    if channel in MESSENGER_CHANNELS:
        return MessageIdentity(linked_customer(channel, sender_id), by_messenger=True)
    token = metadata.get(TOKEN_KEY) if isinstance(metadata, Mapping) else None
    if not isinstance(token, str):
        return MessageIdentity(None, by_messenger=False)
    try:
        return MessageIdentity(verify_token(token), by_messenger=False)
    except IdentityError as exc:
        log.info("customer token on sender %s not accepted: %s", sender_id, exc)
        return MessageIdentity(None, by_messenger=False)
