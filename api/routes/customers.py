"""The customer 360 staff API: view, search, update, consent, timeline, notes, export and erasure.

Roles (staff tokens, ``api/deps.py``): staff and admin read and update customers; marketing may only search by
segment and score ranges (at least one of them) and sees the customer id, segment and scores only (403 on
everything else); export and erasure are admin
only. Every read of a customer record (360, timeline, consents, export, each search hit) writes an access-log
row (``profiles.access``); every change writes audit rows (``profiles.audit``, actor ``staff:<username>``,
channel ``staff_api``).
"""

from __future__ import annotations

import logging
import re
from typing import Annotated, Any

from fastapi import APIRouter, Header, HTTPException, Path, Query, Response, status
from sqlalchemy.exc import SQLAlchemyError

from api.deps import AdminDep, SalesDep, StaffDep
from api.rasa_client import erase_conversations
from api.schemas import (
    AccessOut,
    ConsentIn,
    ConsentOut,
    ConversationErasureOut,
    Customer360Out,
    CustomerHitOut,
    ErasureOut,
    ErrorOut,
    FieldChangeOut,
    InteractionOut,
    NoteIn,
    ProfileUpdateIn,
    ProfileUpdateOut,
    SearchPageOut,
    SegmentHitOut,
    TimelineOut,
    ValidationErrorOut,
)
from profiles.access import list_access, record_access, record_accesses
from profiles.consent import list_consents, set_consent
from profiles.conversation_ref import conversation_ref, hide_sender_ids
from profiles.customer360 import add_staff_note, get_customer_360, list_timeline
from profiles.errors import InvalidInput
from profiles.privacy import (
    compact_after_erasure,
    erase_broker_events,
    erase_customer,
    export_customer,
    record_conversation_outcomes,
)
from profiles.profile_update import update_profile
from profiles.search import SearchQuery, search_customers

log = logging.getLogger(__name__)

router = APIRouter(prefix="/customers", tags=["customers"])

CHANNEL = "staff_api"
_AUTH: dict[int | str, dict[str, Any]] = {
    401: {"model": ErrorOut, "description": "no, malformed, expired or forged staff token"},
    403: {"model": ErrorOut, "description": "the token's role may not do this"},
    422: {"model": ValidationErrorOut, "description": "invalid input; `detail[0].loc` names the field"},
}
_ONE = {**_AUTH, 404: {"model": ErrorOut, "description": "no such customer"}}
_WRITE = {**_ONE, 409: {"model": ErrorOut, "description": "the profile changed since you read it (version)"}}

MAX_ID = 2**31 - 1  # ids are INTEGER columns (32-bit on PostgreSQL): larger values are refused, not sent to SQL
CustomerId = Annotated[int, Path(ge=1, le=MAX_ID, description="customer id")]
IfMatch = Annotated[str | None, Header(alias="If-Match", description='the profile version you read: "7"')]
_ETAG = re.compile(r'^\s*(?:W/)?"?(\d{1,18})"?\s*$')


def _etag(version: int) -> str:
    return f'"{version}"'


def _if_match(value: str | None) -> int | None:
    if value is None:
        return None
    match = _ETAG.match(value)
    if match is None:
        raise InvalidInput('If-Match must be the profile version as an ETag, e.g. "7".', field="If-Match")
    return int(match.group(1))


