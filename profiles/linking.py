"""Messenger account linking: a verified customer gets a one-time code, redeems it on Telegram or Messenger.

Flow: in the logged-in web chat (identity from the signed token) the customer asks to link a messenger;
``issue_link_code`` gives a short code such as ``7KQ2-9XPA``; on the messenger the customer sends it
(``link 7KQ2-9XPA``); ``redeem_link_code`` ties the messenger account (channel + the messenger's user id,
which is Rasa's ``sender_id`` there) to the customer. From then on ``linked_customer`` is the identity of that
messenger conversation. ``unlink`` undoes it.

Rules:
- codes: 8 characters from an alphabet without look-alikes (no 0/O, 1/I/L), at least one digit and one letter,
  shown as ``XXXX-XXXX``; typed case-, space- and hyphen-insensitively; only their SHA-256 is stored;
  they expire after ``settings.link_code_ttl_minutes`` and are spent once; a new code replaces the customer's
  unused ones.
- rate limits, each over ``ATTEMPT_WINDOW``: at most ``MAX_FAILED_ATTEMPTS`` wrong codes per messenger
  account (channel + external id); at most ``MAX_FAILED_PER_CODE`` failed attempts with one code value from
  any accounts (many accounts trying one code); at most ``MAX_FAILED_GLOBAL`` failed attempts in all (many
  accounts guessing many codes). Beyond any of them attempts are refused (``NotAllowed``) until the window
  has passed, even with a right code. Failed attempts are audit rows (``entity="messenger_link"``,
  ``field="link_code_rejected"``, ``old_value`` a SHA-256 prefix of the typed code, never the code), so the
  limits hold across processes and restarts.
- every change (code issued, account linked, unlinked) writes an audit row.
"""

from __future__ import annotations

import hashlib
import logging
import re
import secrets
from contextlib import suppress
from datetime import timedelta
from typing import Final

from sqlalchemy import delete, func, select, update
from sqlalchemy.orm import Session

from profiles.audit import record_audit, require_text
from profiles.customers import load_customer
from profiles.db import session_scope
from profiles.errors import InvalidInput, NotAllowed, NotFound, ProfileError
from profiles.models import AuditLog, LinkCode, MessengerLink, utcnow
from profiles.settings import get_settings

log = logging.getLogger(__name__)

#: Input channels (Rasa's channel names) whose accounts can be linked.
MESSENGER_CHANNELS: Final = ("telegram", "facebook")
#: Code alphabet: digits and capitals without 0, O, 1, I, L (31 symbols; 8 of them ~ 8.5e11 codes).
CODE_ALPHABET: Final = "23456789ABCDEFGHJKMNPQRSTUVWXYZ"
CODE_LENGTH: Final = 8
MAX_FAILED_ATTEMPTS: Final = 5
MAX_FAILED_PER_CODE: Final = 5
#: ~400 guesses an hour at most over all accounts: finding one live code among 8.5e11 stays out of reach.
MAX_FAILED_GLOBAL = 100
ATTEMPT_WINDOW: Final = timedelta(minutes=15)
REJECTED_FIELD: Final = "link_code_rejected"
ENTITY: Final = "messenger_link"

#: A code as a customer may type it (any case, optional hyphen or space in the middle).
CODE_PATTERN: Final = re.compile(
    rf"(?<![0-9A-Za-z])([{CODE_ALPHABET}]{{4}})[\s-]?([{CODE_ALPHABET}]{{4}})(?![0-9A-Za-z])", re.IGNORECASE
)


def format_code(code: str) -> str:
    """``7KQ29XPA`` -> ``7KQ2-9XPA`` (how a code is shown)."""
    return f"{code[:4]}-{code[4:]}"


def normalise_code(code: str | None) -> str:
    """The canonical 8-character form of a typed code (upper case, separators removed).

    Raises:
        InvalidInput: (field ``code``) when it is not 8 symbols of ``CODE_ALPHABET``.
    """
    text = re.sub(r"[\s-]", "", code or "").upper()
    if len(text) != CODE_LENGTH or any(ch not in CODE_ALPHABET for ch in text):
        raise InvalidInput(
            "That doesn't look like a link code: it has 8 letters and digits, like 7KQ2-9XPA.", field="code"
        )
    return text


def find_code(text: str | None) -> str | None:
    """The first link code inside a message such as ``link 7kq2-9xpa``, canonical, or None."""
    match = CODE_PATTERN.search(text or "")
    return (match.group(1) + match.group(2)).upper() if match else None


def _hash(code: str) -> str:
    return hashlib.sha256(code.encode("ascii")).hexdigest()


