"""Customer identity: signed tokens (JWT, HS256). The sender_id of a chat is never an identity by itself.

Claims: ``sub`` = str(customer_id), ``iat``, ``exp``, ``iss`` = ``"atlantic-bank"``; the secret and the default
lifetime come from settings (``JWT_SECRET``, ``JWT_TTL_MINUTES``).

Who sent a chat message is decided once, by :func:`resolve_message_customer` (messenger link, else the identity
claim), for the action server and the feed alike. The token itself never goes past the channel door: the web
channels (bot/identity_claim.py) check its signature and pass on only a claim ``"<customer id>:<expiry>"`` sealed
to the conversation (:func:`identity_claim` is the same exchange in our code), so no bearer token is stored in
the tracker store or the event broker, or logged.
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
from profiles.sealing import seal, unseal
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


#: Key of the signed customer token a client sends with a message (it stops at the channel door).
TOKEN_KEY = "token"
#: Key of the identity claim the channel passes on instead (``bot/identity_claim.py`` ``CLAIM_KEY``).
CLAIM_KEY = "identity"
_CLAIM_PURPOSE = "identity"
#: Key of a messenger connector's proof that it received the message from that account (``PROOF_KEY`` there).
PROOF_KEY = "channel_proof"
_MESSENGER_PURPOSE = "messenger"


def messenger_proof(channel: str, conversation: str) -> str:
    """The proof a messenger connector (bot/channels.py, after checking the webhook's signature or secret)
    puts in a message's metadata: ``channel`` sealed to ``conversation`` (the messenger's user id)."""
    return seal(_MESSENGER_PURPOSE, conversation, channel)


def identity_claim(token: object, conversation: str) -> str | None:
    """The claim a web channel passes on for ``token`` in ``conversation``: ``"<sub>:<exp>"`` sealed to the
    conversation, for a token signed with our secret by our issuer, expired or not (the expiry is checked by
    :func:`resolve_message_customer`); ``None`` for anything else. The same exchange as the Rasa channels'
    ``bot.identity_claim.exchange`` (pinned by tests/test_shared_constants.py). Never raises."""
    if not isinstance(token, str) or not token:
        return None
    try:
        claims = jwt.decode(token, get_settings().jwt_secret, algorithms=[ALGORITHM], issuer=ISSUER,
                            options={"verify_exp": False, "require": ["sub", "exp", "iss"]})
    except jwt.InvalidTokenError:
        return None
    sub, exp = claims.get("sub"), claims.get("exp")
    if not isinstance(sub, str) or _SUBJECT.fullmatch(sub) is None or not isinstance(exp, int):
        return None
    return seal(_CLAIM_PURPOSE, conversation, f"{sub}:{exp}")


def claim_subject(metadata: object, conversation: str) -> tuple[int, int] | None:
    """``(customer id, token expiry as a Unix time)`` of the identity claim in a message's ``metadata`` if our
    channel sealed it for ``conversation``; ``None`` for anything else (no claim, another conversation's, a
    client's forgery). Expired claims are returned too: erasure must find every conversation that carried the
    customer's identity. Never use it to authenticate alone (:func:`resolve_message_customer` does)."""
    claim = metadata.get(CLAIM_KEY) if isinstance(metadata, Mapping) else None
    value = unseal(_CLAIM_PURPOSE, conversation, claim)
    if value is None:
        return None
    sub, _, exp = value.partition(":")
    if _SUBJECT.fullmatch(sub) is None or int(sub) > MAX_CUSTOMER_ID or not exp.isascii() or not exp.isdigit():
        return None
    return int(sub), int(exp)


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
      user id, checked by the webhook's secret token or signature, which the connector proves with
      ``metadata["channel_proof"]`` (:func:`messenger_proof`): the customer linked to that account
      (``profiles.linking.linked_customer``), else no one, whatever else the metadata carries. Without the
      proof no one, and ``by_messenger`` is False (the conversation is not unlinked for it).
    - Anywhere else only the identity claim our channel sealed for this conversation (:func:`claim_subject`),
      not expired, naming an existing customer; the sender id is chosen by the client and never an identity.
      A raw token in the metadata is not accepted (the channels never pass one on). A claim that does not
      hold is logged (never the claim) and names no one.

    Never raises.
    """
    if channel in MESSENGER_CHANNELS:
        proof = metadata.get(PROOF_KEY) if isinstance(metadata, Mapping) else None
        if unseal(_MESSENGER_PURPOSE, sender_id, proof) != channel:
            # not from the connector that checked the webhook (events appended through Rasa's HTTP API, a push's
            # external intent, a hand-made tracker): no identity, and no reason to unlink the conversation
            return MessageIdentity(None, by_messenger=False)
        return MessageIdentity(linked_customer(channel, sender_id), by_messenger=True)
    found = claim_subject(metadata, sender_id)
    if found is None:
        return MessageIdentity(None, by_messenger=False)
    customer_id, expiry = found
    if expiry <= utcnow().timestamp():
        log.info("identity claim on sender %s not accepted: the token had expired", sender_id)
        return MessageIdentity(None, by_messenger=False)
    if not customer_exists(customer_id):
        log.warning("identity claim for unknown customer %s refused", customer_id)
        return MessageIdentity(None, by_messenger=False)
    return MessageIdentity(customer_id, by_messenger=False)
