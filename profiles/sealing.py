"""Sealed slot values: a value the action server set in one conversation, with an HMAC only it can make.

A Rasa slot is plain tracker data; a value that stands for identity (slot ``owner``) or a confirmation must
prove that our action server set it in *this* conversation, not that someone (a hand-made tracker, a copied
slot from another conversation) wrote it. Sealed form: ``"<value>.<mac>"`` with
``mac = HMAC-SHA256(key, purpose NUL conversation NUL value)``, hex, 32 characters (128 bits), the key
derived from ``JWT_SECRET`` (so the action server and the feed consumer can both check it). The last ``.``
separates the mac, so ``value`` itself may contain dots.
"""

from __future__ import annotations

import functools
import hashlib
import hmac

from profiles.settings import get_settings

MAC_CHARS = 32
OWNER = "owner"


def _key() -> bytes:
    return _derived_key(get_settings().jwt_secret)


@functools.lru_cache(maxsize=4)
def _derived_key(secret: str) -> bytes:
    # derived once per secret: it was an HMAC per seal check, three per chat turn (action server profile)
    return hmac.new(secret.encode(), b"nova slot seal v1", hashlib.sha256).digest()


def _mac(purpose: str, conversation: str, value: str) -> str:
    message = "\0".join((purpose, conversation, value)).encode()
    return hmac.new(_key(), message, hashlib.sha256).hexdigest()[:MAC_CHARS]


def seal(purpose: str, conversation: str, value: str) -> str:
    """``value`` sealed to ``purpose`` (e.g. ``"owner"``) and ``conversation`` (the Rasa sender id)."""
    return f"{value}.{_mac(purpose, conversation, value)}"


def unseal(purpose: str, conversation: str, sealed: object) -> str | None:
    """The value inside ``sealed`` if it was sealed for this purpose and conversation, else ``None`` (any
    other type, an unsealed value, a seal of another conversation or purpose). Constant-time comparison."""
    if not isinstance(sealed, str) or "." not in sealed:
        return None
    value, _, mac = sealed.rpartition(".")
    return value if hmac.compare_digest(mac.encode(), _mac(purpose, conversation, value).encode()) else None


def seal_owner(conversation: str, customer_id: int) -> str:
    """The slot ``owner`` value naming ``customer_id`` in this conversation."""
    return seal(OWNER, conversation, str(customer_id))


def sealed_owner(conversation: str, sealed: object) -> int | None:
    """The customer id of a slot ``owner`` value sealed for this conversation, else ``None``."""
    value = unseal(OWNER, conversation, sealed)
    return int(value) if value is not None and value.isascii() and value.isdigit() and len(value) <= 10 else None