def _new_code() -> str:
    while True:
        code = "".join(secrets.choice(CODE_ALPHABET) for _ in range(CODE_LENGTH))
        # at least one digit (a bare code is then never an ordinary word) and one letter (never a number)
        if any(ch.isdigit() for ch in code) and any(ch.isalpha() for ch in code):
            return code


def _channel(channel: str | None) -> str:
    value = (channel or "").strip().lower()
    if value not in MESSENGER_CHANNELS:
        raise InvalidInput(f"channel must be one of {', '.join(MESSENGER_CHANNELS)}.", field="channel")
    return value


def _external_id(external_id: str | int | None) -> str:
    return require_text(None if external_id is None else str(external_id), "external_id", 128)


def issue_link_code(customer_id: int, *, channel: str = "web") -> str:
    """A new one-time link code for ``customer_id`` (shown as ``XXXX-XXXX``), valid for
    ``settings.link_code_ttl_minutes`` minutes. The customer's earlier unused codes stop working.

    ``customer_id`` must come from a verified identity (the signed web token). ``channel`` is where the code
    was asked for (audit). Only the code's SHA-256 is stored.

    Raises:
        NotFound: no such customer.
        InvalidInput: channel empty or too long.
    """
    channel = require_text(channel, "channel", 30)
    ttl = timedelta(minutes=get_settings().link_code_ttl_minutes)
    with session_scope(write=True) as session:
        load_customer(session, customer_id, lock=True)
        now = utcnow()
        session.execute(
            delete(LinkCode).where(LinkCode.customer_id == customer_id, LinkCode.used_at.is_(None))
        )
        while True:
            code = _new_code()
            if session.scalar(select(LinkCode.id).where(LinkCode.code_hash == _hash(code))) is None:
                break
        row = LinkCode(customer_id=customer_id, code_hash=_hash(code), expires_at=now + ttl, created_at=now)
        session.add(row)
        session.flush()
        record_audit(
            session, customer_id=customer_id, entity="link_code", entity_id=row.id, field="issued",
            old_value=None, new_value=f"expires {row.expires_at.isoformat(timespec='seconds')}",
            channel=channel, actor=f"customer:{customer_id}",
        )
    return format_code(code)


def failed_attempts(channel: str, external_id: str | int) -> int:
    """Wrong codes sent from this messenger account within ``ATTEMPT_WINDOW`` (for the rate limit)."""
    channel, external = _channel(channel), _external_id(external_id)
    with session_scope() as session:
        return _failures(session, channel, external)


def _failures(session: Session, channel: str, external: str) -> int:
    since = utcnow() - ATTEMPT_WINDOW
    return int(session.scalar(
        select(func.count()).select_from(AuditLog).where(
            AuditLog.entity == ENTITY, AuditLog.field == REJECTED_FIELD, AuditLog.channel == channel,
            AuditLog.actor == _actor(channel, external), AuditLog.created_at >= since,
        )
    ) or 0)


def _code_tag(canonical: str) -> str:
    """What a rejected attempt records of the typed code: a SHA-256 prefix (the per-code limit's key)."""
    return "code:" + _hash(canonical)[:16]


def _recent_rejections(session: Session, **where: str) -> int:
    since = utcnow() - ATTEMPT_WINDOW
    query = select(func.count()).select_from(AuditLog).where(
        AuditLog.entity == ENTITY, AuditLog.field == REJECTED_FIELD, AuditLog.created_at >= since)
    for column, value in where.items():
        query = query.where(getattr(AuditLog, column) == value)
    return int(session.scalar(query) or 0)


def _actor(channel: str, external: str) -> str:
    return f"{channel}:{external}"[:80]


