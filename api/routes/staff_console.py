"""The staff console: conversation inbox, transcript view and review workflow, as pages and as JSON.

Pages (server-rendered like api/routes/staff_pages.py, same sign-in cookie; staff and admin only, marketing 403):

    GET  /staff/conversations                      inbox: filters, full-text search, saved filters, bulk form
    GET  /staff/conversations/export?format=csv|json   the filtered conversations, masked (download)
    POST /staff/conversations/bulk                 tag/untag/reviewed/unreviewed/assign every filtered one
    POST /staff/conversations/saved-filters        save the current filter (name) / .../{id}/delete
    GET  /staff/conversations/{ref}                transcript (access-logged)
    POST /staff/conversations/{ref}/tags           add a tag (free or from the list); .../untag
    POST /staff/conversations/{ref}/notes          add a note
    POST /staff/conversations/{ref}/assign         assign (empty: unassign)
    POST /staff/conversations/{ref}/review         mark reviewed / not reviewed
    POST /staff/conversations/{ref}/wrong-intent   a message's intent is wrong: into the NLU annotation inbox
    POST /staff/conversations/{ref}/unmask         admin: show one masked value, with a reason (audited)

Every POST of these pages needs an ``Origin`` header naming this site (``require_same_origin``): a foreign or
missing Origin is refused with 403 (the cookie is SameSite=Strict; this is the second fence). A POST answers
303 back to the page it came from (``back``) with a ``done``/``error`` message.

JSON API (Bearer staff token, ``api.deps.StaffDep``; documented in OpenAPI): ``GET /conversations``,
``GET /conversations/export``, ``GET /conversations/{ref}``, ``POST /conversations/{ref}/tags``,
``DELETE /conversations/{ref}/tags/{tag}``, ``POST /conversations/{ref}/notes``, ``PUT
/conversations/{ref}/review``, ``POST /conversations/bulk``, ``GET/POST /conversations/saved-filters``,
``DELETE /conversations/saved-filters/{id}``.
"""

from __future__ import annotations

from dataclasses import asdict
from datetime import datetime
from typing import Annotated, Any, Final, Literal
from urllib.parse import parse_qsl, quote, urlencode, urlsplit

from fastapi import APIRouter, Depends, HTTPException, Path, Query, Request, status
from fastapi.responses import FileResponse, RedirectResponse, Response
from pydantic import BaseModel, Field

from api.deps import StaffDep
from api.routes.staff_pages import FORM_MAX, PAGE_ROLES, SECURITY_HEADERS, STATIC, _authenticate, _error, _page
from api.schemas import ErrorOut, ValidationErrorOut
from profiles import StaffIdentity
from profiles.conversation_ref import HEX_DIGITS, PREFIX
from profiles.conversation_review import (
    BULK_ACTIONS,
    STANDARD_TAGS,
    add_note,
    add_tag,
    assign,
    bulk_action,
    delete_saved_filter,
    export_conversations,
    export_csv,
    export_json,
    list_saved_filters,
    remove_tag,
    save_filter,
    set_reviewed,
    transcript_with_reveal,
    unmask,
)
from profiles.conversations import (
    CHANNELS,
    FILTER_FIELDS,
    ConversationFilters,
    ConversationSummary,
    Transcript,
    get_transcript,
    list_conversations,
    parse_filters,
)
from profiles.errors import InvalidInput, NotAllowed, NotFound
from profiles.nlu_annotation import flag_wrong

FLAG_LABELS: Final = {"handoff": "hand-off requested", "fallback": "fallback hit", "form_abandoned": "form abandoned",
                      "transfer_done": "transfer done", "complaint": "complaint"}
REF_PATTERN: Final = rf"^{PREFIX}[0-9a-f]{{{HEX_DIGITS}}}$"


# ------------------------------------------------------------------------------------------ origin (CSRF)


