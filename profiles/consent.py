"""Consent per purpose and channel: the one place that records and answers it.

A consent row is (purpose, channel) -> granted, with the time it was recorded (``updated_at``, UTC) and where
(``source``: seed, web, telegram, staff_api ...). The decision (:func:`decide_consent`, the one rule every
caller uses: chat offers, the recommender, push, campaigns, the API) for purpose P on channel C is:

1. the (P, C) row if one is recorded: a per-channel choice overrides ``all``, in both directions
   ("all" granted + Telegram withdrawn = no marketing on Telegram; "all" withdrawn + Telegram granted =
   marketing on Telegram only);
2. else the (P, ``all``) row;
3. else no consent (nothing recorded is a no).

Callers name the channel as Rasa does (``socketio``, ``rest``, ``telegram``, ``facebook``) or as here;
:func:`consent_channel` maps it. The same rule as SQL, for queries over many customers (a campaign's
audience), is :func:`consent_granted_sql`. ``Customer.marketing_consent`` is derived: it mirrors the (marketing, all)
row, kept in step here in the same transaction, for segment queries and the analyses only; no decision reads it.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Final

from sqlalchemy import Boolean, SQLColumnExpression, false, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session
from sqlalchemy.orm.exc import StaleDataError
from sqlalchemy.sql.elements import ColumnElement

from profiles.audit import record_audit, require_text
from profiles.customers import load_customer
from profiles.db import session_scope
from profiles.errors import Conflict, InvalidInput
from profiles.models import Consent, Customer, Interaction, utcnow

log = logging.getLogger(__name__)

MARKETING = "marketing"
ALL_CHANNELS = "all"
# Purposes (GDPR lawful-basis vocabulary): direct marketing, profiling for personalised offers (the analyses),
# sharing with partners (e.g. insurers).
CONSENT_PURPOSES: Final = ("marketing", "profiling", "third_party_sharing")
# Channels a consent can be limited to; "all" covers every one.
CONSENT_CHANNELS: Final = ("all", "email", "sms", "phone", "post", "web", "telegram", "facebook", "push")


@dataclass(frozen=True, slots=True)
class ConsentView:
    """One recorded consent: ``granted`` for ``purpose`` on ``channel`` (``all`` = every channel), recorded at
    ``updated_at`` (UTC) from ``source`` (where it was given: seed, web, telegram, staff_api ...)."""

    purpose: str
    channel: str
    granted: bool
    source: str
    updated_at: datetime


def consent_view(row: Consent) -> ConsentView:
    """The plain view of a consent row."""
    return ConsentView(purpose=row.purpose, channel=row.channel, granted=row.granted, source=row.source,
                       updated_at=row.updated_at)


def load_consents(session: Session, customer_id: int) -> list[ConsentView]:
    """The customer's consent rows ordered by purpose then channel (no customer check)."""
    rows = session.scalars(
        select(Consent).where(Consent.customer_id == customer_id).order_by(Consent.purpose, Consent.channel)
    )
    return [consent_view(r) for r in rows]


def list_consents(customer_id: int) -> list[ConsentView]:
    """Every consent recorded for the customer (purposes never recorded are absent: no consent).

    Raises:
        NotFound: no such customer.
    """
    with session_scope() as session:
        load_customer(session, customer_id)
        return load_consents(session, customer_id)


def check_purpose_channel(purpose: str, channel: str) -> tuple[str, str]:
    """Return (purpose, channel) lower-cased and checked against ``CONSENT_PURPOSES`` / ``CONSENT_CHANNELS``.

    Raises:
        InvalidInput: (field ``purpose`` or ``channel``) not a known value.
    """
    p = (purpose or "").strip().lower()
    c = (channel or "").strip().lower()
    if p not in CONSENT_PURPOSES:
        raise InvalidInput(f"purpose must be one of {', '.join(CONSENT_PURPOSES)}.", field="purpose")
    if c not in CONSENT_CHANNELS:
        raise InvalidInput(f"channel must be one of {', '.join(CONSENT_CHANNELS)}.", field="channel")
    return p, c


#: Rasa input/output channel names -> consent channels (the REST webhook and the socket.io widget are the web).
_RASA_CHANNELS: Final = {"socketio": "web", "rest": "web"}


def consent_channel(channel: str | None) -> str:
    """The consent channel (``CONSENT_CHANNELS``) of a channel as Rasa or a caller names it: ``socketio`` and
    ``rest`` -> ``web``; a consent channel (``telegram``, ``facebook``, ``web`` ...) itself; anything else (no
    channel, ``cmdline``) -> ``all`` (only the customer-wide row decides)."""
    c = (channel or "").strip().lower()
    c = _RASA_CHANNELS.get(c, c)
    return c if c in CONSENT_CHANNELS else ALL_CHANNELS