@router.get("", response_model=SearchPageOut, responses=_AUTH)
def search(
    staff: SalesDep,
    name: Annotated[str | None, Query(max_length=120, description="part of the name, any case")] = None,
    email: Annotated[str | None, Query(max_length=254, description="whole email address, any case")] = None,
    phone: Annotated[str | None, Query(max_length=40, description="any format; normalised to E.164")] = None,
    segment: Annotated[str | None, Query(max_length=40)] = None,
    min_churn: Annotated[float | None, Query(ge=0, le=1, description="churn probability from (inclusive)")] = None,
    max_churn: Annotated[float | None, Query(ge=0, le=1, description="churn probability to (inclusive)")] = None,
    min_clv: Annotated[float | None, Query(description="CLV from, EUR")] = None,
    max_clv: Annotated[float | None, Query(description="CLV to, EUR")] = None,
    min_loyalty: float | None = None,
    max_loyalty: float | None = None,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
    offset: Annotated[int, Query(ge=0, le=MAX_ID)] = 0,
    after_id: Annotated[int | None, Query(ge=0, le=MAX_ID, description="keyset: next_after_id of the previous page")] = None,
) -> SearchPageOut:
    """Search customers (filters combine with AND), ordered by id. Staff, admin; marketing must filter by
    segment or a score range (and only by those) and gets the customer id, segment and scores only
    (``SegmentHitOut``: no name, contact details or credit band)."""
    query = SearchQuery(name=name, email=email, phone=phone, segment=segment, min_churn=min_churn,
                        max_churn=max_churn, min_clv=min_clv, max_clv=max_clv, min_loyalty=min_loyalty,
                        max_loyalty=max_loyalty)
    marketing = staff.role == "marketing"
    if marketing and query.uses_contact_details:
        raise HTTPException(status.HTTP_403_FORBIDDEN,
                            "The marketing role may search by segment and scores only.")
    if marketing and not query.used_filters():
        raise InvalidInput("The marketing role must filter by segment or a score range (min_/max_churn, "
                           "min_/max_clv, min_/max_loyalty).", field="segment")
    page = search_customers(query, limit=limit, offset=offset, after_id=after_id)
    record_accesses(staff.username, staff.role, [h.id for h in page.items], "search",
                    f"filters: {','.join(query.used_filters()) or 'none'}")
    items: list[CustomerHitOut] | list[SegmentHitOut] = (
        [SegmentHitOut.from_view(h) for h in page.items] if marketing
        else [CustomerHitOut.from_view(h) for h in page.items])
    return SearchPageOut(items=items,
                         limit=page.limit, offset=page.offset, next_offset=page.next_offset,
                         next_after_id=page.next_after_id)


@router.get("/{customer_id}", response_model=Customer360Out, responses=_ONE)
def read_360(customer_id: CustomerId, staff: StaffDep, response: Response) -> Customer360Out:
    """The customer 360 (profile, contact points, consents, products, scores, recent interactions). Staff,
    admin. The ``ETag`` header is the profile version to send back in ``If-Match`` when updating."""
    view = get_customer_360(customer_id)
    record_access(staff.username, staff.role, customer_id, "read_360")
    response.headers["ETag"] = _etag(view.version)
    return Customer360Out.from_view(view)


@router.patch(
    "/{customer_id}", response_model=ProfileUpdateOut,
    responses={**_WRITE, 428: {"model": ErrorOut, "description": "no version given (If-Match or body version)"}},
)
def update(
    customer_id: CustomerId, body: ProfileUpdateIn, staff: StaffDep, response: Response,
    if_match: IfMatch = None,
) -> ProfileUpdateOut:
    """Change profile fields (contact details, demographics, household, income, region); only the fields sent.
    Needs the version read (``If-Match`` header or body ``version``): 409 when the profile changed since.
    Invalid values: 422 naming the field, nothing written. Staff, admin; audited."""
    header_version = _if_match(if_match)
    if header_version is not None and body.version is not None and header_version != body.version:
        raise InvalidInput("If-Match and version disagree.", field="version")
    version = header_version if header_version is not None else body.version
    if version is None:
        raise HTTPException(status.HTTP_428_PRECONDITION_REQUIRED,
                            "Send the profile version you read: If-Match header or body version.")
    changes = body.model_dump(exclude_unset=True, exclude={"version"})
    result = update_profile(customer_id, changes, expected_version=version, actor=staff.username, channel=CHANNEL)
    response.headers["ETag"] = _etag(result.version)
    return ProfileUpdateOut(customer_id=result.customer_id, version=result.version,
                            changes=[FieldChangeOut(field=c.field, old_value=c.old_value, new_value=c.new_value)
                                     for c in result.changes])


@router.get("/{customer_id}/consents", response_model=list[ConsentOut], responses=_ONE)
def read_consents(customer_id: CustomerId, staff: StaffDep) -> list[ConsentOut]:
    """Every consent recorded (purpose, channel, granted, source, when). Staff, admin."""
    rows = list_consents(customer_id)
    record_access(staff.username, staff.role, customer_id, "consents")
    return [ConsentOut.from_view(c) for c in rows]