def require_same_origin(request: Request) -> None:
    """Refuse (403) a state-changing request whose ``Origin`` header is missing, ``null`` or another site's.

    Browsers send Origin on every POST; a form posted from elsewhere names the other site.
    """
    origin = request.headers.get("origin")
    host = request.headers.get("host", "")
    if not origin or origin == "null" or urlsplit(origin).netloc != host:
        raise HTTPException(status.HTTP_403_FORBIDDEN, "This form must be sent from this site's own pages.")


SameOrigin = Annotated[None, Depends(require_same_origin)]


# ---------------------------------------------------------------------------------------------------- pages

pages = APIRouter(prefix="/staff/conversations", tags=["staff console pages"], include_in_schema=False)


def _redirect(location: str) -> Response:
    response = RedirectResponse(location, status_code=303)
    response.headers.update(SECURITY_HEADERS)
    return response


def _back(target: str, **message: str) -> Response:
    """303 to ``target`` (a path of these pages only) with ``done``/``error`` in its query."""
    if not target.startswith("/staff/conversations") or target.startswith("//") or "\\" in target:
        target = "/staff/conversations"
    parts = urlsplit(target)
    query = [(k, v) for k, v in parse_qsl(parts.query) if k not in ("done", "error")]
    query += list(message.items())
    return _redirect(parts.path + ("?" + urlencode(query) if query else ""))


async def _form(request: Request) -> dict[str, str]:
    body = await request.body()
    if len(body) > FORM_MAX:
        raise InvalidInput("The form is too large.", field="form")
    return dict(parse_qsl(body.decode("utf-8", "replace"), max_num_fields=60))


def _page_filters(request: Request) -> ConversationFilters:
    return parse_filters(dict(request.query_params))


def _query(filters: ConversationFilters, **extra: Any) -> str:
    return urlencode([*filters.query_items(), *((k, str(v)) for k, v in extra.items())])


@pages.get("")
def inbox_page(request: Request) -> Response:
    """The inbox: every channel's conversations, newest first, filtered (staff, admin)."""
    who = _authenticate(request, PAGE_ROLES)
    if isinstance(who, Response):
        return who
    saved = list_saved_filters(who.username)
    try:
        filters = _page_filters(request)
    except InvalidInput as exc:
        return _page(request, "staff/console/inbox.html", 422, who=who, filters=ConversationFilters(), page=None,
                     error=exc.user_message, saved=saved, **_inbox_context(ConversationFilters()))
    page = list_conversations(filters, staff=who.username, role=who.role)
    return _page(request, "staff/console/inbox.html", who=who, filters=filters, page=page,
                 error=request.query_params.get("error"), done=request.query_params.get("done"), saved=saved,
                 **_inbox_context(filters))


def _inbox_context(filters: ConversationFilters) -> dict[str, Any]:
    return {"channels": CHANNELS, "flags": FLAG_LABELS, "standard_tags": STANDARD_TAGS,
            "bulk_actions": BULK_ACTIONS, "query": _query(filters),
            "prev_query": _query(filters, page=filters.page - 1, per_page=filters.per_page),
            "next_query": _query(filters, page=filters.page + 1, per_page=filters.per_page)}


@pages.get("/export")
def export_page(request: Request, format: str = "csv") -> Response:
    """Download the filtered conversations, masked (CSV or JSON); every customer exported is access-logged."""
    who = _authenticate(request, PAGE_ROLES)
    if isinstance(who, Response):
        return who
    if format not in ("csv", "json"):
        return _error(request, 422, "Cannot export", "format must be csv or json.", who)
    params = {k: v for k, v in request.query_params.items() if k != "format"}
    try:
        filters = parse_filters(params)
    except InvalidInput as exc:
        return _error(request, 422, "Cannot export", exc.user_message, who)
    return _export_response(filters, format, who)


