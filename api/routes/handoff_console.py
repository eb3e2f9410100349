"""Live hand-off for the contact centre: the queue, taking a conversation, chatting, handing back; pages and JSON.

Pages (same sign-in cookie as the other staff pages; staff and admin only, marketing 403):

    GET  /staff/handoffs                    the queue: waiting conversations (waiting time, customer, channel,
                                            last turns, masked) and those in progress; refreshes every 15 s
    POST /staff/handoffs/{id}/take          take it (409-like message when someone has it) -> the live page
    GET  /staff/handoffs/{id}               live page: the conversation (polled every 3 s), reply form,
                                            "Hand back to the bot"
    GET  /staff/handoffs/{id}/turns?after=N the live page's poll (JSON, cookie): messages stored after event N
    POST /staff/handoffs/{id}/messages      send a message to the customer
    POST /staff/handoffs/{id}/hand-back     resume the bot, close the hand-off

Every POST needs an ``Origin`` naming this site (``require_same_origin``, as the console's forms).

JSON API (Bearer staff token): ``GET /handoffs/queue``, ``POST /handoffs/{id}/take``, ``GET
/handoffs/{id}/conversation?after=``, ``POST /handoffs/{id}/messages`` ``{text}``, ``POST
/handoffs/{id}/hand-back``. Errors: 404 unknown hand-off, 409 taken by someone / not taken / closed / the web
chat page is not open, 403 someone else's conversation, 422 bad text (e.g. a card number), 502 Rasa failed.
"""

from __future__ import annotations

from dataclasses import asdict
from datetime import datetime
from typing import Annotated, Any, Final
from urllib.parse import urlencode

from fastapi import APIRouter, HTTPException, Query, Request, status
from fastapi import Path as PathParam
from fastapi.responses import FileResponse, JSONResponse, RedirectResponse, Response
from pydantic import BaseModel, Field

from api.deps import StaffDep
from api.live_handoff import Outcome, PageClosed, RasaUnavailable, hand_back, send_message, take
from api.routes.staff_console import SameOrigin, _form
from api.routes.staff_pages import PAGE_ROLES, SECURITY_HEADERS, STATIC, _authenticate, _error, _page
from api.schemas import ErrorOut, ValidationErrorOut
from profiles import StaffIdentity
from profiles.errors import Conflict, InvalidInput, NotAllowed, NotFound
from profiles.live_handoff import MESSAGE_MAX, HandoffItem, LiveTurn, handoff_queue, live_conversation

POLL_SECONDS: Final = 3
QUEUE_REFRESH_SECONDS: Final = 15
LIVE_CSP: Final = ("default-src 'none'; style-src 'self'; img-src 'self' data:; script-src 'self'; "
                   "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'")
ID_MAX: Final = 2**31 - 1


def waited(seconds: int) -> str:
    """A waiting time as staff read it: "45 s", "3 min", "2 h 05 min"."""
    if seconds < 60:
        return f"{seconds} s"
    minutes = seconds // 60
    if minutes < 60:
        return f"{minutes} min"
    return f"{minutes // 60} h {minutes % 60:02d} min"


def _hid(raw: str) -> int | None:
    value = raw.strip()
    if not value.isascii() or not value.isdigit() or len(value) > 10 or not 0 < int(value) <= ID_MAX:
        return None
    return int(value)


# ---------------------------------------------------------------------------------------------------- pages


def _staff_and_handoff(request: Request, handoff_id: str) -> tuple[StaffIdentity, int] | Response:
    """The signed-in staff member and the hand-off number of a page URL, or the page to answer instead (sign-in
    again, or 404 for a number that is not one)."""
    who = _authenticate(request, PAGE_ROLES)
    if isinstance(who, Response):
        return who
    hid = _hid(handoff_id)
    if hid is None:
        return _error(request, 404, "No such hand-off", "There is no hand-off with that number.", who)
    return who, hid

pages = APIRouter(prefix="/staff/handoffs", tags=["hand-off pages"], include_in_schema=False)


def _redirect(location: str) -> Response:
    response = RedirectResponse(location, status_code=303)
    response.headers.update(SECURITY_HEADERS)
    return response


def _to(path: str, **message: str) -> Response:
    return _redirect(path + ("?" + urlencode(message) if message else ""))


@pages.get("")
def queue_page(request: Request) -> Response:
    """The hand-off queue (staff, admin)."""
    who = _authenticate(request, PAGE_ROLES)
    if isinstance(who, Response):
        return who
    queue = handoff_queue(staff=who.username, role=who.role)
    return _page(request, "staff/handoffs/queue.html", who=who, queue=queue, waited=waited,
                 refresh=QUEUE_REFRESH_SECONDS, done=request.query_params.get("done"),
                 error=request.query_params.get("error"))


@pages.get("-static/live.js", include_in_schema=False)
def live_script() -> Response:
    """The live page's poller (public: no data in it)."""
    return FileResponse(STATIC / "handoff-live.js", media_type="text/javascript",
                        headers={"Cache-Control": "max-age=300"})


