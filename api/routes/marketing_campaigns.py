"""Marketing campaigns (issue 14): define, dry-run, schedule, pause/resume/cancel, follow, measure.
Marketing and admin roles only (staff: 403). Definition: ``profiles.campaigns.spec``; docs/CAMPAIGNS.md.

- ``POST /marketing/campaigns`` (``CampaignSpec``): 201, a ``draft``; 422 naming the field (``detail[0].loc``)
  for any refused value (unknown segment, empty audience, past schedule, unknown template field, splits not
  summing to 100 ...) with nothing written; 409 a campaign of that name exists.
- ``POST /marketing/campaigns/dry-run`` (``CampaignSpec``): the preview, nothing written.
- ``GET /marketing/campaigns`` / ``GET /marketing/campaigns/{id}``: state, counts per status, audit.
- ``POST /marketing/campaigns/{id}/{action}`` with action schedule, pause, resume, cancel: 200 the campaign,
  409 not allowed from its state. ``schedule`` of a "now" campaign queues its planning at once; an "at" one is
  planned by the worker's sweeper when its time comes.
- ``GET /marketing/campaigns/{id}/deliveries``: the per-recipient log (``status``, ``offset``, ``limit``).
- ``GET /marketing/campaigns/{id}/report``: funnel per group and uplift with its 95% interval.
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Path, Query, status
from pydantic import BaseModel

from api.campaign_preview import dry_run
from api.campaign_queue import enqueue_batches, enqueue_plan
from api.deps import require_roles
from api.schemas import ErrorOut, ValidationErrorOut
from profiles import StaffIdentity
from profiles.campaigns import delivery
from profiles.campaigns.spec import CampaignSpec
from profiles.campaigns.store import CampaignView, create_campaign, get_campaign, list_campaigns, load_spec, transition
from profiles.campaigns.uplift import report
from profiles.models import utcnow

log = logging.getLogger(__name__)
router = APIRouter(prefix="/marketing/campaigns", tags=["marketing campaigns"])

MarketingDep = Annotated[StaffIdentity, Depends(require_roles("marketing", "admin"))]
CampaignId = Annotated[int, Path(ge=1, le=2**31 - 1, description="campaign id")]
_AUTH: dict[int | str, dict[str, Any]] = {
    401: {"model": ErrorOut, "description": "no, malformed, expired or forged staff token"},
    403: {"model": ErrorOut, "description": "not a marketing or admin token"},
    422: {"model": ValidationErrorOut, "description": "invalid input; `detail[0].loc` names the field"},
}
_ONE = {**_AUTH, 404: {"model": ErrorOut, "description": "no such campaign"},
        409: {"model": ErrorOut, "description": "not allowed in the campaign's state / name taken"}}


class CampaignOut(BaseModel):
    """A campaign: definition, state, delivery counts per status, audit (who did what, oldest first)."""

    id: int
    name: str
    state: str
    spec: dict[str, Any]
    scheduled_at: datetime | None
    audience_size: int | None
    created_by: str
    created_at: datetime
    planned_at: datetime | None
    finished_at: datetime | None
    counts: dict[str, int]
    events: list[dict[str, Any]]


class DeliveryOut(BaseModel):
    """One recipient's row of the delivery log."""

    customer_id: int
    step: int
    variant: str
    status: str
    reason: str | None
    channel: str | None
    attempts: int
    sent_at: datetime | None
    updated_at: datetime


def campaign_out(view: CampaignView) -> CampaignOut:
    """The API shape of a campaign view."""
    return CampaignOut(**{f: getattr(view, f) for f in CampaignOut.model_fields if f != "events"},
                       events=list(view.events))


def actor_of(staff: StaffIdentity) -> str:
    """The audit actor of a staff member."""
    return f"staff:{staff.username}"


def apply_action(campaign_id: int, action: str, staff: StaffIdentity) -> CampaignView:
    """Move the campaign and queue what the move needs (planning on schedule-now, its batches on resume)."""
    transition(campaign_id, action, actor=actor_of(staff))
    try:  # a nudge only: the move is committed, and the worker's sweeper plans / re-queues what is due anyway
        if action == "schedule" and load_spec(campaign_id).schedule.kind == "now":
            enqueue_plan(campaign_id)
        if action == "resume":
            for step, batch in sorted({(s, b) for c, s, b in delivery.pending_batches(utcnow()) if c == campaign_id}):
                enqueue_batches(campaign_id, step, [batch])
    except Exception as exc:  # noqa: BLE001 - the queue down (Redis, its file): never a 500 after the commit
        log.warning("campaign %s %s: not queued now (%s), the sweeper will: %s", campaign_id, action,
                    type(exc).__name__, str(exc)[:200])
    return get_campaign(campaign_id)


@router.post("", response_model=CampaignOut, status_code=status.HTTP_201_CREATED, responses=_ONE)
def create(body: CampaignSpec, staff: MarketingDep) -> CampaignOut:
    """Store a campaign as a draft (validated in full first: nothing is written on a 422)."""
    return campaign_out(create_campaign(body, actor=actor_of(staff)))


@router.post("/dry-run", responses=_AUTH)
def preview(body: CampaignSpec, staff: MarketingDep) -> dict[str, Any]:
    """What the campaign would do now: audience, control, a sample's send-time outcomes, sample messages."""
    return dry_run(body, now=utcnow())


@router.get("", response_model=list[CampaignOut], responses=_AUTH)
def index(staff: MarketingDep, limit: int = Query(100, ge=1, le=500)) -> list[CampaignOut]:
    """The newest campaigns."""
    return [campaign_out(v) for v in list_campaigns(limit)]


@router.get("/{campaign_id}", response_model=CampaignOut, responses=_ONE)
def read(campaign_id: CampaignId, staff: MarketingDep) -> CampaignOut:
    """One campaign."""
    return campaign_out(get_campaign(campaign_id))


@router.post("/{campaign_id}/{action}", response_model=CampaignOut, responses=_ONE)
def act(campaign_id: CampaignId, action: Literal["schedule", "pause", "resume", "cancel"],
        staff: MarketingDep) -> CampaignOut:
    """Schedule, pause, resume or cancel (audited as the staff member)."""
    return campaign_out(apply_action(campaign_id, action, staff))


@router.get("/{campaign_id}/deliveries", response_model=list[DeliveryOut], responses=_ONE)
def deliveries(campaign_id: CampaignId, staff: MarketingDep, status_: str | None = Query(None, alias="status",
               pattern=r"^[a-z_]{1,20}$"), offset: int = Query(0, ge=0, le=2**31 - 1),
               limit: int = Query(100, ge=1, le=1000)) -> list[DeliveryOut]:
    """The per-recipient delivery log, in customer order."""
    get_campaign(campaign_id)
    return [DeliveryOut(**{f: getattr(r, f) for f in DeliveryOut.model_fields})
            for r in delivery.log_rows(campaign_id, status=status_, offset=offset, limit=limit)]


@router.get("/{campaign_id}/report", responses=_ONE)
def campaign_report(campaign_id: CampaignId, staff: MarketingDep) -> dict[str, Any]:
    """Funnel per group (targeted, sent, delivered, conversation, converted) and the uplift with its 95% CI."""
    return report(campaign_id)