def _export_response(filters: ConversationFilters, format: str, who: StaffIdentity) -> Response:
    rows = export_conversations(filters, staff=who.username, role=who.role)
    body, media = (export_csv(rows), "text/csv") if format == "csv" else (export_json(rows), "application/json")
    headers = {**SECURITY_HEADERS, "Content-Disposition": f'attachment; filename="conversations.{format}"'}
    return Response(body, media_type=f"{media}; charset=utf-8", headers=headers)


@pages.post("/bulk")
async def bulk_page(request: Request, _origin: SameOrigin) -> Response:
    """Apply one action to every conversation of the filter the form carries (its ``filter_*`` fields)."""
    who = _authenticate(request, PAGE_ROLES)
    if isinstance(who, Response):
        return who
    try:
        form = await _form(request)
        filters = parse_filters({k[7:]: v for k, v in form.items() if k.startswith("filter_")})
        count = bulk_action(filters, form.get("action", ""), form.get("value"), staff=who.username)
    except InvalidInput as exc:
        return _back(f"/staff/conversations?{_query(ConversationFilters())}", error=exc.user_message)
    return _back(f"/staff/conversations?{_query(filters)}", done=f"{form.get('action')}: {count} conversations.")


@pages.post("/saved-filters")
async def save_filter_page(request: Request, _origin: SameOrigin) -> Response:
    """Save the filter the form carries under a name (the staff member's own list)."""
    who = _authenticate(request, PAGE_ROLES)
    if isinstance(who, Response):
        return who
    form = await _form(request)
    target = "/staff/conversations"
    try:
        filters = parse_filters({k[7:]: v for k, v in form.items() if k.startswith("filter_")})
        target += f"?{_query(filters)}"
        save_filter(who.username, form.get("name", ""), filters)
    except InvalidInput as exc:
        return _back(target, error=exc.user_message)
    return _back(target, done="Filter saved.")


@pages.post("/saved-filters/{filter_id}/delete")
def delete_filter_page(request: Request, filter_id: int, _origin: SameOrigin) -> Response:
    """Delete one of the staff member's saved filters."""
    who = _authenticate(request, PAGE_ROLES)
    if isinstance(who, Response):
        return who
    try:
        delete_saved_filter(who.username, filter_id)
    except NotFound as exc:
        return _back("/staff/conversations", error=exc.user_message)
    return _back("/staff/conversations", done="Filter deleted.")


def _transcript_page(request: Request, who: StaffIdentity, transcript: Transcript, status_code: int = 200,
                     **context: Any) -> Response:
    return _page(request, "staff/console/transcript.html", status_code, who=who, t=transcript, flags=FLAG_LABELS,
                 standard_tags=STANDARD_TAGS, done=request.query_params.get("done"),
                 error=request.query_params.get("error"), **context)


@pages.get("/{ref}")
def transcript_page(request: Request, ref: str) -> Response:
    """One conversation as the customer saw it, with intents, confidences, actions and slot changes (masked)."""
    who = _authenticate(request, PAGE_ROLES)
    if isinstance(who, Response):
        return who
    try:
        transcript = get_transcript(ref, staff=who.username, role=who.role)
    except NotFound:
        return _error(request, 404, "No such conversation", "There is no conversation with that reference.", who)
    return _transcript_page(request, who, transcript)