@pages.post("/{handoff_id}/take")
def take_page(request: Request, handoff_id: str, _origin: SameOrigin) -> Response:
    """Take the conversation and go to its live page; a clear message when someone else has it."""
    found = _staff_and_handoff(request, handoff_id)
    if isinstance(found, Response):
        return found
    who, hid = found
    try:
        outcome = take(hid, staff=who.username)
    except NotFound as exc:
        return _error(request, 404, "No such hand-off", exc.user_message, who)
    except Conflict as exc:
        return _to("/staff/handoffs", error=exc.user_message)
    except RasaUnavailable as exc:
        return _to("/staff/handoffs", error=f"Not taken: {exc.message}")
    return _to(f"/staff/handoffs/{outcome.handoff_id}", done=outcome.note)


def _live_page(request: Request, who: StaffIdentity, hid: int) -> Response:
    try:
        live = live_conversation(hid, staff=who.username, role=who.role)
    except NotFound as exc:
        return _error(request, 404, "No such hand-off", exc.user_message, who)
    response = _page(request, "staff/handoffs/live.html", who=who, live=live, h=live.item, waited=waited,
                     mine=live.item.status == "taken" and live.item.taken_by == who.username,
                     message_max=MESSAGE_MAX, poll=POLL_SECONDS, done=request.query_params.get("done"),
                     error=request.query_params.get("error"))
    response.headers["Content-Security-Policy"] = LIVE_CSP
    return response


@pages.get("/{handoff_id}")
def live_page(request: Request, handoff_id: str) -> Response:
    """The live conversation of a hand-off, with the reply form for the staff member who took it."""
    found = _staff_and_handoff(request, handoff_id)
    if isinstance(found, Response):
        return found
    who, hid = found
    return _live_page(request, who, hid)


def _turn_json(t: LiveTurn) -> dict[str, Any]:
    return {"event_id": t.event_id, "who": t.who, "text": t.text, "at": t.at.isoformat(), "agent": t.agent}


@pages.get("/{handoff_id}/turns")
def turns_poll(request: Request, handoff_id: str, after: str = "0") -> Response:
    """The live page's poll: the messages stored after event ``after`` and the hand-off's state (JSON)."""
    who = _authenticate(request, PAGE_ROLES)
    if isinstance(who, Response):
        return JSONResponse({"detail": "Sign in again."}, status_code=401, headers=SECURITY_HEADERS)
    hid, since = _hid(handoff_id), _hid(after) if after.strip() not in ("", "0") else 0
    if hid is None or since is None:
        return JSONResponse({"detail": "Bad hand-off or event number."}, status_code=422, headers=SECURITY_HEADERS)
    try:
        live = live_conversation(hid, staff=who.username, role=who.role, after=since)
    except NotFound as exc:
        return JSONResponse({"detail": exc.user_message}, status_code=404, headers=SECURITY_HEADERS)
    body = {"turns": [_turn_json(t) for t in live.turns], "last_event_id": live.last_event_id,
            "status": live.item.status, "taken_by": live.item.taken_by}
    return JSONResponse(body, headers=SECURITY_HEADERS)


@pages.post("/{handoff_id}/{what}")
async def act_page(request: Request, handoff_id: str, what: str, _origin: SameOrigin) -> Response:
    """The live page's forms: ``messages`` (send) and ``hand-back``."""
    who = _authenticate(request, PAGE_ROLES)
    if isinstance(who, Response):
        return who
    hid = _hid(handoff_id)
    if hid is None or what not in ("messages", "hand-back"):
        return _error(request, 404, "Not found", "There is no such hand-off or form.", who)
    back = f"/staff/handoffs/{hid}"
    try:
        if what == "messages":
            form = await _form(request)
            outcome = send_message(hid, form.get("text", ""), staff=who.username, role=who.role)
            return _to(back, done=outcome.note)
        outcome = hand_back(hid, staff=who.username, role=who.role)
        return _to("/staff/handoffs", done=f"H{outcome.handoff_id}: {outcome.note}")
    except NotFound as exc:
        return _error(request, 404, "No such hand-off", exc.user_message, who)
    except (Conflict, NotAllowed, InvalidInput) as exc:
        return _to(back, error=exc.user_message)
    except PageClosed as exc:
        return _to(back, error=exc.message)
    except RasaUnavailable as exc:
        return _to(back, error=exc.message)


# -------------------------------------------------------------------------------------------------- JSON API

api = APIRouter(prefix="/handoffs", tags=["handoffs"])

_AUTH: dict[int | str, dict[str, Any]] = {
    401: {"model": ErrorOut, "description": "no, malformed, expired or forged staff token"},
    403: {"model": ErrorOut, "description": "marketing, or another staff member's conversation"},
    422: {"model": ValidationErrorOut, "description": "invalid input; `detail[0].loc` names the field"},
}
_ONE: dict[int | str, dict[str, Any]] = {
    **_AUTH, 404: {"model": ErrorOut, "description": "no such hand-off"},
    409: {"model": ErrorOut, "description": "taken by someone, not taken, closed, or the web chat page is not open"},
    502: {"model": ErrorOut, "description": "Rasa could not do it (unreachable, refused): nothing changed there"},
}
HandoffId = Annotated[int, PathParam(ge=1, le=ID_MAX, description="the hand-off number (H12 -> 12)")]


