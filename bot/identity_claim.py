"""The customer's bearer token stops at the channel door (issue 12 item 4).

A web channel (REST, socket.io) receives the signed customer token (JWT) with a message. Rasa would store the
message's metadata in the tracker store, publish it to the event broker and log it on a failed publish, so the
token would sit in Redis, RabbitMQ and log files for as long as they live. Instead the channel checks the
token's signature here and passes on only an identity claim: ``"<customer id>:<token expiry>"`` sealed to this
conversation with an HMAC only our servers can make (``profiles.sealing``'s format, purpose ``identity``). The
claim cannot be used in another conversation, nor sent by a client (any ``identity`` or ``token`` key a client
puts in the metadata is dropped here).

What the claim means is decided where it always was, in ``profiles.identity.resolve_message_customer`` (expiry,
subject form, the customer exists): this module only verifies the signature and issuer, so the rule is not
copied. An expired but genuine token still gives a claim (its expiry inside), because erasure must find every
conversation that ever carried the customer's identity; the action server refuses it as expired.

Runs inside the Rasa process (Python 3.10): standard library and PyJWT only (Rasa's environment has it). The
constants below equal ``profiles.identity`` / ``profiles.settings`` / ``profiles.sealing`` (pinned by
tests/test_shared_constants.py).
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import os
from typing import Any

import jwt

logger = logging.getLogger(__name__)

ISSUER = "atlantic-bank"
ALGORITHM = "HS256"
DEV_SECRET = "dev-only-secret-change-me-0123456789abcdef"
SEAL_CONTEXT = "nova slot seal v1"
MAC_CHARS = 32
#: metadata keys: the token a client sends, and the claim the channel passes on instead
TOKEN_KEY = "token"
CLAIM_KEY = "identity"
PURPOSE = "identity"
#: a messenger connector's proof that it received the message from that account (signature / secret checked)
PROOF_KEY = "channel_proof"
MESSENGER_PURPOSE = "messenger"
MAX_TOKEN_CHARS = 4096


def _secret() -> str:
    return os.environ.get("JWT_SECRET") or DEV_SECRET


def seal(conversation: str, value: str, purpose: str = PURPOSE) -> str:
    """``value`` sealed for ``purpose`` and ``conversation`` (``profiles.sealing.seal``'s format)."""
    key = hmac.new(_secret().encode(), SEAL_CONTEXT.encode(), hashlib.sha256).digest()
    mac = hmac.new(key, "\0".join((purpose, conversation, value)).encode(), hashlib.sha256).hexdigest()
    return f"{value}.{mac[:MAC_CHARS]}"


def verified_subject(token: object) -> tuple[str, int] | None:
    """``(sub, exp)`` of a token signed with our secret by our issuer, expired or not; ``None`` for anything
    else (missing, malformed, forged, another algorithm, no ``sub``/``exp``). Never raises."""
    if not isinstance(token, str) or not token or len(token) > MAX_TOKEN_CHARS:
        return None
    try:
        claims = jwt.decode(token, _secret(), algorithms=[ALGORITHM], issuer=ISSUER,
                            options={"verify_exp": False, "require": ["sub", "exp", "iss"]})
    except jwt.InvalidTokenError:
        return None
    sub, exp = claims.get("sub"), claims.get("exp")
    if not isinstance(sub, str) or not sub.isascii() or not sub.isdigit() or len(sub) > 12 or not isinstance(exp, int):
        return None
    return sub, exp


def claim_for(conversation: str, subject: tuple[str, int] | None) -> str | None:
    """The sealed claim for a verified ``(sub, exp)`` in ``conversation``, or ``None``."""
    return None if subject is None else seal(conversation, f"{subject[0]}:{subject[1]}")


def exchange(metadata: Any, conversation: str, subject: tuple[str, int] | None = None, *,
             accept_token: bool = True) -> dict[str, Any] | None:
    """The metadata Rasa may keep: a copy of ``metadata`` without ``token`` or ``identity``, plus the claim of
    the token it carried (``accept_token``: the REST channel) or of ``subject``, verified earlier on this
    socket (socket.io, which drops a token in a message: a socket speaks for the one identity it declared).
    ``None`` stays ``None`` when there is nothing to pass on."""
    data = dict(metadata) if isinstance(metadata, dict) else {}
    token = data.pop(TOKEN_KEY, None)
    data.pop(CLAIM_KEY, None)
    data.pop(PROOF_KEY, None)
    if subject is None and token is not None and accept_token:
        subject = verified_subject(token)
        if subject is None:
            logger.info("customer token on conversation %s not accepted (signature, issuer or form)", conversation)
    claim = claim_for(conversation, subject)
    if claim is not None:
        data[CLAIM_KEY] = claim
    return data if data or metadata is not None else None


def messenger_metadata(metadata: Any, channel: str, conversation: str) -> dict[str, Any]:
    """Metadata for a message a messenger connector received with a valid signature or secret token from the
    account ``conversation`` (the messenger's user id): any ``token``, ``identity`` or ``channel_proof`` keys
    dropped, plus the connector's proof ``channel`` sealed to the conversation. ``profiles.identity`` takes a
    messenger account as the customer's identity only with this proof, so events appended to a tracker by
    other means (Rasa's HTTP API, a hand-made tracker) that merely claim ``input_channel: telegram`` name no
    one."""
    data = dict(metadata) if isinstance(metadata, dict) else {}
    for key in (TOKEN_KEY, CLAIM_KEY, PROOF_KEY):
        data.pop(key, None)
    data[PROOF_KEY] = seal(conversation, channel, MESSENGER_PURPOSE)
    return data