@pages.post("/{ref}/{what}")
async def review_page(request: Request, ref: str, what: str, _origin: SameOrigin) -> Response:
    """The transcript page's forms: ``tags``, ``untag``, ``notes``, ``assign``, ``review``, ``wrong-intent``,
    ``unmask``."""
    who = _authenticate(request, PAGE_ROLES)
    if isinstance(who, Response):
        return who
    back = f"/staff/conversations/{quote(ref)}"
    try:
        form = await _form(request)
        if what == "tags":
            tag = form.get("tag") or form.get("standard_tag") or ""
            done = f"Tagged {add_tag(ref, tag, staff=who.username)}."
        elif what == "untag":
            remove_tag(ref, form.get("tag", ""), staff=who.username)
            done = "Tag removed."
        elif what == "notes":
            add_note(ref, form.get("text", ""), staff=who.username)
            done = "Note added."
        elif what == "assign":
            assign(ref, form.get("assignee"), staff=who.username)
            done = "Assigned." if (form.get("assignee") or "").strip() else "Unassigned."
        elif what == "review":
            reviewed = form.get("reviewed") == "1"
            set_reviewed(ref, reviewed, staff=who.username)
            done = "Marked reviewed." if reviewed else "Marked not reviewed."
        elif what == "wrong-intent":  # the message enters the NLU annotation inbox (profiles/nlu_annotation.py)
            flag_wrong(_int(form.get("event_id"), "event_id"), staff=who.username, ref=ref)
            done = "Marked the intent wrong: the message is in the annotation inbox."
        elif what == "unmask":
            event_id, item = _int(form.get("event_id")), _int(form.get("item"))
            unmask(ref, event_id, item, form.get("reason", ""), staff=who.username, role=who.role)
            transcript = transcript_with_reveal(ref, event_id, item, staff=who.username, role=who.role)
            return _transcript_page(request, who, transcript, revealed=event_id)
        else:
            return _error(request, 404, "Not found", "There is no such form.", who)
    except NotFound as exc:
        return _error(request, 404, "No such conversation", exc.user_message, who)
    except NotAllowed as exc:
        return _error(request, 403, "Not allowed", exc.user_message, who)
    except InvalidInput as exc:
        return _back(back, error=exc.user_message)
    return _back(back, done=done)


def _int(value: str | None, field: str = "item") -> int:
    text = (value or "").strip()
    if not text.isascii() or not text.isdigit() or len(text) > 9:
        raise InvalidInput("Pick a value to show." if field == "item" else "Pick a message.", field=field)
    return int(text)


# -------------------------------------------------------------------------------------------------- JSON API

api = APIRouter(prefix="/conversations", tags=["conversations"])

_AUTH: dict[int | str, dict[str, Any]] = {
    401: {"model": ErrorOut, "description": "no, malformed, expired or forged staff token"},
    403: {"model": ErrorOut, "description": "the token's role may not do this (marketing)"},
    422: {"model": ValidationErrorOut, "description": "invalid input; `detail[0].loc` names the field"},
}
_ONE = {**_AUTH, 404: {"model": ErrorOut, "description": "no such conversation"}}
Ref = Annotated[str, Path(pattern=REF_PATTERN, description="the opaque conversation reference (`c-` + 20 hex)")]


class ConversationOut(BaseModel):
    """One inbox row (no raw sender id: ``ref`` is opaque)."""

    ref: str
    customer_id: int | None
    customer: str | None = Field(description="the linked customer's name; null = anonymous")
    channel: str | None
    started_at: datetime
    last_at: datetime
    turns: int = Field(description="user messages")
    flags: dict[str, bool] = Field(description="handoff, fallback, form_abandoned, transfer_done, complaint")
    tags: list[str]
    reviewed: bool
    assignee: str | None
    segment: str | None
    csat: int | None


class ConversationPageOut(BaseModel):
    items: list[ConversationOut]
    total: int
    page: int
    per_page: int
    total_exact: bool = Field(True, description="false: a search for a very common word, paged newest-first; "
                                                "total is then a lower bound (this page's end, +1 if there are more)")


class TurnOut(BaseModel):
    """A transcript line: kind user|bot|action|form; texts, entity and slot values masked."""

    kind: str
    at: datetime
    event_id: int
    text: str | None
    intent: str | None
    confidence: float | None
    entities: list[tuple[str, str]]
    buttons: list[str]
    extra: list[str]
    action: str | None
    slots: list[tuple[str, str]]
    maskable: int
    agent: str | None = Field(None, description="bot turns a staff member wrote (live hand-off): their username")


class NoteOut(BaseModel):
    staff: str
    text: str
    created_at: datetime


