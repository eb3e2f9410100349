"""Hand-off requests from the bot ("talk to a human") and leads from accepted suggestions, for staff."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from fastapi import APIRouter, Query
from pydantic import BaseModel, Field

from api.deps import SalesDep, StaffDep
from profiles import conversation_ref, list_handoffs, list_leads

router = APIRouter(tags=["handoffs"])


class HandoffPublic(BaseModel):
    id: int
    status: str
    created_at: datetime
    customer_id: int | None
    conversation: str = Field(description="opaque conversation id (c-...), as in the customer's timeline; never "
                                          "Rasa's sender id", examples=["c-3f9a0c1b2d4e5f607182"])
    channel: str
    reason: str


class LeadPublic(BaseModel):
    customer_id: int
    product: str
    channel: str
    created_at: datetime


@router.get("/handoffs", response_model=list[HandoffPublic])
def get_handoffs(
    staff: StaffDep,
    status: Literal["open", "taken", "closed", "all"] = "open",
    limit: int = Query(50, ge=1, le=500),
) -> list[HandoffPublic]:
    """Hand-off requests, oldest first (the queue order): ``open`` (waiting), ``taken`` (a staff member has the
    conversation, ``/handoffs/queue``), ``closed``. Staff and admin roles."""
    rows = list_handoffs(None if status == "all" else status, limit)
    return [HandoffPublic(id=r.id, status=r.status, created_at=r.created_at, customer_id=r.customer_id,
                          conversation=conversation_ref(r.sender_id), channel=r.channel, reason=r.reason)
            for r in rows]


@router.get("/leads", response_model=list[LeadPublic])
def get_leads(staff: SalesDep, limit: int = Query(100, ge=1, le=1000)) -> list[LeadPublic]:
    """Products customers said yes to in chat, newest first: an advisor follows each up. Staff, marketing, admin."""
    return [LeadPublic(**{f: getattr(r, f) for f in LeadPublic.model_fields}) for r in list_leads(limit)]
