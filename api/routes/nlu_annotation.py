"""NLU annotation (issue 13 item 4): the staff console's inbox of user messages to confirm or correct, the export
of reviewed examples into training data and the held-out accuracy before/after, as pages and as JSON.

Pages (staff and admin; marketing 403; same sign-in cookie as the console; every POST needs this site's Origin):

    GET  /staff/annotations                  inbox (threshold=0.5), decision forms, recent decisions, accuracy
    POST /staff/annotations/{event_id}       decide: intent (a select of the domain's intents), entities
    POST /staff/annotations/export           write data/nlu/reviewed.yml

The transcript view's "Wrong intent" button posts to ``/staff/conversations/{ref}/wrong-intent``
(api/routes/staff_console.py). JSON API (Bearer staff token): ``GET /annotations``, ``POST
/annotations/{event_id}`` ``{intent, entities}``, ``POST /annotations/{event_id}/flag``, ``POST
/annotations/export``, ``GET /annotations/accuracy``. The rules are in profiles/nlu_annotation.py.
"""

from __future__ import annotations

import pathlib
from dataclasses import asdict
from datetime import datetime
from typing import Annotated, Any, Final

from fastapi import APIRouter, Path, Query, Request
from fastapi.responses import Response
from pydantic import BaseModel, Field

from api.deps import StaffDep
from api.routes.staff_console import SameOrigin, _form, _redirect
from api.routes.staff_pages import PAGE_ROLES, _authenticate, _error, _page
from api.schemas import ErrorOut, ValidationErrorOut
from profiles.errors import InvalidInput, NotFound
from profiles.nlu_annotation import (
    DEFAULT_THRESHOLD,
    ROOT,
    EvalRun,
    accuracy_history,
    decide,
    domain_entities,
    domain_intents,
    export_reviewed,
    flag_wrong,
    list_decisions,
    list_inbox,
)

EVENT_ID_MAX: Final = 2**63 - 1

pages = APIRouter(prefix="/staff/annotations", tags=["nlu annotation pages"], include_in_schema=False)
api = APIRouter(prefix="/annotations", tags=["nlu annotation"])


def _threshold(raw: str | None) -> float:
    text = (raw or "").strip()
    if not text:
        return DEFAULT_THRESHOLD
    try:
        value = float(text)
    except ValueError:
        raise InvalidInput("threshold must be a number between 0 and 1.", field="threshold") from None
    if not 0.0 <= value <= 1.0:
        raise InvalidInput("threshold must be a number between 0 and 1.", field="threshold")
    return value


def _back(**message: str) -> Response:
    from urllib.parse import urlencode  # noqa: PLC0415 - only here

    return _redirect("/staff/annotations?" + urlencode(message))


def _shown(path: pathlib.Path) -> str:
    """The file's path relative to the repository when inside it (``data/nlu/reviewed.yml``), else its name."""
    try:
        return str(path.resolve().relative_to(ROOT))
    except ValueError:
        return path.name


def _before_after(runs: list[EvalRun]) -> tuple[EvalRun | None, EvalRun | None]:
    if not runs:
        return None, None
    return (runs[-2] if len(runs) >= 2 else None), runs[-1]


@pages.get("")
def annotation_page(request: Request) -> Response:
    """The annotation inbox with the held-out accuracy of the last two evaluations (staff, admin)."""
    who = _authenticate(request, PAGE_ROLES)
    if isinstance(who, Response):
        return who
    error = request.query_params.get("error")
    try:
        threshold = _threshold(request.query_params.get("threshold"))
    except InvalidInput as exc:
        threshold, error = DEFAULT_THRESHOLD, exc.user_message
    before, after = _before_after(accuracy_history())
    return _page(request, "staff/console/annotations.html", 422 if error and "threshold" in error else 200, who=who,
                 items=list_inbox(threshold), decisions=list_decisions(20), intents=domain_intents(),
                 entities=domain_entities(), threshold=threshold, before=before, after=after,
                 done=request.query_params.get("done"), error=error)


@pages.post("/export")
def export_page(request: Request, _origin: SameOrigin) -> Response:
    """Write the reviewed examples to data/nlu/reviewed.yml and say what was written and skipped."""
    who = _authenticate(request, PAGE_ROLES)
    if isinstance(who, Response):
        return who
    r = export_reviewed(staff=who.username)
    return _back(done=f"Exported {r.total} examples to {_shown(r.path)}; skipped {r.duplicate} duplicates, "
                      f"{r.masked} with masked values, {r.heldout} held-out test texts, {r.erased} erased or gone. "
                      "Run make train, then make eval-nlu.")