def redeem_link_code(channel: str, external_id: str | int, code: str | None) -> int:
    """Link the messenger account (``channel``, ``external_id``) to the customer who was issued ``code``;
    return that customer's id. The code is spent (``used_at``, ``used_by="<channel>:<external_id>"``).

    Linking again to the same customer is harmless (the link is kept); a messenger account already linked
    to another customer is moved to the code's customer (whoever holds a fresh code proved they are that
    customer; the old link is audited as replaced).

    Raises:
        InvalidInput: channel not one of ``MESSENGER_CHANNELS``, empty external id, or a code that is not
            8 symbols of the alphabet (field ``code``; counts as a failed attempt).
        NotFound: unknown code, or one already replaced by a newer code (counts as a failed attempt).
        NotAllowed: code expired or already used (counts as a failed attempt), or too many failed attempts
            in the last ``ATTEMPT_WINDOW`` from this messenger account, with this code, or in all (checked
            first; see the module docstring).
    """
    channel, external = _channel(channel), _external_id(external_id)
    actor = _actor(channel, external)
    error: ProfileError | None = None
    customer_id: int | None = None
    with session_scope(write=True) as session:
        minutes = int(ATTEMPT_WINDOW.total_seconds() // 60)
        if _failures(session, channel, external) >= MAX_FAILED_ATTEMPTS:
            raise NotAllowed(
                f"Too many wrong codes. Please wait {minutes} minutes, then ask for a new code in online banking.",
                detail=f"link attempts rate-limited for {actor}",
            )
        tag = None
        with suppress(InvalidInput):
            tag = _code_tag(normalise_code(code))
        per_code = tag is not None and _recent_rejections(session, old_value=tag) >= MAX_FAILED_PER_CODE
        if per_code or _recent_rejections(session) >= MAX_FAILED_GLOBAL:
            log.warning("link code attempts paused (%s limit reached)", "per-code" if per_code else "global")
            raise NotAllowed(
                f"Linking is paused for safety after many wrong codes. Please try again in {minutes} minutes "
                "with a new code from online banking.",
                detail="link attempts rate-limited (per code or globally)",
            )
        now = utcnow()
        try:
            canonical = normalise_code(code)
            row = session.scalars(
                select(LinkCode).where(LinkCode.code_hash == _hash(canonical)).with_for_update()
            ).one_or_none()
            if row is None:
                raise NotFound("That code is not valid. Please check it, or ask for a new one in online banking.")
            if row.used_at is not None:
                raise NotAllowed("That code has already been used. Please ask for a new one in online banking.")
            if row.expires_at <= now:
                raise NotAllowed("That code has expired. Please ask for a new one in online banking.")
            # Spend it atomically: of two simultaneous redemptions only one updates the row.
            spent = session.execute(
                update(LinkCode).where(LinkCode.id == row.id, LinkCode.used_at.is_(None))
                .values(used_at=now, used_by=actor)
            )
            if getattr(spent, "rowcount", 1) != 1:
                raise NotAllowed("That code has already been used. Please ask for a new one in online banking.")
        except (InvalidInput, NotFound, NotAllowed) as exc:
            error = exc
            record_audit(
                session, customer_id=None, entity=ENTITY, entity_id=None, field=REJECTED_FIELD,
                old_value=tag, new_value=type(exc).__name__, channel=channel, actor=actor,
            )
        else:
            customer_id = row.customer_id
            link = session.scalars(
                select(MessengerLink).where(MessengerLink.channel == channel, MessengerLink.external_id == external)
                .with_for_update()
            ).one_or_none()
            if link is None:
                link = MessengerLink(customer_id=customer_id, channel=channel, external_id=external, linked_at=now)
                session.add(link)
                old = None
            else:
                old = f"customer {link.customer_id}"
                if link.customer_id != customer_id:
                    record_audit(
                        session, customer_id=link.customer_id, entity=ENTITY, entity_id=link.id, field="unlinked",
                        old_value=actor, new_value=f"replaced by customer {customer_id}", channel=channel,
                        actor=actor,
                    )
                link.customer_id, link.linked_at = customer_id, now
            session.flush()
            record_audit(
                session, customer_id=customer_id, entity=ENTITY, entity_id=link.id, field="linked",
                old_value=old, new_value=actor, channel=channel, actor=actor,
            )
    if error is not None:
        log.info("link code rejected for %s: %s", actor, type(error).__name__)
        raise error
    assert customer_id is not None
    return customer_id


def linked_customer(channel: str, external_id: str | int) -> int | None:
    """The customer linked to this messenger account, or None (also for a channel that cannot be linked)."""
    if (channel or "").strip().lower() not in MESSENGER_CHANNELS or not str(external_id or "").strip():
        return None
    with session_scope() as session:
        return session.scalar(
            select(MessengerLink.customer_id).where(
                MessengerLink.channel == channel.strip().lower(),
                MessengerLink.external_id == str(external_id).strip(),
            )
        )


def unlink(channel: str, external_id: str | int) -> int:
    """Remove the link of this messenger account; return the customer id it was linked to.

    Raises:
        InvalidInput: channel not one of ``MESSENGER_CHANNELS`` or empty external id.
        NotFound: the account is not linked.
    """
    channel, external = _channel(channel), _external_id(external_id)
    with session_scope(write=True) as session:
        link = session.scalars(
            select(MessengerLink).where(MessengerLink.channel == channel, MessengerLink.external_id == external)
            .with_for_update()
        ).one_or_none()
        if link is None:
            raise NotFound("This account is not linked to online banking.")
        customer_id = link.customer_id
        record_audit(
            session, customer_id=customer_id, entity=ENTITY, entity_id=link.id, field="unlinked",
            old_value=_actor(channel, external), new_value=None, channel=channel, actor=_actor(channel, external),
        )
        session.delete(link)
    return customer_id
