"""Erasure records (admin only): which erasures still have conversations in Rasa's tracker store, and retrying
them.

``DELETE /customers/{id}`` deletes the customer in one transaction together with an erasure record (no personal
data: customer id, actor, when, the conversations' sender ids); the tracker-store conversations are erased
after that, and one that could not be (Rasa or Redis down) stays pending on the record. ``GET
/erasures?pending=true`` lists those, ``POST /erasures/{id}/retry`` retries one, ``POST /erasures/retry`` every
pending one. Each retry is written to the access log (action ``erase_retry``).
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Query

from api.deps import AdminDep
from api.rasa_client import erase_conversations
from api.schemas import ErasureRecordOut, ErrorOut, ValidationErrorOut
from profiles.access import record_access
from profiles.privacy import ErasureView, get_erasure, list_erasures, record_conversation_outcomes

router = APIRouter(prefix="/erasures", tags=["erasures"])

_AUTH: dict[int | str, dict[str, Any]] = {
    401: {"model": ErrorOut, "description": "no, malformed, expired or forged staff token"},
    403: {"model": ErrorOut, "description": "admin only"},
    422: {"model": ValidationErrorOut, "description": "invalid input; `detail[0].loc` names the field"},
}
ErasureId = Annotated[int, Path(ge=1, le=2**31 - 1, description="erasure record id")]


def _retry(view: ErasureView, username: str, role: str) -> ErasureView:
    pending = view.pending
    if not pending:
        return view
    outcomes = erase_conversations(pending)
    updated = record_conversation_outcomes(view.id, [(o.sender_id, o.erased, o.error) for o in outcomes])
    record_access(username, role, view.customer_id, "erase_retry",
                  f"conversations: {len(outcomes)}, erased: {sum(o.erased for o in outcomes)}")
    return updated


@router.get("", response_model=list[ErasureRecordOut], responses=_AUTH)
def erasures(
    staff: AdminDep,
    pending: Annotated[bool | None, Query(description="true: only those with conversations not yet erased")] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> list[ErasureRecordOut]:
    """Erasure records, oldest first. Admin only."""
    return [ErasureRecordOut.from_view(v) for v in list_erasures(pending=pending, limit=limit)]


@router.get("/{erasure_id}", response_model=ErasureRecordOut,
            responses={**_AUTH, 404: {"model": ErrorOut, "description": "no such erasure"}})
def erasure(erasure_id: ErasureId, staff: AdminDep) -> ErasureRecordOut:
    """One erasure record. Admin only."""
    return ErasureRecordOut.from_view(get_erasure(erasure_id))


@router.post("/retry", response_model=list[ErasureRecordOut], responses=_AUTH)
def retry_all(staff: AdminDep, limit: Annotated[int, Query(ge=1, le=1000)] = 100) -> list[ErasureRecordOut]:
    """Retry erasing the tracker-store conversations of every pending erasure (at most ``limit``, oldest first);
    answers each erasure record after the attempt. Admin only."""
    return [ErasureRecordOut.from_view(_retry(v, staff.username, staff.role))
            for v in list_erasures(pending=True, limit=limit)]


@router.post("/{erasure_id}/retry", response_model=ErasureRecordOut,
             responses={**_AUTH, 404: {"model": ErrorOut, "description": "no such erasure"}})
def retry(erasure_id: ErasureId, staff: AdminDep) -> ErasureRecordOut:
    """Retry erasing the erasure's conversations still in the tracker store (nothing to do when complete).
    Admin only."""
    return ErasureRecordOut.from_view(_retry(get_erasure(erasure_id), staff.username, staff.role))