class TranscriptOut(BaseModel):
    conversation: ConversationOut
    turns: list[TurnOut]
    notes: list[NoteOut]


class TagIn(BaseModel):
    tag: str = Field(min_length=1, max_length=60, description=f"free text or one of {', '.join(STANDARD_TAGS)}")


class NoteIn(BaseModel):
    text: str = Field(min_length=1, max_length=2000)


class ReviewIn(BaseModel):
    reviewed: bool | None = None
    assignee: str | None = Field(None, max_length=80, description="staff username; empty string unassigns")


class BulkIn(BaseModel):
    filters: dict[str, str] = Field(default_factory=dict, description="the inbox filters (query names)")
    action: Literal["tag", "untag", "reviewed", "unreviewed", "assign"]
    value: str | None = Field(None, max_length=80, description="the tag or assignee")


class BulkOut(BaseModel):
    changed: int


class SavedFilterIn(BaseModel):
    name: str = Field(min_length=1, max_length=60)
    filters: dict[str, str] = Field(default_factory=dict)


class SavedFilterOut(BaseModel):
    id: int
    name: str
    query: str
    created_at: datetime


def _summary_out(s: ConversationSummary) -> ConversationOut:
    return ConversationOut(**{**asdict(s), "tags": list(s.tags)})


def api_filters(
    request: Request,
    q: Annotated[str | None, Query(max_length=200, description="full-text words (all in one message)")] = None,
    channel: Annotated[Literal["rest", "socketio", "telegram", "facebook"] | None, Query()] = None,
    customer: Annotated[Literal["known", "anonymous"] | None, Query()] = None,
    handoff: bool | None = None, fallback: bool | None = None, form_abandoned: bool | None = None,
    transfer_done: bool | None = None, complaint: bool | None = None, reviewed: bool | None = None,
    tag: Annotated[str | None, Query(max_length=40)] = None,
    assignee: Annotated[str | None, Query(max_length=80)] = None,
    intent: Annotated[str | None, Query(max_length=80)] = None,
    min_confidence: Annotated[float | None, Query(ge=0, le=1)] = None,
    max_confidence: Annotated[float | None, Query(ge=0, le=1)] = None,
    date_from: Annotated[str | None, Query(description="YYYY-MM-DD (UTC)")] = None,
    date_to: Annotated[str | None, Query(description="YYYY-MM-DD (UTC), inclusive")] = None,
    segment: Annotated[str | None, Query(max_length=40)] = None,
    csat: Annotated[Literal["1", "2", "3", "4", "5", "rated", "unrated", "low"] | None,
                    Query(description="the customer's last satisfaction score; low = 1 or 2")] = None,
    page: Annotated[int, Query(ge=1, le=100_000)] = 1,
    per_page: Annotated[int, Query(ge=1, le=200)] = 25,
) -> ConversationFilters:
    """The inbox filters as query parameters (the same names as the pages' form)."""
    params = {k: v for k, v in request.query_params.items() if k in (*FILTER_FIELDS, "page", "per_page")}
    return parse_filters(params)


Filters = Annotated[ConversationFilters, Depends(api_filters)]


@api.get("", response_model=ConversationPageOut, responses=_AUTH)
def api_list(staff: StaffDep, filters: Filters) -> ConversationPageOut:
    """Every channel's conversations, newest first (last activity), filtered and paged. Staff and admin."""
    page = list_conversations(filters, staff=staff.username, role=staff.role)
    return ConversationPageOut(items=[_summary_out(s) for s in page.items], total=page.total, page=page.page,
                               per_page=page.per_page, total_exact=page.total_exact)


@api.get("/export", responses={**_AUTH, 200: {"content": {"text/csv": {}, "application/json": {}}}})
def api_export(staff: StaffDep, filters: Filters, format: Literal["csv", "json"] = "json") -> Response:
    """The filtered conversations (at most 5,000) with masked messages, as CSV or JSON; access-logged."""
    return _export_response(filters, format, staff)