@pages.post("/{event_id}")
async def decide_page(request: Request, event_id: int, _origin: SameOrigin) -> Response:
    """Confirm or correct one message's intent (and entities)."""
    who = _authenticate(request, PAGE_ROLES)
    if isinstance(who, Response):
        return who
    try:
        form = await _form(request)
        if not 0 < event_id <= EVENT_ID_MAX:
            raise NotFound("There is no such customer message.")
        a = decide(event_id, form.get("intent", ""), form.get("entities", ""), staff=who.username)
    except NotFound as exc:
        return _error(request, 404, "No such message", exc.user_message, who)
    except InvalidInput as exc:
        return _back(error=exc.user_message)
    return _back(done=f"{'Confirmed' if a.status == 'confirmed' else 'Corrected to'} {a.intent}.")


# -------------------------------------------------------------------------------------------------- JSON API

_AUTH: dict[int | str, dict[str, Any]] = {
    401: {"model": ErrorOut, "description": "no, malformed, expired or forged staff token"},
    403: {"model": ErrorOut, "description": "the token's role may not do this (marketing)"},
    422: {"model": ValidationErrorOut, "description": "invalid input; `detail[0].loc` names the field"},
}
_ONE = {**_AUTH, 404: {"model": ErrorOut, "description": "no such user message (or an erased customer's)"}}
EventId = Annotated[int, Path(ge=1, le=EVENT_ID_MAX)]


class InboxItemOut(BaseModel):
    """A message to annotate (masked text; ``duplicates`` = messages with the same normalised text)."""

    event_id: int
    ref: str
    at: datetime
    text: str
    intent: str | None
    confidence: float | None
    entities: list[tuple[str, str]]
    flagged_by: str | None
    duplicates: int


class InboxOut(BaseModel):
    threshold: float
    items: list[InboxItemOut]
    intents: list[str] = Field(description="the intents a decision may name")
    entities: list[str] = Field(description="the entities a decision may name")


class DecisionIn(BaseModel):
    intent: str = Field(min_length=1, max_length=80)
    entities: list[tuple[str, str]] = Field(default_factory=list, max_length=10,
                                            description="[entity, value] pairs; each value a part of the text")


class DecisionOut(BaseModel):
    event_id: int
    status: str = Field(description="confirmed or corrected")
    intent: str
    entities: list[dict[str, str]]
    decided_by: str


class ExportOut(BaseModel):
    path: str = Field(description="the file written, relative to the repository (data/nlu/reviewed.yml; the "
                                  "setting NLU_REVIEWED_FILE)")
    written: dict[str, int] = Field(description="examples per intent")
    total: int
    duplicate: int
    masked: int
    heldout: int
    erased: int


class EvalRunOut(BaseModel):
    evaluated_at: str
    model_sha256: str
    accuracy: float
    macro_f1: float | None
    n: int


class AccuracyOut(BaseModel):
    before: EvalRunOut | None
    after: EvalRunOut | None


@api.get("", response_model=InboxOut, responses=_AUTH)
def api_inbox(staff: StaffDep, threshold: Annotated[float, Query(ge=0, le=1)] = DEFAULT_THRESHOLD,
              limit: Annotated[int, Query(ge=1, le=200)] = 50) -> InboxOut:
    """User messages below ``threshold`` confidence or marked wrong, not decided, de-duplicated, masked."""
    return InboxOut(threshold=threshold, items=[InboxItemOut(**asdict(i)) for i in list_inbox(threshold, limit)],
                    intents=list(domain_intents()), entities=list(domain_entities()))


@api.post("/export", response_model=ExportOut, responses=_AUTH)
def api_export(staff: StaffDep) -> ExportOut:
    """Write data/nlu/reviewed.yml from every exportable decision (see the module docstring of the rules)."""
    r = export_reviewed(staff=staff.username)
    return ExportOut(path=_shown(r.path), written=r.written, total=r.total, duplicate=r.duplicate,
                     masked=r.masked, heldout=r.heldout, erased=r.erased)


@api.get("/accuracy", response_model=AccuracyOut, responses=_AUTH)
def api_accuracy(staff: StaffDep) -> AccuracyOut:
    """The held-out accuracy of the last two ``make eval-nlu`` runs (null when there were fewer)."""
    before, after = _before_after(accuracy_history())
    return AccuracyOut(before=EvalRunOut(**asdict(before)) if before else None,
                       after=EvalRunOut(**asdict(after)) if after else None)


@api.post("/{event_id}/flag", status_code=204, responses=_ONE)
def api_flag(staff: StaffDep, event_id: EventId) -> Response:
    """Mark a user message's intent wrong (it enters the inbox; idempotent)."""
    flag_wrong(event_id, staff=staff.username)
    return Response(status_code=204)


@api.post("/{event_id}", response_model=DecisionOut, responses=_ONE)
def api_decide(staff: StaffDep, event_id: EventId, body: DecisionIn) -> DecisionOut:
    """Confirm or correct the intent (and entities) of one user message; audited."""
    a = decide(event_id, body.intent, body.entities, staff=staff.username)
    return DecisionOut(event_id=a.event_id, status=a.status, intent=a.intent or "", entities=a.entities or [],
                       decided_by=a.decided_by or "")
