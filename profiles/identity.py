"""Customer identity: signed tokens (JWT, HS256). The sender_id of a chat is never an identity by itself.

Claims: ``sub`` = str(customer_id), ``iat``, ``exp``, ``iss`` = ``"atlantic-bank"``; the secret and the default
lifetime come from settings (``JWT_SECRET``, ``JWT_TTL_MINUTES``).
"""

from __future__ import annotations

import logging
import re
from datetime import timedelta

import jwt

from profiles.customers import customer_exists
from profiles.errors import IdentityError
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