@api.get("/saved-filters", response_model=list[SavedFilterOut], responses=_AUTH)
def api_saved_filters(staff: StaffDep) -> list[SavedFilterOut]:
    """The caller's saved filters."""
    return [SavedFilterOut(**asdict(v)) for v in list_saved_filters(staff.username)]


@api.post("/saved-filters", response_model=SavedFilterOut, status_code=201, responses=_AUTH)
def api_save_filter(staff: StaffDep, body: SavedFilterIn) -> SavedFilterOut:
    """Save (or overwrite by name) one of the caller's filters."""
    return SavedFilterOut(**asdict(save_filter(staff.username, body.name, parse_filters(body.filters))))


@api.delete("/saved-filters/{filter_id}", status_code=204, responses={**_AUTH, 404: {"model": ErrorOut}})
def api_delete_filter(staff: StaffDep, filter_id: Annotated[int, Path(ge=1, le=2**31 - 1)]) -> Response:
    """Delete one of the caller's saved filters (404 for another staff member's)."""
    delete_saved_filter(staff.username, filter_id)
    return Response(status_code=204)


@api.post("/bulk", response_model=BulkOut, responses=_AUTH)
def api_bulk(staff: StaffDep, body: BulkIn) -> BulkOut:
    """Apply one action to every conversation the filters match (at most 1,000, else 422)."""
    return BulkOut(changed=bulk_action(parse_filters(body.filters), body.action, body.value, staff=staff.username))


@api.get("/{ref}", response_model=TranscriptOut, responses=_ONE)
def api_transcript(staff: StaffDep, ref: Ref) -> TranscriptOut:
    """One transcript, masked; the read is written to the access log."""
    t = get_transcript(ref, staff=staff.username, role=staff.role)
    return TranscriptOut(conversation=_summary_out(t.summary), turns=[TurnOut(**asdict(x)) for x in t.turns],
                         notes=[NoteOut(**asdict(n)) for n in t.notes])


@api.post("/{ref}/tags", response_model=ConversationOut, responses=_ONE)
def api_add_tag(staff: StaffDep, ref: Ref, body: TagIn) -> ConversationOut:
    """Tag a conversation (idempotent)."""
    add_tag(ref, body.tag, staff=staff.username)
    return _reread(ref, staff)


@api.delete("/{ref}/tags/{tag}", response_model=ConversationOut, responses=_ONE)
def api_remove_tag(staff: StaffDep, ref: Ref, tag: Annotated[str, Path(max_length=60)]) -> ConversationOut:
    """Remove a tag."""
    remove_tag(ref, tag, staff=staff.username)
    return _reread(ref, staff)


@api.post("/{ref}/notes", response_model=ConversationOut, status_code=201, responses=_ONE)
def api_add_note(staff: StaffDep, ref: Ref, body: NoteIn) -> ConversationOut:
    """Add a staff note (card/IBAN numbers in it are masked when stored)."""
    add_note(ref, body.text, staff=staff.username)
    return _reread(ref, staff)


@api.put("/{ref}/review", response_model=ConversationOut, responses=_ONE)
def api_review(staff: StaffDep, ref: Ref, body: ReviewIn) -> ConversationOut:
    """Mark reviewed / not reviewed and/or assign (fields left out are unchanged)."""
    if body.reviewed is not None:
        set_reviewed(ref, body.reviewed, staff=staff.username)
    if body.assignee is not None:
        assign(ref, body.assignee, staff=staff.username)
    return _reread(ref, staff)


def _reread(ref: str, staff: StaffIdentity) -> ConversationOut:
    return _summary_out(get_transcript(ref, staff=staff.username, role=staff.role).summary)



@pages.get("-static/console.css", include_in_schema=False)
def console_stylesheet() -> Response:
    """The console's stylesheet (public: no data in it)."""
    return FileResponse(STATIC / "console.css", media_type="text/css", headers={"Cache-Control": "max-age=3600"})