@dataclass(frozen=True, slots=True)
class ConsentDecision:
    """The consent in force for ``purpose`` on ``channel``: ``granted``, decided by the row of channel
    ``decided_by`` (``channel`` itself or ``all``; None: nothing recorded, no consent) recorded at
    ``recorded_at`` (UTC; None when nothing is recorded)."""

    purpose: str
    channel: str
    granted: bool
    decided_by: str | None
    recorded_at: datetime | None

    @property
    def reason(self) -> str:
        """Why, for staff: e.g. ``no marketing consent on telegram``."""
        return f"{'' if self.granted else 'no '}{self.purpose} consent on {self.channel}"


def decide_consent(session: Session, customer_id: int, purpose: str, channel: str | None) -> ConsentDecision:
    """The one consent rule (module docstring), in the caller's session; no customer check (an unknown
    customer has no consent). ``channel`` goes through :func:`consent_channel`.

    Raises:
        InvalidInput: unknown purpose.
    """
    purpose, channel = check_purpose_channel(purpose, consent_channel(channel))
    rows = {r.channel: r for r in session.scalars(
        select(Consent).where(Consent.customer_id == customer_id, Consent.purpose == purpose,
                              Consent.channel.in_({channel, ALL_CHANNELS})))}
    row = rows.get(channel) or rows.get(ALL_CHANNELS)
    if row is None:
        return ConsentDecision(purpose, channel, False, None, None)
    at = row.updated_at if row.updated_at is None or row.updated_at.tzinfo else row.updated_at.replace(tzinfo=UTC)
    return ConsentDecision(purpose, channel, row.granted, row.channel, at)


def consent_granted_sql(customer_id: SQLColumnExpression[int] | int, purpose: str, channel: str | None) -> ColumnElement[bool]:
    """:func:`decide_consent`'s ``granted`` as a SQL boolean, for queries over many customers (a campaign's
    audience): for ``customer_id`` an int or a column (``Customer.id``), ``COALESCE((P, C) row, (P, all) row,
    false)`` — the same rule, row for row (tested to agree on every combination). ``channel`` goes through
    :func:`consent_channel`.

    Raises:
        InvalidInput: unknown purpose.
    """
    purpose, channel = check_purpose_channel(purpose, consent_channel(channel))

    def recorded(on: str) -> ColumnElement[bool]:
        return select(Consent.granted).where(Consent.customer_id == customer_id, Consent.purpose == purpose,
                                             Consent.channel == on).scalar_subquery()

    rows = [recorded(channel)] if channel == ALL_CHANNELS else [recorded(channel), recorded(ALL_CHANNELS)]
    return func.coalesce(*rows, false(), type_=Boolean)


def consent_decision(customer_id: int, purpose: str, channel: str | None = ALL_CHANNELS) -> ConsentDecision:
    """:func:`decide_consent` in its own read-only session, for an existing customer.

    Raises:
        InvalidInput: unknown purpose.
        NotFound: no such customer.
    """
    with session_scope() as session:
        load_customer(session, customer_id)
        return decide_consent(session, customer_id, purpose, channel)


def has_consent(customer_id: int, purpose: str, channel: str | None = ALL_CHANNELS) -> bool:
    """True when the customer has granted ``purpose`` on ``channel`` (:func:`decide_consent`).

    Raises:
        InvalidInput: unknown purpose.
        NotFound: no such customer.
    """
    return consent_decision(customer_id, purpose, channel).granted


def has_marketing_consent(customer_id: int, channel: str | None = ALL_CHANNELS) -> bool:
    """True when offers may be shown or sent to the customer on ``channel`` (default ``all``: the
    customer-wide choice) — :func:`has_consent` for marketing.

    Raises:
        NotFound: no such customer.
    """
    return has_consent(customer_id, MARKETING, channel)


def apply_consent(
    session: Session, customer: Customer, purpose: str, channel: str, granted: bool, *, source: str, actor: str,
    timeline: bool = False, reconfirm: bool = False,
) -> ConsentView | None:
    """Record one consent in the caller's transaction (row created if missing, audited, the customer's
    ``marketing_consent`` flag kept in step for marketing/all). Returns None when the state in force already
    equals ``granted`` (nothing written), unless ``reconfirm``: then the recorded choice is re-confirmed (new
    ``updated_at`` and ``source``, and an audit row with old == new, the evidence of the re-confirmation).
    ``timeline=True`` also adds an internal ``consent`` Interaction.

    ``purpose``/``channel`` must be checked already (``check_purpose_channel``); ``source`` is both the row's
    source and the audit channel.
    """
    row = session.scalars(
        select(Consent).where(Consent.customer_id == customer.id, Consent.purpose == purpose,
                              Consent.channel == channel)
    ).one_or_none()
    mirrored = purpose == MARKETING and channel == ALL_CHANNELS
    old = row.granted if row is not None else (customer.marketing_consent if mirrored else None)
    unchanged = row is not None and old == granted and (not mirrored or customer.marketing_consent == granted)
    if unchanged and not reconfirm:
        return None
    now = utcnow()
    if row is None:
        row = Consent(customer_id=customer.id, purpose=purpose, channel=channel)
        session.add(row)
    row.granted = granted
    row.source = source
    row.updated_at = now
    if mirrored:
        customer.marketing_consent = granted
    record_audit(
        session,
        customer_id=customer.id,
        entity="consent",
        entity_id=None,
        field=purpose if channel == ALL_CHANNELS else f"{purpose}:{channel}",
        old_value=None if old is None else str(old).lower(),
        new_value=str(granted).lower(),
        channel=source,
        actor=actor,
    )
    if timeline:
        session.add(Interaction(
            customer_id=customer.id, kind="consent", channel=source, direction="internal",
            summary=f"{purpose} consent ({channel}) {'granted' if granted else 'withdrawn'}"
                    f"{' (re-confirmed)' if unchanged else ''}", actor=actor,
            details={"purpose": purpose, "channel": channel, "granted": granted}, occurred_at=now,
        ))
    session.flush()
    return consent_view(row)


