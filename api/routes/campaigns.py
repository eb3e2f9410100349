"""Proactive push for marketing: one customer now, or a campaign to a list of customers or a segment in the
background. Marketing and admin roles only (staff: 403).

- ``POST /customers/{id}/push``: decide and deliver one push synchronously; 200 with the outcome (delivered or
  why not: ``no_channel``, ``no_consent``, ``quiet_hours``, ``not_eligible``, ``channel_error``, ``invalid``),
  404 unknown customer.
- ``POST /campaigns/push``: the audience is either ``customer_ids`` (1..10,000) or filters over the latest scores
  (``segment``, churn/CLV/loyalty ranges as ``GET /customers``, at most ``limit`` customers); 202 with the job
  and ``Location: /campaigns/{id}``. Unknown ids in the list become per-customer ``invalid`` outcomes.
- ``GET /campaigns/{id}``: counts per status, ``done``/``total``, ``finished``, outcomes page by page.

Message: ``kind`` reminder with ``template`` (statement_ready, card_expiry, payment_due, update_contact) or offer
with ``product`` (a catalogue id); the texts are the bot's (domain.yml), never free text. ``campaign`` names it.
Rules and statuses: profiles/push.py and api/push.py; docs/PUSH.md.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query, Response, status
from pydantic import BaseModel, ConfigDict, Field, model_validator

from api.deps import require_roles
from api.push import CampaignStatus, PushResult, campaign_status, push_to_customer, start_campaign
from api.schemas import ErrorOut, ValidationErrorOut
from profiles import StaffIdentity
from profiles.push import AUDIENCE_MAX, check_message, select_audience
from profiles.search import SearchQuery

router = APIRouter(tags=["campaigns"])

MarketingDep = Annotated[StaffIdentity, Depends(require_roles("marketing", "admin"))]
MAX_ID = 2**31 - 1
IDS_MAX = 10_000
CustomerId = Annotated[int, Path(ge=1, le=MAX_ID, description="customer id")]
JobId = Annotated[str, Path(pattern=r"^[0-9a-f]{32}$", description="campaign job id")]
_AUTH: dict[int | str, dict[str, Any]] = {
    401: {"model": ErrorOut, "description": "no, malformed, expired or forged staff token"},
    403: {"model": ErrorOut, "description": "not a marketing or admin token"},
    422: {"model": ValidationErrorOut, "description": "invalid input; `detail[0].loc` names the field"},
}
_ONE = {**_AUTH, 404: {"model": ErrorOut, "description": "no such customer / campaign job"}}


class MessageIn(BaseModel):
    """What to push (closed sets: see the module docstring)."""

    model_config = ConfigDict(extra="forbid")

    kind: str = Field(description="reminder or offer", examples=["offer"])
    campaign: str = Field(description="campaign name (1..80 printable characters)", examples=["term-deposit-june"])
    template: str | None = Field(None, description="reminder template id", examples=["statement_ready"])
    product: str | None = Field(None, description="offered product (catalogue id)", examples=["term_deposit"])


class CampaignIn(MessageIn):
    """A campaign: the message, and either ``customer_ids`` or audience filters (at least one)."""

    customer_ids: list[Annotated[int, Field(ge=1, le=MAX_ID)]] | None = Field(
        None, min_length=1, max_length=IDS_MAX, description=f"explicit audience (1..{IDS_MAX} ids)")
    segment: str | None = Field(None, description="segment name of the latest scores")
    min_churn: float | None = Field(None, ge=0, le=1)
    max_churn: float | None = Field(None, ge=0, le=1)
    min_clv: float | None = None
    max_clv: float | None = None
    min_loyalty: float | None = None
    max_loyalty: float | None = None
    limit: int = Field(AUDIENCE_MAX, ge=1, le=AUDIENCE_MAX, description="at most this many customers by filters")

    @model_validator(mode="after")
    def _one_audience(self) -> CampaignIn:
        if self.customer_ids is not None and self.audience_query().used_filters():
            raise ValueError("give either customer_ids or audience filters, not both")
        if self.customer_ids is None and not self.audience_query().used_filters():
            raise ValueError("give customer_ids or audience filters (segment, churn, clv, loyalty ranges)")
        return self

    def audience_query(self) -> SearchQuery:
        """The filters as a customer search (no contact details: marketing may not search by them)."""
        return SearchQuery(segment=self.segment, min_churn=self.min_churn, max_churn=self.max_churn,
                           min_clv=self.min_clv, max_clv=self.max_clv, min_loyalty=self.min_loyalty,
                           max_loyalty=self.max_loyalty)


class PushResultOut(BaseModel):
    """One customer's outcome."""

    customer_id: int
    status: str = Field(description="delivered, no_channel, no_consent, quiet_hours, not_eligible, channel_error or invalid")
    reason: str | None
    channel: str | None
    delivery_id: int | None
    template: str | None = Field(description="the template sent: a reminder's, or product_offer")
    product: str | None = Field(description="the product offered (offers), as requested")


class CampaignOut(BaseModel):
    """A campaign job's progress."""

    id: str
    campaign: str
    kind: str
    template: str | None
    product: str | None
    actor: str
    total: int
    done: int
    counts: dict[str, int]
    finished: bool
    created_at: datetime
    finished_at: datetime | None
    results: list[PushResultOut]


def _result_out(r: PushResult) -> PushResultOut:
    return PushResultOut(customer_id=r.customer_id, status=r.status, reason=r.reason, channel=r.channel,
                         delivery_id=r.delivery_id, template=r.template, product=r.product)


def _campaign_out(s: CampaignStatus) -> CampaignOut:
    fields: dict[str, Any] = {f: getattr(s, f) for f in CampaignOut.model_fields if f != "results"}
    return CampaignOut(**fields, results=[_result_out(r) for r in s.results])


@router.post("/customers/{customer_id}/push", response_model=PushResultOut, responses=_ONE)
def push_customer(customer_id: CustomerId, body: MessageIn, staff: MarketingDep) -> PushResultOut:
    """Push one reminder or offer to one customer now (synchronous). Marketing and admin roles."""
    message = check_message(body.kind, body.campaign, template=body.template, product=body.product)
    return _result_out(push_to_customer(customer_id, message, actor=f"staff:{staff.username}"))


@router.post("/campaigns/push", response_model=CampaignOut, status_code=status.HTTP_202_ACCEPTED, responses=_AUTH)
def push_campaign(body: CampaignIn, staff: MarketingDep, response: Response) -> CampaignOut:
    """Start a campaign in the background; follow it at ``GET /campaigns/{id}``. Marketing and admin roles."""
    message = check_message(body.kind, body.campaign, template=body.template, product=body.product)
    ids = body.customer_ids if body.customer_ids is not None else select_audience(body.audience_query(),
                                                                                   limit=body.limit)
    job = start_campaign(message, ids, actor=f"staff:{staff.username}")
    response.headers["Location"] = f"/campaigns/{job.id}"
    return _campaign_out(job)


@router.get("/campaigns/{job_id}", response_model=CampaignOut, responses=_ONE)
def read_campaign(
    job_id: JobId, staff: MarketingDep,
    offset: int = Query(0, ge=0, le=MAX_ID), limit: int = Query(100, ge=0, le=1000),
) -> CampaignOut:
    """A campaign job's counts per status and its outcomes ``offset``..``offset+limit``. Marketing and admin."""
    return _campaign_out(campaign_status(job_id, offset=offset, limit=limit))
