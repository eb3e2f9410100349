"""Tables of marketing campaigns (migration 0008_campaigns).

- ``campaigns``: one campaign; ``spec`` holds the validated definition (``profiles.campaigns.spec``) as JSON;
  ``state`` follows draft -> scheduled -> running -> paused -> done (``store.TRANSITIONS``).
- ``campaign_events``: the audit of who did what to a campaign (created, scheduled, paused ...).
- ``campaign_deliveries``: the per-recipient delivery log. ``(campaign_id, customer_id, step)`` is unique: the
  database refuses a second row for the same recipient and step, so a queue that delivers a task twice (every
  queue is at-least-once) cannot send twice. ``step`` is 0 for a one-off campaign (a run number for recurring
  ones). ``status``: queued, held, sending, delivered, control, capped, no_consent, no_channel, not_eligible, cancelled,
  channel_error, failed, unknown (a send interrupted mid-way: never retried, so at most once).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, Index, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from profiles.models import Base, utcnow


class Campaign(Base):
    """A marketing campaign and its definition (``spec``: goal, audience, messages, variants, control, schedule)."""

    __tablename__ = "campaigns"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(80), unique=True)
    state: Mapped[str] = mapped_column(String(12), index=True)
    spec: Mapped[dict[str, Any]] = mapped_column(JSON)
    scheduled_at: Mapped[datetime | None] = mapped_column()
    audience_size: Mapped[int | None] = mapped_column(Integer)
    created_by: Mapped[str] = mapped_column(String(80))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    planned_at: Mapped[datetime | None] = mapped_column()
    finished_at: Mapped[datetime | None] = mapped_column()


class CampaignEvent(Base):
    """One audited action on a campaign: ``actor`` (``staff:<username>`` or ``system``) did ``action``."""

    __tablename__ = "campaign_events"

    id: Mapped[int] = mapped_column(primary_key=True)
    campaign_id: Mapped[int] = mapped_column(ForeignKey("campaigns.id", ondelete="CASCADE"), index=True)
    actor: Mapped[str] = mapped_column(String(80))
    action: Mapped[str] = mapped_column(String(20))
    from_state: Mapped[str | None] = mapped_column(String(12))
    to_state: Mapped[str | None] = mapped_column(String(12))
    detail: Mapped[str | None] = mapped_column(String(200))
    at: Mapped[datetime] = mapped_column(default=utcnow)


class CampaignDelivery(Base):
    """One recipient of one campaign step: their group (variant name or ``control``) and delivery status."""

    __tablename__ = "campaign_deliveries"
    __table_args__ = (
        UniqueConstraint("campaign_id", "customer_id", "step", name="uq_campaign_deliveries_key"),
        Index("ix_campaign_deliveries_campaign_status", "campaign_id", "status"),
        Index("ix_campaign_deliveries_campaign_batch", "campaign_id", "step", "batch"),
        Index("ix_campaign_deliveries_customer_sent", "customer_id", "sent_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    campaign_id: Mapped[int] = mapped_column(ForeignKey("campaigns.id", ondelete="CASCADE"))
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id", ondelete="CASCADE"))
    step: Mapped[int] = mapped_column(Integer, default=0)
    variant: Mapped[str] = mapped_column(String(20))
    stratum: Mapped[str | None] = mapped_column(String(40))
    batch: Mapped[int] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(20))
    reason: Mapped[str | None] = mapped_column(String(200))
    channel: Mapped[str | None] = mapped_column(String(30))
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime | None] = mapped_column()
    queued_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)
    sent_at: Mapped[datetime | None] = mapped_column()
