"""The access log: every staff read of a customer record (who, with which role, which record, what, when).

Reads are logged, writes are audited (``profiles.audit``). Rows outlive an erased customer (``AccessLog`` has no
foreign key), so ``detail`` must never hold personal data: say *what kind* of read it was (the filter names of a
search, a page number), never the values a staff member typed or saw.

Standard ``action`` names (free text up to 40 characters, these keep reports consistent):
``read_360``, ``search``, ``timeline``, ``consents``, ``export``, ``erase``, ``transcript``, ``staff_page``,
``handoff_queue`` (the live hand-off queue's last turns, ``profiles.live_handoff``).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import insert, select
from sqlalchemy.orm import Session

from profiles.audit import require_text
from profiles.db import session_scope
from profiles.errors import InvalidInput
from profiles.models import AccessLog, utcnow

ACCESS_ACTIONS = ("read_360", "search", "timeline", "consents", "export", "erase", "transcript", "staff_page",
                  "handoff_queue")
DETAIL_MAX = 200


@dataclass(frozen=True, slots=True)
class AccessRecord:
    """One logged read: ``staff`` username and ``role`` (staff, marketing, admin), the customer read (None for a
    read that concerned no single customer), ``action`` (see ``ACCESS_ACTIONS``), ``detail`` and ``at`` (UTC)."""

    id: int
    staff: str
    role: str
    customer_id: int | None
    action: str
    detail: str | None
    at: datetime


def _record(row: AccessLog) -> AccessRecord:
    return AccessRecord(id=row.id, staff=row.staff, role=row.role, customer_id=row.customer_id,
                        action=row.action, detail=row.detail, at=row.at)


def _clean(staff: str, role: str, action: str, detail: str | None) -> tuple[str, str, str, str | None]:
    staff = require_text(staff, "staff", 80)
    role = require_text(role, "role", 20)
    action = require_text(action, "action", 40)
    if detail is not None:
        detail = detail.strip()[:DETAIL_MAX] or None
    return staff, role, action, detail


def add_access(
    session: Session, *, staff: str, role: str, customer_id: int | None, action: str, detail: str | None = None
) -> AccessLog:
    """Add one access-log row to ``session`` (written in the caller's transaction, so a read and its log row
    commit together). ``detail`` is cut to 200 characters.

    Raises:
        InvalidInput: empty or too long staff (80), role (20) or action (40).
    """
    staff, role, action, detail = _clean(staff, role, action, detail)
    row = AccessLog(staff=staff, role=role, customer_id=customer_id, action=action, detail=detail, at=utcnow())
    session.add(row)
    return row


def record_access(
    staff: str, role: str, customer_id: int | None, action: str, detail: str | None = None
) -> AccessRecord:
    """Log one read of a customer record in its own transaction; returns the row written.

    Example: ``record_access("ana", "staff", 42, "read_360")``.

    Raises:
        InvalidInput: empty or too long staff (80), role (20) or action (40).
    """
    with session_scope(write=True) as session:
        row = add_access(session, staff=staff, role=role, customer_id=customer_id, action=action, detail=detail)
        session.flush()
        return _record(row)


def record_accesses(
    staff: str, role: str, customer_ids: Iterable[int], action: str, detail: str | None = None
) -> int:
    """Log one read per customer in ``customer_ids`` (e.g. every customer a search returned) in one
    transaction with one multi-row INSERT; returns the number of rows written (0 writes nothing).

    Raises:
        InvalidInput: empty or too long staff (80), role (20) or action (40).
    """
    staff, role, action, detail = _clean(staff, role, action, detail)
    ids = list(dict.fromkeys(customer_ids))
    if not ids:
        return 0
    now = utcnow()
    rows = [{"staff": staff, "role": role, "customer_id": cid, "action": action, "detail": detail, "at": now}
            for cid in ids]
    with session_scope(write=True) as session:
        session.execute(insert(AccessLog), rows)
    return len(rows)


def list_access(
    customer_id: int | None = None, *, staff: str | None = None, limit: int = 100
) -> list[AccessRecord]:
    """Logged reads, newest first, optionally of one customer and/or by one staff member (``limit`` 1..1000).

    Raises:
        InvalidInput: (field ``limit``) limit out of range.
    """
    if not 1 <= limit <= 1000:
        raise InvalidInput("limit must be between 1 and 1000.", field="limit")
    stmt = select(AccessLog).order_by(AccessLog.at.desc(), AccessLog.id.desc()).limit(limit)
    if customer_id is not None:
        stmt = stmt.where(AccessLog.customer_id == customer_id)
    if staff is not None:
        stmt = stmt.where(AccessLog.staff == staff)
    with session_scope() as session:
        return [_record(r) for r in session.scalars(stmt)]