@router.put("/{customer_id}/consents", response_model=ConsentOut, responses=_WRITE)
def write_consent(
    customer_id: CustomerId, body: ConsentIn, staff: StaffDep, if_match: IfMatch = None,
) -> ConsentOut:
    """Record one consent choice for a purpose and channel (timestamped, with its source; audited; marketing/all
    also sets the profile's marketing flag). ``If-Match`` optional: 409 when the profile changed since."""
    view = set_consent(customer_id, body.purpose, body.channel, body.granted, source=body.source,
                       actor=f"staff:{staff.username}", expected_version=_if_match(if_match))
    return ConsentOut.from_view(view)


@router.get("/{customer_id}/timeline", response_model=TimelineOut, responses=_ONE)
def timeline(
    customer_id: CustomerId, staff: StaffDep,
    kind: Annotated[list[str] | None, Query(description="only these kinds (repeat the parameter)")] = None,
    limit: Annotated[int, Query(ge=1, le=100)] = 50,
    cursor: Annotated[str | None, Query(max_length=200)] = None,
) -> TimelineOut:
    """The customer's interactions, newest first, paginated by ``cursor``. Staff, admin."""
    page = list_timeline(customer_id, kinds=kind, limit=limit, cursor=cursor)
    record_access(staff.username, staff.role, customer_id, "timeline", f"kinds: {','.join(kind or []) or 'all'}")
    return TimelineOut(items=[InteractionOut.from_view(i) for i in page.items], next_cursor=page.next_cursor)


@router.post("/{customer_id}/notes", response_model=InteractionOut, status_code=status.HTTP_201_CREATED,
             responses=_ONE)
def add_note(customer_id: CustomerId, body: NoteIn, staff: StaffDep) -> InteractionOut:
    """Add a staff note to the timeline (kind ``staff_note``, direction internal, actor = you; audited)."""
    return InteractionOut.from_view(add_staff_note(customer_id, body.text, staff=staff.username, channel=CHANNEL))


@router.get("/{customer_id}/export", response_model=dict[str, Any], responses=_ONE)
def export(customer_id: CustomerId, staff: AdminDep, response: Response) -> dict[str, Any]:
    """All data held on the customer, one list of rows per table (data-subject access request). Admin only."""
    data = hide_sender_ids(export_customer(customer_id))  # conversations by opaque id, never Rasa's sender id
    record_access(staff.username, staff.role, customer_id, "export")
    response.headers["Content-Disposition"] = f'attachment; filename="customer-{customer_id}.json"'
    return data


@router.get("/{customer_id}/access-log", response_model=list[AccessOut], responses=_AUTH)
def access_log(
    customer_id: CustomerId, staff: AdminDep, limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> list[AccessOut]:
    """Who read this customer's record, newest first (also after an erasure: the log outlives the customer).
    Admin only."""
    return [AccessOut.from_view(r) for r in list_access(customer_id, limit=limit)]


@router.delete("/{customer_id}", response_model=ErasureOut, responses=_ONE)
def erase(customer_id: CustomerId, staff: AdminDep) -> ErasureOut:
    """Erase the customer: every row about them in one transaction (audited as an erasure, without personal
    data), then every conversation that ever carried their identity (linked, messenger, or any token naming
    them, even expired) in Rasa's tracker store and the event broker's table; on SQLite both files are then
    vacuumed and their WAL truncated. ``complete`` is false
    when a conversation could not be erased (``conversations[i].error`` says why): the erasure record
    ``erasure_id`` keeps the pending conversations, retried with ``POST /erasures/{erasure_id}/retry``. Admin
    only."""
    result = erase_customer(customer_id, actor=staff.username, channel=CHANNEL)
    conversations = erase_conversations(result.sender_ids)
    record_conversation_outcomes(result.erasure_id, [(c.sender_id, c.erased, c.error) for c in conversations])
    try:
        broker = erase_broker_events(result.sender_ids)
    except SQLAlchemyError:
        broker = None
    compact_after_erasure()  # SQLite: the erased values must not stay in free pages or the WAL
    record_access(staff.username, staff.role, customer_id, "erase",
                  f"conversations: {len(conversations)}, erased: {sum(c.erased for c in conversations)}")
    return ErasureOut(
        customer_id=customer_id, deleted=result.deleted,
        conversations=[ConversationErasureOut(conversation=conversation_ref(c.sender_id), erased=c.erased, method=c.method,
                                              error=c.error) for c in conversations],
        broker_events_deleted=broker, audit_id=result.audit_id, erasure_id=result.erasure_id,
        complete=all(c.erased for c in conversations),
    )
