"""Data-subject rights: export everything held on one customer, and erase it (GDPR art. 15, 17 and 20).

``export_customer`` returns a JSON-able dict with one list of rows per table that references the customer:
profile, consents, accounts, transactions, transfers, payees, cards, loans, insurance policies, contact points,
interactions, conversation links, conversation events (the transcript store), the staff console's reviews,
tags and notes of those conversations, scores, offer events, push
deliveries, messenger link codes and linked messenger accounts, hand-off requests, audit rows about them and the
staff reads of their record (access log). Values: datetimes ISO 8601 UTC, money as decimal strings (EUR), JSON
columns as they are. Account, IBAN and card numbers are masked (last 4 digits, ``profiles.masking``): the one
masking rule holds for exports too.

``erase_customer`` deletes all of it in one transaction (the customer row locked first, so nothing new can
be linked to them meanwhile) and writes one audit row recording that the erasure happened: customer_id NULL,
entity ``customer``, entity_id = the erased id, field ``erasure``, new_value = row counts only (no personal
data). It returns the Rasa ``sender_id`` of every conversation that ever carried the customer's identity (feed
links, linked messenger accounts, and any conversation with a user message whose identity claim (the channel's
stand-in for the token) named them, expired or not: the feed records that subject,
``profiles.identity.claim_subject``; events not consumed yet are searched in the broker's table), so the caller can erase those conversations from Rasa's tracker store
(``api/rasa_client.py``); ``erase_broker_events`` removes any of their events the feed has not consumed yet from
the embedded SQL event broker's table. The access log is kept (it records staff reads, not customer data, and
must outlive the erasure). ``compact_after_erasure`` then VACUUMs the SQLite files (CRM, events) and truncates
their WAL, so the erased values are not left in free pages or WAL frames.

The erasure itself is recorded without personal data (``profiles.models.Erasure``: customer id, seed source row,
actor, when; one ``ErasureConversation`` per sender id) in the same transaction as the deletion: the seed never
re-imports an erased source row, and the tracker-store conversations can be retried until all are gone
(``record_conversation_outcomes``, ``list_erasures``, ``get_erasure``).
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import Any, Final

from sqlalchemy import (
    Column,
    ColumnElement,
    Engine,
    MetaData,
    Table,
    and_,
    delete,
    false,
    inspect,
    or_,
    select,
)
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from profiles.audit import record_audit, require_text
from profiles.campaigns.models import CampaignDelivery
from profiles.customers import load_customer
from profiles.db import get_engine, new_engine, session_scope
from profiles.errors import NotFound
from profiles.feed.translate import TOKEN_SUBJECT_KEY
from profiles.identity import CLAIM_KEY, TOKEN_KEY, claim_subject, token_subject
from profiles.masking import mask_number
from profiles.models import (
    AccessLog,
    Account,
    AuditLog,
    Base,
    Card,
    CardPayment,
    Consent,
    ContactPoint,
    ConversationEvent,
    ConversationLink,
    ConversationNote,
    ConversationReview,
    ConversationTag,
    Customer,
    CustomerScore,
    Erasure,
    ErasureConversation,
    HandoffRequest,
    InsurancePolicy,
    Interaction,
    LinkCode,
    Loan,
    MessengerLink,
    NluAnnotation,
    OfferEvent,
    Payee,
    PushDelivery,
    Transaction,
    Transfer,
    utcnow,
)
from profiles.settings import get_settings

log = logging.getLogger(__name__)

EXPORT_FORMAT: Final = "atlantic-bank-customer-export/1"
# Columns holding account, IBAN or card numbers: exported masked.
_MASKED: Final = {("accounts", "number"), ("payees", "iban"), ("cards", "number")}
COMPACT_ATTEMPTS: Final = 10
COMPACT_BUSY_MS: Final = 5_000


@dataclass(frozen=True, slots=True)
class ErasureResult:
    """What ``erase_customer`` removed: rows per table, and the conversations (Rasa sender ids) that were
    linked to the customer (the caller erases them from the tracker store)."""

    customer_id: int
    deleted: dict[str, int]
    sender_ids: tuple[str, ...]
    audit_id: int
    erasure_id: int


@dataclass(frozen=True, slots=True)
class ConversationStatus:
    """One conversation of an erasure: ``erased_at`` (UTC) once gone from the tracker store, else
    ``last_error`` of the last attempt (None before any attempt)."""

    sender_id: str
    erased_at: datetime | None
    last_error: str | None


@dataclass(frozen=True, slots=True)
class ErasureView:
    """An erasure record (no personal data): ``completed_at`` (UTC) is set once every conversation is erased."""

    id: int
    customer_id: int
    actor: str
    requested_at: datetime
    completed_at: datetime | None
    conversations: tuple[ConversationStatus, ...]

    @property
    def pending(self) -> tuple[str, ...]:
        """Sender ids still to erase from the tracker store."""
        return tuple(c.sender_id for c in self.conversations if c.erased_at is None)


def _value(table: str, column: str, value: Any) -> Any:
    if value is None:
        return None
    if (table, column) in _MASKED:
        return mask_number(str(value))
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    return value


def _row(obj: Base) -> dict[str, Any]:
    table = obj.__table__
    assert isinstance(table, Table)
    return {c.name: _value(table.name, c.name, getattr(obj, c.key)) for c in table.columns}


def _senders(session: Session, customer_id: int, extra: Iterable[str] = ()) -> list[str]:
    """Every conversation (Rasa sender id) that ever carried the customer's identity: those the feed linked to
    them, their linked messenger accounts (a messenger's user id is the conversation's sender id), those with a
    stored user event whose token named them, expired or not (``TOKEN_SUBJECT_KEY``, set by the feed), and
    ``extra`` (found in the event broker's table: ``broker_senders``)."""
    linked = session.scalars(select(ConversationLink.sender_id).where(ConversationLink.customer_id == customer_id))
    messengers = session.scalars(select(MessengerLink.external_id).where(MessengerLink.customer_id == customer_id))
    named = session.scalars(select(ConversationEvent.sender_id).distinct().where(
        ConversationEvent.event_type == "user",
        ConversationEvent.data[TOKEN_SUBJECT_KEY].as_string() == str(customer_id)))
    return sorted({*linked, *messengers, *named, *extra})


def _selections(
    customer_id: int, senders: list[str], *, own_only: bool = False
) -> dict[str, tuple[type[Base], ColumnElement[bool]]]:
    """Per table: the rows about the customer (the order is a safe deletion order: children first).

    Erasure takes every row of the customer's conversations; ``own_only`` (export) leaves out rows of those
    conversations that belong to another customer (a conversation id reused with another customer's token)."""
    account_ids = select(Account.id).where(Account.customer_id == customer_id).scalar_subquery()

    def by_customer_or_sender(model: Any) -> ColumnElement[bool]:
        condition: ColumnElement[bool] = model.customer_id == customer_id
        if not senders:
            return condition
        if own_only:  # a conversation id reused by another customer: their rows are theirs, not in this export
            return or_(condition, and_(model.sender_id.in_(senders), model.customer_id.is_(None)))
        return or_(condition, model.sender_id.in_(senders))

    def by_sender(model: Any) -> ColumnElement[bool]:
        return model.sender_id.in_(senders) if senders else false()

    return {
        "transactions": (Transaction, Transaction.account_id.in_(account_ids)),
        "transfers": (Transfer, or_(Transfer.customer_id == customer_id, Transfer.from_account_id.in_(account_ids),
                                    Transfer.to_account_id.in_(account_ids))),
        "card_payments": (CardPayment, CardPayment.customer_id == customer_id),
        "cards": (Card, Card.customer_id == customer_id),
        "payees": (Payee, Payee.customer_id == customer_id),
        "accounts": (Account, Account.customer_id == customer_id),
        "loans": (Loan, Loan.customer_id == customer_id),
        "insurance_policies": (InsurancePolicy, InsurancePolicy.customer_id == customer_id),
        "consents": (Consent, Consent.customer_id == customer_id),
        "contact_points": (ContactPoint, ContactPoint.customer_id == customer_id),
        "interactions": (Interaction, Interaction.customer_id == customer_id),
        "conversation_events": (ConversationEvent, by_customer_or_sender(ConversationEvent)),
        "conversation_links": (ConversationLink, ConversationLink.customer_id == customer_id),
        # the staff console's review data about their conversations (tags, notes may hold personal data)
        "conversation_reviews": (ConversationReview, by_sender(ConversationReview)),
        "conversation_tags": (ConversationTag, by_sender(ConversationTag)),
        "conversation_notes": (ConversationNote, by_sender(ConversationNote)),
        # NLU annotations of their messages (masked text, still theirs): never exported into training data
        "nlu_annotations": (NluAnnotation, by_sender(NluAnnotation)),
        "campaign_deliveries": (CampaignDelivery, CampaignDelivery.customer_id == customer_id),
        "customer_scores": (CustomerScore, CustomerScore.customer_id == customer_id),
        "offer_events": (OfferEvent, OfferEvent.customer_id == customer_id),
        "push_deliveries": (PushDelivery, by_customer_or_sender(PushDelivery)),
        "link_codes": (LinkCode, LinkCode.customer_id == customer_id),
        "messenger_links": (MessengerLink, MessengerLink.customer_id == customer_id),
        "handoff_requests": (HandoffRequest, by_customer_or_sender(HandoffRequest)),
        "audit_log": (AuditLog, AuditLog.customer_id == customer_id),
    }


def export_customer(customer_id: int) -> dict[str, Any]:
    """Everything held on the customer, as a JSON-able dict (one consistent read):

    ``{"format": "atlantic-bank-customer-export/1", "customer_id": 42, "exported_at": ISO time,
    "customer": {column: value}, "accounts": [{...}], "transactions": [...], ..., "access_log": [...]}``
    (every table named in the module docstring, rows ordered by id).

    Raises:
        NotFound: no such customer.
    """
    with session_scope() as session:
        customer = load_customer(session, customer_id)
        senders = _senders(session, customer_id)
        out: dict[str, Any] = {
            "format": EXPORT_FORMAT,
            "customer_id": customer_id,
            "exported_at": utcnow().isoformat(),
            "customer": _row(customer),
        }
        for name, (model, where) in sorted(_selections(customer_id, senders, own_only=True).items()):
            pk = inspect(model).primary_key[0]
            out[name] = [_row(r) for r in session.scalars(select(model).where(where).order_by(pk))]
        out["access_log"] = [_row(r) for r in session.scalars(
            select(AccessLog).where(AccessLog.customer_id == customer_id).order_by(AccessLog.id))]
        return out


def erase_customer(customer_id: int, *, actor: str, channel: str = "staff_api") -> ErasureResult:
    """Delete every row about the customer (see the module docstring) and the customer, in one transaction,
    and audit that the erasure happened (``actor`` is the staff username, audited as ``staff:<username>``).

    Returns the rows deleted per table and the linked conversations' sender ids.

    Raises:
        NotFound: no such customer (nothing written).
        InvalidInput: empty actor/channel.
    """
    actor = require_text(actor, "actor", 74)
    channel = require_text(channel, "channel", 30)
    with session_scope(write=True) as session:
        source_row = load_customer(session, customer_id, lock=True).source_row
        senders = _senders(session, customer_id, broker_senders(customer_id))
        deleted: dict[str, int] = {}
        for name, (model, where) in _selections(customer_id, senders).items():
            result = session.execute(delete(model).where(where).execution_options(synchronize_session=False))
            deleted[name] = int(result.rowcount)  # type: ignore[attr-defined]
        result = session.execute(delete(Customer).where(Customer.id == customer_id)
                                 .execution_options(synchronize_session=False))
        deleted["customers"] = int(result.rowcount)  # type: ignore[attr-defined]
        session.expunge_all()
        summary = ", ".join(f"{k}={v}" for k, v in sorted(deleted.items()) if v)
        audit = record_audit(session, customer_id=None, entity="customer", entity_id=customer_id, field="erasure",
                             old_value=None, new_value=f"erased: {summary}; conversations={len(senders)}",
                             channel=channel, actor=f"staff:{actor}")
        now = utcnow()
        if source_row is not None and session.scalar(select(Erasure.id).where(Erasure.source_row == source_row)):
            source_row = None  # re-imported before erasures were recorded: the source row is already on record
        erasure = Erasure(customer_id=customer_id, source_row=source_row, actor=f"staff:{actor}", requested_at=now,
                          completed_at=None if senders else now)
        session.add(erasure)
        session.flush()
        session.add_all(ErasureConversation(erasure_id=erasure.id, sender_id=s) for s in senders)
        session.flush()
        audit_id, erasure_id = audit.id, erasure.id
    log.info("customer %s erased by %s (%s rows, %s conversations)", customer_id, actor,
             sum(deleted.values()), len(senders))
    return ErasureResult(customer_id=customer_id, deleted=deleted, sender_ids=tuple(senders), audit_id=audit_id,
                         erasure_id=erasure_id)


def _erasure_view(session: Session, erasure: Erasure) -> ErasureView:
    rows = session.scalars(select(ErasureConversation).where(ErasureConversation.erasure_id == erasure.id)
                           .order_by(ErasureConversation.sender_id))
    return ErasureView(id=erasure.id, customer_id=erasure.customer_id, actor=erasure.actor,
                       requested_at=erasure.requested_at, completed_at=erasure.completed_at,
                       conversations=tuple(ConversationStatus(r.sender_id, r.erased_at, r.last_error) for r in rows))


def get_erasure(erasure_id: int) -> ErasureView:
    """One erasure record.

    Raises:
        NotFound: no such erasure.
    """
    with session_scope() as session:
        erasure = session.get(Erasure, erasure_id)
        if erasure is None:
            raise NotFound(f"No erasure with id {erasure_id}.", detail=f"erasure {erasure_id} not found")
        return _erasure_view(session, erasure)


def list_erasures(*, pending: bool | None = None, limit: int = 100) -> list[ErasureView]:
    """Erasure records, oldest first; ``pending=True``: only those with a conversation not yet erased from the
    tracker store (``completed_at`` NULL), ``False``: only completed ones. At most ``limit`` (1..1000)."""
    limit = max(1, min(int(limit), 1000))
    with session_scope() as session:
        stmt = select(Erasure).order_by(Erasure.id).limit(limit)
        if pending is True:
            stmt = stmt.where(Erasure.completed_at.is_(None))
        elif pending is False:
            stmt = stmt.where(Erasure.completed_at.is_not(None))
        return [_erasure_view(session, e) for e in session.scalars(stmt)]


def record_conversation_outcomes(erasure_id: int, outcomes: Iterable[tuple[str, bool, str | None]]) -> ErasureView:
    """Record tracker-store erasure attempts ``(sender_id, erased, error)`` for the erasure's conversations:
    ``erased_at`` = now (and ``last_error`` cleared) or ``last_error`` = error (at most 200 characters); the
    erasure's ``completed_at`` is set once every conversation is erased. Sender ids not of this erasure are
    ignored; a conversation already erased stays erased.

    Raises:
        NotFound: no such erasure.
    """
    with session_scope(write=True) as session:
        erasure = session.scalars(select(Erasure).where(Erasure.id == erasure_id).with_for_update()).one_or_none()
        if erasure is None:
            raise NotFound(f"No erasure with id {erasure_id}.", detail=f"erasure {erasure_id} not found")
        rows = {r.sender_id: r for r in session.scalars(
            select(ErasureConversation).where(ErasureConversation.erasure_id == erasure_id))}
        now = utcnow()
        for sender, erased, error in outcomes:
            row = rows.get(sender)
            if row is None or row.erased_at is not None:
                continue
            if erased:
                row.erased_at, row.last_error = now, None
            else:
                row.last_error = (error or "not erased")[:200]
        if erasure.completed_at is None and all(r.erased_at is not None for r in rows.values()):
            erasure.completed_at = now
        session.flush()
        return _erasure_view(session, erasure)


def _events_engine() -> Engine | None:
    """An engine on the embedded SQL event broker's database, or None (RabbitMQ broker, or no file yet)."""
    settings = get_settings()
    if settings.rabbitmq_url:
        return None
    url = settings.events_db_url
    if url.startswith("sqlite:///") and not Path(url.removeprefix("sqlite:///")).exists():
        return None
    return new_engine(url)


def broker_senders(customer_id: int) -> set[str]:
    """Sender ids of events still in the embedded SQL event broker's table (not consumed by the feed yet) whose
    user message carried a genuine token naming the customer, expired or not. Empty on RabbitMQ or when the
    table is unreadable (logged)."""
    engine = _events_engine()
    if engine is None:
        return set()
    found: set[str] = set()
    try:
        if not inspect(engine).has_table("events"):
            return found
        events = Table("events", MetaData(), Column("sender_id"), Column("data"))
        with engine.connect() as conn:
            for sender, data in conn.execute(select(events.c.sender_id, events.c.data).where(or_(
                    events.c.data.like(f'%"{CLAIM_KEY}"%'), events.c.data.like(f'%"{TOKEN_KEY}"%')))):
                try:
                    metadata = json.loads(data).get("metadata")
                except (TypeError, ValueError, AttributeError):
                    continue
                if not isinstance(metadata, dict):
                    continue
                claimed = claim_subject(metadata, str(sender))
                # a raw token only in events published before the channels exchanged it for a claim
                subject = claimed[0] if claimed else token_subject(metadata.get(TOKEN_KEY))
                if subject == customer_id:
                    found.add(str(sender))
    except SQLAlchemyError:
        log.warning("erasure: could not read the event broker table for tokens")
    finally:
        engine.dispose()
    return found


def _compact(engine: Engine, label: str) -> bool:
    """VACUUM a SQLite file and truncate its WAL, so erased values are in neither (deleted rows otherwise stay in
    free pages and WAL frames). Retries while another process holds a read snapshot. False if it could not."""
    for _ in range(COMPACT_ATTEMPTS):
        raw = engine.raw_connection()
        try:
            cursor = raw.cursor()
            cursor.execute(f"PRAGMA busy_timeout={COMPACT_BUSY_MS}")
            cursor.execute("VACUUM")
            busy = cursor.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
            cursor.close()
            if busy is None or not busy[0]:
                return True
        except Exception as exc:  # noqa: BLE001 - sqlite3.OperationalError (locked) among others: retry
            log.info("erasure: compacting the %s database failed once (%s)", label, type(exc).__name__)
        finally:
            raw.close()
        time.sleep(0.2)
    log.warning("erasure: the %s database could not be vacuumed and checkpointed", label)
    return False


def compact_after_erasure() -> dict[str, bool]:
    """On SQLite, VACUUM and checkpoint (TRUNCATE) the CRM database and the embedded event broker's database
    after an erasure: ``{"crm": done, "events": done}`` for those that are SQLite files (nothing on
    PostgreSQL/RabbitMQ, whose storage reclaims deleted rows itself)."""
    out: dict[str, bool] = {}
    crm = get_engine()
    if crm.dialect.name == "sqlite" and crm.url.database not in (None, "", ":memory:"):
        out["crm"] = _compact(crm, "CRM")
    events = _events_engine()
    if events is not None:
        try:
            if events.dialect.name == "sqlite":
                out["events"] = _compact(events, "events")
        finally:
            events.dispose()
    return out


def erase_broker_events(sender_ids: Iterable[str]) -> int | None:
    """Delete the conversations' rows from the embedded SQL event broker (``settings.events_db_url``, Rasa's
    ``events`` table): the feed consumes that table as a queue, so these are events not yet in the CRM, which
    would otherwise re-create transcript rows after the erasure. Returns rows deleted, or None when there is
    nothing to erase there (RabbitMQ broker: consumed messages are not kept; or no events database/table yet).

    Raises:
        sqlalchemy.exc.SQLAlchemyError: the events database is unreachable or refused the delete.
    """
    senders = list(dict.fromkeys(sender_ids))
    engine = _events_engine() if senders else None
    if engine is None:
        return None
    try:
        if not inspect(engine).has_table("events"):
            return None
        events = Table("events", MetaData(), Column("id"), Column("sender_id"))
        with engine.begin() as conn:
            return int(conn.execute(delete(events).where(events.c.sender_id.in_(senders))).rowcount)
    except SQLAlchemyError:
        log.warning("erasure: could not delete %s conversations from the event broker table", len(senders))
        raise
    finally:
        engine.dispose()