def set_consent(
    customer_id: int, purpose: str, channel: str, granted: bool, *, source: str, actor: str,
    expected_version: int | None = None,
) -> ConsentView:
    """Record the customer's choice for one purpose on one channel; returns the consent now in force.

    One transaction: the consent row (created if missing, timestamped now, ``source`` kept), an audit row
    (field ``purpose`` or ``purpose:channel``, old/new ``true``/``false``), an internal ``consent`` timeline
    item, and for marketing/all the customer's ``marketing_consent`` flag. Setting the state already in force
    re-confirms it: the row gets the new time and source and the audit row has old == new (the evidence that
    the customer confirmed their choice again). ``expected_version`` (the profile version the caller read) makes it an optimistic-locked
    write: a different current version raises Conflict. A change moves the profile's version on (consent is
    part of the 360 the caller read). Writers of one customer's consents are serialised (row lock).

    Raises:
        InvalidInput: unknown purpose/channel, empty or non-printable source, empty actor (``.field`` names it).
        NotFound: no such customer.
        Conflict: ``expected_version`` is stale, or the profile changed concurrently; retrying is safe.
    """
    purpose, channel = check_purpose_channel(purpose, channel)
    source = require_text(source, "source", 30)
    if not source.isprintable():
        raise InvalidInput("source can only contain printable characters.", field="source")
    actor = require_text(actor, "actor", 80)
    wanted = bool(granted)
    try:
        with session_scope(write=True) as session:
            customer = load_customer(session, customer_id, lock=True)  # one consent writer per customer
            if expected_version is not None and customer.version != expected_version:
                raise Conflict(f"The profile changed since you read it (version {customer.version} now, "
                               f"{expected_version} read); read it again.",
                               detail=f"customer {customer_id} is at version {customer.version}, "
                                      f"not {expected_version}")
            view = apply_consent(session, customer, purpose, channel, wanted, source=source, actor=actor,
                                 timeline=True, reconfirm=True)
            assert view is not None  # reconfirm: always written
            customer.updated_at = utcnow()  # the consents in the 360 changed: the profile version moves on
    except (StaleDataError, IntegrityError):
        raise Conflict("The profile was changed by someone else at the same moment; read it again.",
                       detail=f"customer {customer_id} changed concurrently") from None
    log.info("customer %s consent %s/%s -> %s via %s", customer_id, purpose, channel, wanted, source)
    return view


def set_marketing_consent(customer_id: int, opted_in: bool, *, channel: str, actor: str,
                          only_this_channel: bool = False) -> bool:
    """Record the customer's marketing choice (all channels); returns the state now in force.

    ``only_this_channel``: the choice is for ``channel`` alone (its consent channel, ``consent_channel``):
    "stop" said in answer to a campaign message on Telegram withdraws marketing on Telegram, and the one rule
    (a per-channel row overrides ``all``) makes every later send on Telegram ``no_consent``. A channel with no
    consent channel of its own (``cmdline``, unknown) falls back to all channels.

    Updates the consent row (created if missing), the customer's ``marketing_consent`` flag and writes an
    audit row, in one transaction. Setting the state already in force writes nothing: a repeat in the chat
    ("stop the offers" said twice) is not a new choice, so the bot keeps this behaviour; the staff path
    (``set_consent``) records re-confirmations. ``channel`` is where the choice was made (it becomes
    the row's source).

    Raises:
        InvalidInput: empty channel/actor.
        NotFound: no such customer.
        Conflict: the profile was changed concurrently; retrying is safe.
    """
    channel = require_text(channel, "channel", 30)
    actor = require_text(actor, "actor", 80)
    wanted = bool(opted_in)
    try:
        with session_scope(write=True) as session:
            customer = load_customer(session, customer_id)
            target = consent_channel(channel) if only_this_channel else ALL_CHANNELS
            apply_consent(session, customer, MARKETING, target, wanted, source=channel, actor=actor)
    except (StaleDataError, IntegrityError):
        raise Conflict(detail=f"customer {customer_id} changed concurrently") from None
    log.info("customer %s marketing consent%s -> %s via %s", customer_id,
             " (this channel)" if only_this_channel else "", wanted, channel)
    return wanted
