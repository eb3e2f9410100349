"""Proactive push (reminders and offers the bank sends first): who may get one, on which channel, and the record
of every attempt. Decisions only; the HTTP call to Rasa is ``api/push.py``'s.

Rules, checked in this order for one customer (the first that fails names the status):

1. **Channel** (``no_channel``): a linked messenger account (``MessengerLink``, telegram or facebook; the
   messenger user id is the Rasa ``sender_id``) reaches the customer whenever; of several links, the one on the
   customer's ``preferred_channel`` (derived by the feed) wins, else the most recently linked. The **web chat**
   (Rasa channel ``socketio``) reaches the customer only while their chat page is open, so it is used only for
   a *live* web conversation: a conversation the feed linked to this verified customer
   (``ConversationLink``, from the signed token the widget sends) in which the customer sent a message on
   ``socketio`` within the last ``WEB_LIVE_MINUTES`` minutes (``ConversationEvent`` user events; the bank's own
   external ``EXTERNAL_*`` events do not count), the most recent such conversation if several. The web chat is
   chosen when the customer has no linked messenger account, or when their ``preferred_channel`` is the web
   chat (``socketio``); otherwise the messenger. Whether the page is still open is only known to Rasa: its
   socket.io channel (``bot/socketio_channel.py``) refuses to send to a conversation no socket is in, which
   ``api/push.py`` reports as ``no_channel``. E-mail/SMS are outside this bot.
2. **Consent** (``no_consent``): an offer is direct marketing: it needs the ``marketing`` consent on that
   channel (the channel's own row, else the ``all`` row, else none: ``profiles.consent.decide_consent``, the
   one place for the rule, which the bot and the recommender use too; the web chat's consent channel is ``web``). A reminder is a service message under the customer's contract (statement ready, card
   expiring, payment due): it needs no marketing consent. (A separate ``service`` opt-out purpose would go in
   ``profiles.consent.CONSENT_PURPOSES``; it does not exist today, so reminders are never ``no_consent``.)
3. **Quiet hours** (``quiet_hours``): nothing is pushed from ``settings.quiet_hours_start`` (inclusive) to
   ``settings.quiet_hours_end`` (exclusive), hours of the local time in the customer's own time zone
   (``customers.time_zone``, IANA; ``customer_timezone``: none stored, or a name zoneinfo does not know, is the
   bank's ``settings.push_timezone``, Europe/Lisbon by default), daylight saving time included; a window
   whose start is after its end runs across midnight (21..8 = 21:00-07:59); start == end = no quiet hours.
   The decision takes ``now`` so that callers and tests can pin the time.
4. **Eligibility** (``not_eligible``, offers only): the bot's own offer gate (``recommender.offers.offer_gate``:
   marketing consent on the channel, products held, age, credit record and band, the cool-off after an
   accept/decline or a recent showing, and at most one offer a day), which this package may not import:
   ``api/push.py`` applies it after an allowed decision and records the refusal here like the other statuses.
   A delivered offer is a ``shown`` offer event (written with its delivery row), so the cool-off and the daily
   cap see pushes as they see the bot's suggestions.

Message templates are a closed set (``REMINDER_TEMPLATES``; offers name a product of ``PRODUCT_IDS``): the bot's
texts are responses in ``domain.yml`` (``utter_push_reminder`` / ``utter_push_offer``), chosen by the slots the
external intent's entities fill, so a campaign can never send free text.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Final
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from profiles.audit import require_text
from profiles.consent import MARKETING, consent_decision
from profiles.customers import load_customer
from profiles.db import get_engine, session_scope
from profiles.errors import InvalidInput
from profiles.models import (
    ConversationEvent,
    ConversationLink,
    Customer,
    Interaction,
    MessengerLink,
    PushDelivery,
    utcnow,
)
from profiles.offers import add_offer_event
from profiles.schemas import PRODUCT_IDS
from profiles.search import SearchQuery, build_search
from profiles.settings import get_settings

log = logging.getLogger(__name__)

PUSH_KINDS: Final = ("reminder", "offer")
PUSH_CHANNELS: Final = ("telegram", "facebook")  # channels that can reach a customer who is not chatting
WEB_CHANNEL: Final = "socketio"  # Rasa's name of the web chat channel (input and output)
WEB_CONSENT_CHANNEL: Final = "web"  # its channel in profiles.consent.CONSENT_CHANNELS
WEB_LIVE_MINUTES: Final = 30  # a web conversation is live if the customer wrote in it this recently (minutes)
EXTERNAL_PREFIX: Final = "EXTERNAL: "  # text of Rasa's external user events (pushes), not the customer's
REMINDER_TEMPLATES: Final = ("statement_ready", "card_expiry", "payment_due", "update_contact")
PUSH_STATUSES: Final = ("delivered", "no_channel", "no_consent", "quiet_hours", "not_eligible", "channel_error",
                         "invalid")
CAMPAIGN_MAX: Final = 80  # PushDelivery.campaign length
AUDIENCE_MAX: Final = 100_000  # customers one campaign may select


@dataclass(frozen=True, slots=True)
class PushMessage:
    """What to push: ``kind`` reminder (``template`` one of ``REMINDER_TEMPLATES``) or offer (``product`` a
    catalogue id of ``PRODUCT_IDS``); ``campaign`` names the campaign (1..80 printable characters)."""

    kind: str
    campaign: str
    template: str | None = None
    product: str | None = None


@dataclass(frozen=True, slots=True)
class PushDecision:
    """Whether one customer may get a push now. ``status`` is ``allowed`` or the refusal (``no_channel``,
    ``no_consent``, ``quiet_hours``) with a ``reason`` for staff; ``channel``/``sender_id`` name the Rasa output
    channel and conversation to use: a linked messenger account (``telegram``/``facebook``) or a live web chat
    conversation (``socketio``), set whenever one exists, also when refused for consent or quiet hours;
    ``first_name`` fills the greeting of the message; ``time_zone`` the customer's zone quiet hours were read in
    (``customer_timezone``; None when not decided by ``decide_push``)."""

    customer_id: int
    status: str
    reason: str
    channel: str | None
    sender_id: str | None
    first_name: str
    time_zone: str | None = None

    @property
    def allowed(self) -> bool:
        """True when the push may be sent now."""
        return self.status == "allowed"


@dataclass(frozen=True, slots=True)
class DeliveryView:
    """One recorded push attempt (a ``PushDelivery`` row)."""

    id: int
    customer_id: int | None
    campaign: str
    channel: str | None
    sender_id: str | None
    status: str
    reason: str | None
    actor: str
    created_at: datetime


def check_message(kind: str, campaign: str, *, template: str | None = None, product: str | None = None) -> PushMessage:
    """Return the checked message: kind/template/product lower-cased and in their closed sets, campaign stripped.

    Raises:
        InvalidInput: (field ``kind``, ``template``, ``product`` or ``campaign``) unknown kind, a reminder
            without a known template, an offer without a known product, or an empty/too long/non-printable
            campaign name.
    """
    k = (kind or "").strip().lower()
    if k not in PUSH_KINDS:
        raise InvalidInput(f"kind must be one of {', '.join(PUSH_KINDS)}.", field="kind")
    name = require_text(campaign, "campaign", CAMPAIGN_MAX)
    if not name.isprintable():
        raise InvalidInput("campaign can only contain printable characters.", field="campaign")
    if k == "reminder":
        t = (template or "").strip().lower()
        if t not in REMINDER_TEMPLATES:
            raise InvalidInput(f"template must be one of {', '.join(REMINDER_TEMPLATES)}.", field="template")
        if product is not None:
            raise InvalidInput("A reminder takes no product.", field="product")
        return PushMessage(kind=k, campaign=name, template=t)
    p = (product or "").strip().lower()
    if p not in PRODUCT_IDS:
        raise InvalidInput(f"product must be one of {', '.join(sorted(PRODUCT_IDS))}.", field="product")
    if template not in (None, "", "product_offer"):
        raise InvalidInput("An offer's template is product_offer (or none).", field="template")
    return PushMessage(kind=k, campaign=name, template="product_offer", product=p)


def push_timezone() -> ZoneInfo:
    """The time zone quiet hours are read in (``settings.push_timezone``).

    Raises:
        InvalidInput: (field ``push_timezone``) not an IANA zone name.
    """
    name = get_settings().push_timezone
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise InvalidInput(f"push_timezone {name!r} is not a time zone name.", field="push_timezone") from None


def customer_timezone(name: str | None) -> ZoneInfo:
    """The zone a customer's quiet hours are read in: their stored IANA name (``customers.time_zone``), or the
    bank's (``push_timezone``) when it is empty or not a zone zoneinfo knows.

    Raises:
        InvalidInput: (field ``push_timezone``) the fallback, the bank's setting, is not a zone.
    """
    if name:
        try:
            return ZoneInfo(name)
        except (ZoneInfoNotFoundError, ValueError):
            log.warning("customer time zone %r unknown: quiet hours in the bank's zone", name[:40])
    return push_timezone()


def in_quiet_hours(now: datetime, start: int | None = None, end: int | None = None, tz: ZoneInfo | None = None) -> bool:
    """True when ``now`` (timezone-aware; a naive value is taken as UTC) falls in the quiet hours: from hour
    ``start`` inclusive to hour ``end`` exclusive of the local time in ``tz`` (defaults: settings'
    ``quiet_hours_start``/``quiet_hours_end``/``push_timezone``). ``start > end`` spans midnight; ``start == end``
    means no quiet hours.

    Raises:
        InvalidInput: (field ``quiet_hours``) an hour outside 0..23.
    """
    settings = get_settings()
    start = settings.quiet_hours_start if start is None else start
    end = settings.quiet_hours_end if end is None else end
    if not (0 <= start <= 23 and 0 <= end <= 23):
        raise InvalidInput("Quiet hours must be hours 0..23.", field="quiet_hours")
    if now.tzinfo is None:
        now = now.replace(tzinfo=UTC)
    hour = now.astimezone(tz or push_timezone()).hour
    if start == end:
        return False
    if start < end:
        return start <= hour < end
    return hour >= start or hour < end


def live_web_conversation(session: Session, customer_id: int, now: datetime) -> tuple[str, datetime] | None:
    """The customer's live web chat conversation at ``now``: (``sender_id``, time of the customer's last message
    in it, UTC) for the linked ``socketio`` conversation with the most recent customer message no older than
    ``WEB_LIVE_MINUTES`` minutes, or None. Only user events count that the feed stored for this customer on the
    ``socketio`` channel in a conversation still linked to them, external (pushed) events excluded."""
    if now.tzinfo is None:
        now = now.replace(tzinfo=UTC)
    cutoff = now - timedelta(minutes=WEB_LIVE_MINUTES)
    last = func.max(ConversationEvent.timestamp).label("last")
    row = session.execute(
        select(ConversationEvent.sender_id, last)
        .join(ConversationLink, ConversationLink.sender_id == ConversationEvent.sender_id)
        .where(ConversationLink.customer_id == customer_id, ConversationEvent.customer_id == customer_id,
               ConversationEvent.channel == WEB_CHANNEL, ConversationEvent.event_type == "user",
               ConversationEvent.timestamp >= cutoff,
               or_(ConversationEvent.text.is_(None), ~ConversationEvent.text.startswith(EXTERNAL_PREFIX)))
        .group_by(ConversationEvent.sender_id)
        .order_by(last.desc(), ConversationEvent.sender_id)
        .limit(1)
    ).first()
    if row is None:
        return None
    at = row.last if row.last.tzinfo is not None else row.last.replace(tzinfo=UTC)
    return str(row.sender_id), at


def decide_push(customer_id: int, kind: str, *, now: datetime | None = None) -> PushDecision:
    """Decide whether ``customer_id`` may get a push of ``kind`` (reminder/offer) at ``now`` (default: the
    current time), and on which channel: a linked messenger account or a live web chat conversation (module
    docstring: channel, consent, quiet hours).

    Raises:
        InvalidInput: (field ``kind``) unknown kind; (``quiet_hours``/``push_timezone``) bad settings.
        NotFound: no such customer.
    """
    k = (kind or "").strip().lower()
    if k not in PUSH_KINDS:
        raise InvalidInput(f"kind must be one of {', '.join(PUSH_KINDS)}.", field="kind")
    moment = now or utcnow()
    with session_scope() as session:
        customer = load_customer(session, customer_id)
        first_name = customer.first_name
        preferred = customer.preferred_channel
        zone = customer_timezone(customer.time_zone)
        links = session.execute(
            select(MessengerLink.channel, MessengerLink.external_id)
            .where(MessengerLink.customer_id == customer_id, MessengerLink.channel.in_(PUSH_CHANNELS))
            .order_by(MessengerLink.linked_at.desc(), MessengerLink.id.desc())
        ).all()
        web = live_web_conversation(session, customer_id, moment)
    if web is not None and (not links or preferred in (WEB_CHANNEL, WEB_CONSENT_CHANNEL)):
        channel, sender_id = WEB_CHANNEL, web[0]
        minutes = max(0, int((moment.replace(tzinfo=moment.tzinfo or UTC) - web[1]).total_seconds() // 60))
        via = f"live web chat conversation (customer's last message {minutes} min ago)"
    elif links:
        channel, sender_id = next(((c, e) for c, e in links if c == preferred), links[0])
        via = f"linked {channel} account"
    else:
        return PushDecision(customer_id, "no_channel",
                            "no linked messenger account (telegram/facebook) and no web chat conversation with a "
                            f"message in the last {WEB_LIVE_MINUTES} min", None, None, first_name)
    if k == "offer":
        consent = consent_decision(customer_id, MARKETING, channel)
        if not consent.granted:
            return PushDecision(customer_id, "no_consent", consent.reason, channel, sender_id, first_name)
    if in_quiet_hours(moment, tz=zone):
        s = get_settings()
        return PushDecision(customer_id, "quiet_hours",
                            f"quiet hours {s.quiet_hours_start:02d}:00-{s.quiet_hours_end:02d}:00 {zone.key}",
                            channel, sender_id, first_name, zone.key)
    return PushDecision(customer_id, "allowed", via, channel, sender_id, first_name, zone.key)


def record_delivery(
    message: PushMessage, customer_id: int | None, status: str, *, actor: str, channel: str | None = None,
    sender_id: str | None = None, reason: str | None = None, text: str | None = None, now: datetime | None = None,
) -> DeliveryView:
    """Write one ``PushDelivery`` row (the outcome of one attempt) and, when ``status`` is ``delivered``, an
    outbound ``campaign_message`` Interaction on the customer's timeline and, for an offer, a ``shown`` offer
    event on the delivery's channel (``profiles.offers``: the cool-off and the daily cap), in one transaction. ``text`` is the
    message as the bot sent it (the Interaction's summary; a generic one without it).

    ``customer_id`` may be None for an attempt refused before a customer was known (``invalid``); ``reason``
    is cut to 200 characters.

    Raises:
        InvalidInput: unknown status (field ``status``), empty actor (``actor``), ``delivered`` without a
            customer, channel or sender id (``status``).
        NotFound: ``delivered`` for a customer that does not exist.
    """
    if status not in PUSH_STATUSES:
        raise InvalidInput(f"status must be one of {', '.join(PUSH_STATUSES)}.", field="status")
    actor = require_text(actor, "actor", 80)
    if status == "delivered" and (customer_id is None or not channel or not sender_id):
        raise InvalidInput("A delivered push needs a customer, a channel and a sender id.", field="status")
    at = now or utcnow()
    with session_scope(write=True) as session:
        if customer_id is not None and session.get(Customer, customer_id) is None:
            if status == "delivered":
                load_customer(session, customer_id)  # raises NotFound
            customer_id = None  # the attempt is still recorded, without a dangling reference
        row = PushDelivery(customer_id=customer_id, campaign=message.campaign, channel=channel,
                           sender_id=sender_id, status=status, reason=(reason or None) and reason[:200],
                           actor=actor, created_at=at)
        session.add(row)
        session.flush()
        if status == "delivered":
            what = message.template if message.kind == "reminder" else message.product
            session.add(Interaction(
                customer_id=customer_id, kind="campaign_message", channel=channel, direction="outbound",
                summary=(text or f"{message.kind} {what} (campaign {message.campaign})")[:2000],
                sender_id=sender_id,
                actor=actor, occurred_at=at,
                details={"campaign": message.campaign, "push_kind": message.kind, "template": message.template,
                         "product": message.product, "delivery_id": row.id},
            ))
            if message.kind == "offer" and message.product is not None:
                assert customer_id is not None and channel is not None  # checked above for delivered
                add_offer_event(session, customer_id, message.product, "shown", channel=channel, now=at,
                                timeline=False)
        view = _delivery_view(row)
    log.info("push %s to customer %s via %s: %s", message.campaign, customer_id, channel, status)
    return view


def _delivery_view(row: PushDelivery) -> DeliveryView:
    return DeliveryView(id=row.id, customer_id=row.customer_id, campaign=row.campaign, channel=row.channel,
                        sender_id=row.sender_id, status=row.status, reason=row.reason, actor=row.actor,
                        created_at=row.created_at)


def list_deliveries(*, campaign: str | None = None, customer_id: int | None = None,
                    limit: int = 100) -> list[DeliveryView]:
    """Recorded push attempts, newest first, optionally of one campaign and/or one customer; ``limit`` 1..1000.

    Raises:
        InvalidInput: limit out of range (field ``limit``).
    """
    if not 1 <= limit <= 1000:
        raise InvalidInput("limit must be between 1 and 1000.", field="limit")
    stmt = select(PushDelivery).order_by(PushDelivery.created_at.desc(), PushDelivery.id.desc()).limit(limit)
    if campaign is not None:
        stmt = stmt.where(PushDelivery.campaign == campaign)
    if customer_id is not None:
        stmt = stmt.where(PushDelivery.customer_id == customer_id)
    with session_scope() as session:
        return [_delivery_view(r) for r in session.scalars(stmt)]


def select_audience(query: SearchQuery, *, limit: int = AUDIENCE_MAX) -> list[int]:
    """Customer ids matching a search ``query`` (segment, score ranges ... as ``profiles.search``), in id order,
    at most ``limit`` (1..``AUDIENCE_MAX``). An empty query is refused: a campaign never targets everyone by
    accident.

    Raises:
        InvalidInput: no filter given (field ``segment``), bad filter value (its field), bad limit (``limit``).
    """
    if not 1 <= limit <= AUDIENCE_MAX:
        raise InvalidInput(f"limit must be between 1 and {AUDIENCE_MAX}.", field="limit")
    if not query.used_filters():
        raise InvalidInput("Choose the audience: a segment or another filter.", field="segment")
    stmt = build_search(query, dialect=get_engine().dialect.name).with_only_columns(Customer.id).limit(limit)
    with session_scope() as session:
        return list(session.scalars(stmt))