class TurnOut(BaseModel):
    """A message, masked: ``who`` customer | bot | agent (``agent`` = the staff username)."""

    event_id: int
    who: str
    text: str
    at: datetime
    agent: str | None


class HandoffItemOut(BaseModel):
    """A conversation in the queue (never a sender id: ``conversation`` is the opaque ref)."""

    id: int
    conversation: str
    status: str
    customer_id: int | None
    customer: str | None = Field(description="the customer's name; null = anonymous")
    channel: str
    created_at: datetime
    waiting_seconds: int
    requests: int
    reason: str
    last_turns: list[TurnOut]
    taken_by: str | None
    taken_at: datetime | None
    transcript: str = Field(description="the staff console's transcript page")


class QueueOut(BaseModel):
    waiting: list[HandoffItemOut]
    in_progress: list[HandoffItemOut]


class LiveOut(BaseModel):
    handoff: HandoffItemOut
    turns: list[TurnOut]
    last_event_id: int = Field(description="pass as `after` to get only newer messages")


class MessageIn(BaseModel):
    text: str = Field(min_length=1, max_length=MESSAGE_MAX)


class OutcomeOut(BaseModel):
    id: int
    conversation: str
    channel: str
    delivered: bool = Field(description="sent on the customer's channel (false: stored only, or not told)")
    note: str


def _item_out(i: HandoffItem) -> HandoffItemOut:
    data = asdict(i)
    return HandoffItemOut(
        id=i.id, conversation=i.ref, status=i.status, customer_id=i.customer_id, customer=i.customer,
        channel=i.channel, created_at=i.created_at, waiting_seconds=i.waiting_seconds, requests=i.requests,
        reason=i.reason, last_turns=[TurnOut(**t) for t in data["last_turns"]], taken_by=i.taken_by,
        taken_at=i.taken_at, transcript=f"/staff/conversations/{i.ref}")


def _outcome(o: Outcome) -> OutcomeOut:
    return OutcomeOut(id=o.handoff_id, conversation=o.ref, channel=o.channel, delivered=o.delivered, note=o.note)


def _call(fn: Any, *args: Any, **kwargs: Any) -> Outcome:
    try:
        result: Outcome = fn(*args, **kwargs)
    except PageClosed as exc:
        raise HTTPException(status.HTTP_409_CONFLICT, exc.message) from None
    except RasaUnavailable as exc:
        raise HTTPException(status.HTTP_502_BAD_GATEWAY, exc.message) from None
    return result


@api.get("/queue", response_model=QueueOut, responses=_AUTH)
def api_queue(staff: StaffDep) -> QueueOut:
    """Waiting conversations (oldest first) and those taken, with their last turns (masked); access-logged."""
    q = handoff_queue(staff=staff.username, role=staff.role)
    return QueueOut(waiting=[_item_out(i) for i in q.waiting], in_progress=[_item_out(i) for i in q.in_progress])


@api.post("/{handoff_id}/take", response_model=OutcomeOut, responses=_ONE)
def api_take(staff: StaffDep, handoff_id: HandoffId) -> OutcomeOut:
    """Take the conversation: the bot is paused and the customer told who they are talking to. 409 when
    someone (or you) already has it."""
    return _outcome(_call(take, handoff_id, staff=staff.username))


@api.get("/{handoff_id}/conversation", response_model=LiveOut, responses=_ONE)
def api_conversation(staff: StaffDep, handoff_id: HandoffId,
                     after: Annotated[int | None, Query(ge=0, le=2**62)] = None) -> LiveOut:
    """The conversation's messages (only those after event `after` when given), masked; access-logged."""
    live = live_conversation(handoff_id, staff=staff.username, role=staff.role, after=after)
    return LiveOut(handoff=_item_out(live.item), turns=[TurnOut(**asdict(t)) for t in live.turns],
                   last_event_id=live.last_event_id)


@api.post("/{handoff_id}/messages", response_model=OutcomeOut, status_code=201, responses=_ONE)
def api_message(staff: StaffDep, handoff_id: HandoffId, body: MessageIn) -> OutcomeOut:
    """Send a message to the customer in the conversation you have taken (audited; no card/IBAN numbers)."""
    return _outcome(_call(send_message, handoff_id, body.text, staff=staff.username, role=staff.role))


@api.post("/{handoff_id}/hand-back", response_model=OutcomeOut, responses=_ONE)
def api_hand_back(staff: StaffDep, handoff_id: HandoffId) -> OutcomeOut:
    """Resume the bot, tell the customer, close the hand-off (the staff member who took it, or an admin)."""
    return _outcome(_call(hand_back, handoff_id, staff=staff.username, role=staff.role))

