"""Bulk synthetic customers for campaign tests and the benchmark: core INSERTs (thousands per second), each
customer with scores in a segment, a marketing consent row, optionally a linked Telegram account."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime

from sqlalchemy import func, insert, select, text

from profiles.db import session_scope
from profiles.models import Consent, Customer, CustomerScore, MessengerLink

SEGMENTS = ("affluent", "young_savers", "families")
_T0 = datetime(2026, 1, 1, tzinfo=UTC)
_batch = itertools.count()


def bulk_customers(n: int, *, segments: tuple[str, ...] = SEGMENTS, consent: bool = True, linked: bool = True,
                   chunk: int = 5000) -> list[int]:
    """Insert ``n`` customers (segments round-robin, churn 0..1 spread); returns their ids in order."""
    tag = next(_batch)
    with session_scope() as s:
        start = int(s.scalar(select(func.coalesce(func.max(Customer.id), 0))) or 0) + 1
    ids = list(range(start, start + n))
    for lo in range(0, n, chunk):
        part = ids[lo:lo + chunk]
        with session_scope() as s:
            s.execute(insert(Customer), [{
                "id": cid, "first_name": "Ana", "last_name": f"Bulk{cid}", "email": f"bulk{tag}-{cid}@example.com",
                "phone": "+351910000000", "address": "Rua 1", "region": "Lisboa", "age": 40, "job": "technician",
                "marital": "single", "education": "secondary", "credit_default": False, "housing_loan": False,
                "personal_loan": False, "contact_channel": "cellular", "marketing_consent": consent,
                "created_at": _T0, "version": 1} for cid in part])
            s.execute(insert(CustomerScore), [{
                "customer_id": cid, "segment": segments[cid % len(segments)], "churn_probability": (cid % 100) / 100,
                "model_versions": {}, "computed_at": _T0} for cid in part])
            s.execute(insert(Consent), [{
                "customer_id": cid, "purpose": "marketing", "channel": "all", "granted": consent, "source": "test",
                "updated_at": _T0} for cid in part])
            if linked:
                s.execute(insert(MessengerLink), [{
                    "customer_id": cid, "channel": "telegram", "external_id": f"tg-bulk-{cid}", "linked_at": _T0}
                    for cid in part])
    with session_scope() as s:
        if s.get_bind().dialect.name == "postgresql":  # explicit ids: move the sequence past them
            s.execute(text("SELECT setval(pg_get_serial_sequence('customers', 'id'), (SELECT max(id) FROM customers))"))
    return ids
