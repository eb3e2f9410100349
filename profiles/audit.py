"""The audit log: every write to a profile records who (actor), through which channel, what and when."""

from __future__ import annotations

import unicodedata

from sqlalchemy.orm import Session

from profiles.errors import InvalidInput
from profiles.models import AuditLog, utcnow


def require_text(value: str | None, field: str, max_len: int) -> str:
    """Strip ``value`` and check it is non-empty and at most ``max_len`` characters.

    Raises:
        InvalidInput: (with ``field``) when empty, too long, or holding a control character other than a line
            break or tab, or a lone surrogate (PostgreSQL stores neither a NUL nor a surrogate: a 500 before).
            Other invisible characters (a no-break space, an emoji's zero-width joiner) are kept.
    """
    text = (value or "").strip()
    if not text:
        raise InvalidInput(f"Please give a {field}.", field=field)
    if len(text) > max_len:
        raise InvalidInput(f"The {field} is too long (at most {max_len} characters).", field=field)
    if any(unicodedata.category(c) in ("Cc", "Cs") and c not in "\n\r\t" for c in text):
        raise InvalidInput(f"The {field} contains control characters.", field=field)
    return text


def record_audit(
    session: Session,
    *,
    customer_id: int | None,
    entity: str,
    entity_id: int | None,
    field: str,
    old_value: str | None,
    new_value: str | None,
    channel: str,
    actor: str,
) -> AuditLog:
    """Add one audit row to ``session`` (written in the caller's transaction).

    ``channel`` is where the change came from (web, telegram, facebook, api, seed ...) and ``actor`` who made
    it (``customer:42``, ``staff:jdoe``, ``system``). Never put a full account or card number in the values.

    Raises:
        InvalidInput: when channel or actor is empty or too long.
    """
    row = AuditLog(
        customer_id=customer_id,
        entity=entity,
        entity_id=entity_id,
        field=field,
        old_value=old_value,
        new_value=new_value,
        channel=require_text(channel, "channel", 30),
        actor=require_text(actor, "actor", 80),
        created_at=utcnow(),
    )
    session.add(row)
    return row
