"""Marketing pages under /staff (marketing and admin roles): build, preview, schedule and follow campaigns.

    GET  /staff/campaigns                  the campaigns and the form to build one (audience: segment, churn, CLV
                                           and loyalty ranges, the channel it must be reachable on, marketing
                                           consent, products held / not held, an optional propensity range, a
                                           limit; variants A and B, up to five with "Add a variant", each with
                                           its split, a default message and optional per-channel ones; schedule
                                           now, at, recurring or triggered by an event: card expiry, deposit
                                           maturity, payment due, churn crossing, checked daily at a time or by a
                                           rule; reminders may be let through quiet hours)
    POST /staff/campaigns                  the form: ``do=preview`` shows the dry run (nothing written),
                                           ``do=create`` stores a draft and goes to its page (303),
                                           ``do=add_variant`` shows the form again with one more variant
    GET  /staff/campaigns/{id}             state, audit, delivery counts, funnel per group, uplift with its 95%
                                           interval and a plot
    POST /staff/campaigns/{id}/{action}    schedule, pause, resume, cancel (303 back to the page)

Sign-in, roles and security headers are the staff pages' (``api.routes.staff_pages``). Every form post must
carry an ``Origin`` header of this very host: a foreign origin, ``null`` or no Origin at all is refused with
403 before anything is read or written (browsers send Origin on every POST; a script must set it).
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any, Final
from urllib.parse import parse_qs, urlsplit
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response
from matplotlib.figure import Figure
from pydantic import ValidationError

from api.campaign_preview import dry_run
from api.routes.marketing_campaigns import apply_action
from api.routes.staff_pages import FORM_MAX, SECURITY_HEADERS, _authenticate, _error, _page, _png
from profiles import StaffIdentity
from profiles.campaigns import delivery
from profiles.campaigns.spec import (
    CHANNELS,
    CONVERSIONS,
    MAX_VARIANTS,
    PROFILE_FIELDS,
    Audience,
    CampaignSpec,
    offer_places,
)
from profiles.campaigns.store import TRANSITIONS, create_campaign, get_campaign, list_campaigns
from profiles.campaigns.uplift import report
from profiles.db import session_scope
from profiles.errors import Conflict, InvalidInput, NotFound
from profiles.models import CustomerScore, utcnow
from profiles.push import REMINDER_TEMPLATES, push_timezone
from profiles.schemas import PRODUCT_IDS

ROLES: Final = ("marketing", "admin")
#: The build form's trigger events (``Schedule.event``) and their names on the page.
EVENT_NAMES: Final = {"card_expiry": "card expiry", "deposit_maturity": "term deposit maturity",
                      "payment_due": "loan payment due", "churn_crossing": "churn score crossing a threshold"}
ACTIONS: Final = ("schedule", "pause", "resume", "cancel")
#: The per-channel message overrides (``Variant.messages``) and their names on the page.
CHANNEL_NAMES: Final = {"telegram": "Telegram", "facebook": "Facebook", "socketio": "the web chat"}
#: Form fields that may carry several values (checkboxes); ``_form`` joins them with commas.
MULTI_FIELDS: Final = ("holds", "lacks")
FORM_FIELDS_MAX: Final = 150  # the form has ~60 fields, ~100 with five variants and every product ticked
#: The channels an audience may be required to be reachable on (``Audience.channel``) and their names on the page.
AUDIENCE_CHANNELS: Final = {"any": "any channel", "telegram": "Telegram", "facebook": "Facebook"}
#: The variants' keys in the form's field names (``content_c``, ``split_c``, ...); variant ``x`` is named ``X``.
VARIANT_KEYS: Final = "abcdefghij"[:MAX_VARIANTS]
_YES: Final = ("1", "on", "true", "yes")
_TIME = re.compile(r"^([01]?\d|2[0-3]):([0-5]\d)(?::[0-5]\d)?$")
LOG_PAGE: Final = 25  # recipients per page of the campaign page's delivery log
MAX_ID: Final = 2**31 - 1  # campaign ids are INTEGER columns (as the JSON API's ``CampaignId``)

router = APIRouter(prefix="/staff/campaigns", tags=["marketing pages"], include_in_schema=False)


def origin_ok(request: Request) -> bool:
    """True only when the post carries an ``Origin`` naming this host (a missing Origin is refused)."""
    origin = request.headers.get("origin")
    if not origin or origin == "null":
        return False
    return urlsplit(origin).netloc == request.headers.get("host", "")


def _segments() -> list[str]:
    from sqlalchemy import select  # noqa: PLC0415 - only this page needs it

    with session_scope() as session:
        return [s for s in session.scalars(select(CustomerScore.segment).distinct().order_by(CustomerScore.segment))
                if s]


def _choices() -> dict[str, Any]:
    return {"segments": _segments(), "templates": REMINDER_TEMPLATES, "products": sorted(PRODUCT_IDS),
            "conversions": CONVERSIONS, "events": list(EVENT_NAMES.items()), "channels": list(CHANNEL_NAMES.items()),
            "profile_fields": PROFILE_FIELDS, "audience_channels": list(AUDIENCE_CHANNELS.items())}


def shown_variants(form: dict[str, str], add: bool = False) -> str:
    """The variant keys the form shows: at least A and B, as many as ``variants_shown`` says (one more when
    ``add``) and every one that has a value, at most ``MAX_VARIANTS``."""
    try:
        shown = int(form.get("variants_shown", "2"))
    except ValueError:
        shown = 2
    used = [i + 1 for i, key in enumerate(VARIANT_KEYS)
            if any(form.get(name, "").strip() for name in _variant_values(key))]
    count = max(2, min(shown, MAX_VARIANTS), *used) + (1 if add else 0)
    return VARIANT_KEYS[:min(count, MAX_VARIANTS)]


class FormError(ValueError):
    """A form value the page itself cannot turn into the API's JSON; ``loc`` names the API field it fills."""

    def __init__(self, loc: str, message: str) -> None:
        super().__init__(message)
        self.loc = loc


def _message(kind: str, value: str, field: str = "") -> dict[str, Any]:
    message: dict[str, Any] = ({"kind": "offer", "product": value} if kind == "offer"
                               else {"kind": "reminder", "template": value})
    if field:  # the profile field of the greeting's placeholder; the schema refuses an unknown one
        message["fields"] = {"push_name": field}
    return message


def _channel_messages(form: dict[str, str], variant: str) -> dict[str, Any]:
    """A variant's per-channel overrides (``msg_<a|b>_<channel>``, name field ``field_<a|b>_<channel>``): a
    reminder template or an offer's product (the kind follows the value); an empty choice keeps the default."""
    out: dict[str, Any] = {}
    for channel in CHANNELS:
        value = form.get(f"msg_{variant}_{channel}", "").strip()
        if value:
            kind = "reminder" if value in REMINDER_TEMPLATES else "offer"
            out[channel] = _message(kind, value, form.get(f"field_{variant}_{channel}", "").strip())
    return out


def _products(form: dict[str, str], key: str) -> list[str]:
    return [p for p in (v.strip() for v in form.get(key, "").split(",")) if p]


def trigger_rule(form: dict[str, str]) -> str | None:
    """A trigger's check rule from the form: the advanced ``trigger_rule`` (five cron-like fields) when given,
    else ``trigger_time`` HH:MM as "every day at that time" (``"M H * * *"``), else None (the schema's default,
    09:00 daily).

    Raises:
        FormError: ``trigger_time`` is not a time of day (``loc`` ``schedule.rule``).
    """
    rule = " ".join(form.get("trigger_rule", "").split())
    if rule:
        return rule
    at = form.get("trigger_time", "").strip()
    if not at:
        return None
    match = _TIME.match(at)
    if not match:
        raise FormError("schedule.rule", f"the check time {at[:20]!r} is not a time of day (HH:MM, 00:00 to 23:59)")
    return f"{int(match[2])} {int(match[1])} * * *"


def _variant_values(key: str) -> list[str]:
    """The form fields that give variant ``key`` a value (its message, split or a per-channel message)."""
    return [f"content_{key}", f"split_{key}", *(f"msg_{key}_{channel}" for channel in CHANNELS)]


def spec_from_form(form: dict[str, str]) -> dict[str, Any]:
    """The ``CampaignSpec`` JSON of the build form's fields (validated by the caller). The schedule time, a
    recurring rule and its end date are read in the bank's push time zone (``settings.push_timezone``).

    Audience: ``segment``, the ranges ``min_|max_churn``, ``min_|max_clv`` (EUR) and ``min_|max_loyalty``,
    ``channel`` (``AUDIENCE_CHANNELS``: reachable on it), ``consent`` (``marketing``; absent: none), ``limit``
    (empty: the API's default); ``holds`` / ``lacks``: comma-separated catalogue products (``_form`` joins the
    ticked boxes). ``propensity_product`` (with ``propensity_min``, default 0, and ``propensity_max``, default 1):
    the audience's propensity filter; a bound without a product is refused by the schema
    (``audience.propensity.product``).

    Variants: A, then each of B, C, ... (``VARIANT_KEYS``) whose ``content_<key>`` is chosen, in order.
    ``split_<key>``: its percent of the treated; one variant gets 100; an empty split of the last variant is the
    rest (100 minus the others': B = 100 - A with two); another empty one is refused by the schema
    (``variants.N.split``). ``field_<key>``: the profile field of its default message's greeting;
    ``msg_<key>_<channel>`` (+ ``field_<key>_<channel>``): its message on that channel.

    ``when=trigger``: an event-triggered schedule of ``event`` (``EVENT_NAMES``) with ``days_before`` (date events)
    or ``threshold`` (``churn_crossing``), checked by :func:`trigger_rule` (daily at ``trigger_time`` or by the
    advanced ``trigger_rule``; 09:00 daily when both are empty), ``until`` optional. ``exempt_quiet_hours``
    (ticked): the campaign's reminders may go out in quiet hours. A non-number in a number field stays NaN (a
    fraction in a whole-number field stays a fraction), so the schema names the field.

    Raises:
        FormError: a value the page cannot even pass on (the trigger's check time); a variant left empty before a
            chosen one, or a per-channel message of an empty variant (``variants.N``); the quiet-hours exemption
            for a campaign that sends an offer (``schedule.exempt_quiet_hours``: transactional reminders only).
    """
    def num(key: str) -> float | None:
        value = form.get(key, "").strip()
        try:
            return float(value) if value else None
        except ValueError:
            return float("nan")  # refused by the schema, naming the field

    audience: dict[str, Any] = {"segment": form.get("segment") or None, "min_churn": num("min_churn"),
                                "max_churn": num("max_churn"), "min_clv": num("min_clv"), "max_clv": num("max_clv"),
                                "min_loyalty": num("min_loyalty"), "max_loyalty": num("max_loyalty"),
                                "channel": form.get("channel") or "any", "consent": form.get("consent") or "none",
                                "holds": _products(form, "holds"), "lacks": _products(form, "lacks")}
    if (limit := _int(num("limit"), None)) is not None:
        audience["limit"] = limit
    if (form.get("propensity_product") or form.get("propensity_min", "").strip()
            or form.get("propensity_max", "").strip()):
        audience["propensity"] = {"product": form.get("propensity_product") or None,
                                  "min": (v if (v := num("propensity_min")) is not None else 0.0),
                                  "max": (v if (v := num("propensity_max")) is not None else 1.0)}
    kind = form.get("kind", "reminder")

    def variant(key: str, split: int | float | None) -> dict[str, Any]:
        out: dict[str, Any] = {"name": key.upper(), "split": split,
                               "message": _message(kind, form.get(f"content_{key}", ""), form.get(f"field_{key}", ""))}
        if messages := _channel_messages(form, key):
            out["messages"] = messages
        return out

    keys = ["a"]
    for index, key in enumerate(VARIANT_KEYS[1:], start=1):
        if form.get(f"content_{key}"):
            if len(keys) < index:  # an empty variant before this one
                gap = VARIANT_KEYS[len(keys)]
                raise FormError(f"variants.{len(keys)}", f"variant {gap.upper()} has no message but variant "
                                f"{key.upper()} has: choose {gap.upper()}'s message or use {gap.upper()} first")
            keys.append(key)
        elif _channel_messages(form, key):
            raise FormError(f"variants.{index}", f"a message for variant {key.upper()} on a channel needs a variant "
                            f"{key.upper()}: choose its message")
    splits = {key: _int(num(f"split_{key}"), None) for key in keys}
    if len(keys) == 1:
        splits["a"] = 100
    elif splits[keys[-1]] is None:  # the last one gets the rest
        splits[keys[-1]] = 100 - sum(int(v) for k, v in splits.items()
                                     if k != keys[-1] and isinstance(v, int | float) and v == v and abs(v) < 1e9)
    variants = [variant(key, splits[key]) for key in keys]
    schedule: dict[str, Any] = {"kind": "now"}
    if form.get("when") == "at":
        at = form.get("at", "")
        try:
            local = datetime.fromisoformat(at)
            schedule = {"kind": "at", "at": (local if local.tzinfo else local.replace(tzinfo=push_timezone()))
                        .isoformat()}
        except ValueError:
            schedule = {"kind": "at", "at": None}
    elif form.get("when") in ("recurring", "trigger"):
        if form["when"] == "recurring":
            schedule = {"kind": "recurring", "rule": form.get("rule", "").strip() or None}
        else:
            event = form.get("event") or None
            schedule = {"kind": "trigger", "event": event}
            if (rule := trigger_rule(form)) is not None:
                schedule["rule"] = rule
            if event == "churn_crossing":
                schedule["threshold"] = num("threshold")
            else:
                schedule["days_before"] = _int(num("days_before"), 30)
        if form.get("until", "").strip():
            try:
                local = datetime.fromisoformat(form["until"].strip())
                schedule["until"] = (local if local.tzinfo else local.replace(tzinfo=push_timezone())).isoformat()
            except ValueError:
                schedule["until"] = "not a date"  # refused by the schema, naming schedule.until
    if exempt := form.get("exempt_quiet_hours", "").strip():
        schedule["exempt_quiet_hours"] = exempt  # "1"/"on" ticked; anything else refused by the schema
        if exempt.lower() in _YES and (offers := offer_places(variants)):  # the spec's rule, shown by its box
            raise FormError("schedule.exempt_quiet_hours", "only transactional reminders may go out in quiet "
                            f"hours: {offers[0]} is an offer")
    goal: dict[str, Any] = {"conversion": form.get("conversion", "offer_accepted"),
                            "product": form.get("goal_product") or None, "window_days": _int(num("window_days"), 14)}
    return {"name": form.get("name", "").strip(), "goal": goal, "audience": audience, "variants": variants,
            "control_pct": _int(num("control_pct"), 10), "schedule": schedule}


def _int(value: float | None, default: int | None) -> int | float | None:
    """A whole form number, the default when empty; a non-number (NaN) or a fraction stays as it is, so the schema
    names the field."""
    if value is None:
        return default
    return int(value) if value == value and abs(value) < 1e9 and value == int(value) else value


def _errors(exc: ValidationError) -> list[tuple[str, str]]:
    out = []
    for error in exc.errors():
        where = ".".join(str(p) for p in error.get("loc", ())) or "form"
        out.append((where, str(error.get("msg", ""))[:200]))
    return out


_AUDIENCE_FIELDS: Final = ("segment", "min_churn", "max_churn", "min_clv", "max_clv", "min_loyalty", "max_loyalty",
                            "channel", "consent", "limit", "holds", "lacks")
_PROPENSITY_FIELDS: Final = {"product": "propensity_product", "min": "propensity_min", "max": "propensity_max"}
_GOAL_FIELDS: Final = {"conversion": "conversion", "product": "goal_product", "window_days": "window_days"}
_SCHEDULE_FIELDS: Final = ("at", "until", "event", "days_before", "threshold", "exempt_quiet_hours")


def form_field(loc: str, form: dict[str, str]) -> str:
    """The build form's element (its ``id``) that holds the value an API error ``loc`` names (``audience.lacks.0``
    -> ``lacks``, ``variants.1.messages.telegram.fields`` -> ``field_b_telegram``, ``variants.2.split`` ->
    ``split_c``, ``schedule.rule`` -> the recurring rule, or the trigger's advanced rule / check time); a whole
    section (``audience``, ``schedule``, the variants' ``splits``: splits not summing to 100) when the error is
    about several fields; ``form`` when nothing on the form matches."""
    parts = loc.split(".")
    head, rest = parts[0], parts[1:]
    if head in ("name", "control_pct"):
        return head
    if head == "audience":
        if rest and rest[0] in _AUDIENCE_FIELDS:
            return rest[0]
        if rest and rest[0] == "propensity":
            return _PROPENSITY_FIELDS.get(rest[1], "propensity_product") if len(rest) > 1 else "propensity_max"
        return "audience"
    if head == "goal":
        return _GOAL_FIELDS.get(rest[0], "goal_product") if rest else "goal_product"
    if head == "variants":
        if not rest or not rest[0].isdigit() or int(rest[0]) >= len(VARIANT_KEYS) or rest[1:2] == ["name"]:
            return "splits"
        key = VARIANT_KEYS[int(rest[0])]
        if rest[1:2] == ["split"]:
            return f"split_{key}"
        if len(rest) == 1:  # the whole variant
            return f"content_{key}"
        if rest[1] == "message":
            return f"field_{key}" if rest[2:3] == ["fields"] else f"content_{key}"
        if rest[1] == "messages" and len(rest) > 2 and rest[2] in CHANNELS:
            return f"{'field' if rest[3:4] == ['fields'] else 'msg'}_{key}_{rest[2]}"
        return f"content_{key}"
    if head == "schedule":
        if rest and rest[0] in _SCHEDULE_FIELDS:
            return rest[0]
        if rest and rest[0] == "rule":
            if form.get("when") != "trigger":
                return "rule"
            return "trigger_rule" if form.get("trigger_rule", "").strip() else "trigger_time"
        return "schedule"
    return "form"


def _by_field(errors: list[tuple[str, str]], form: dict[str, str]) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for loc, message in errors:
        out.setdefault(form_field(loc, form), []).append(_text(loc, message))
    return out


def _text(loc: str, message: str) -> str:
    return message if loc == "form" else f"{loc}: {message}"


async def _form(request: Request) -> dict[str, str] | None:
    body = await request.body()
    if len(body) > FORM_MAX:
        return None
    try:
        fields = parse_qs(body.decode("utf-8", "replace"), max_num_fields=FORM_FIELDS_MAX)
    except ValueError:  # more fields than any form of this page has
        return None
    return {k: ",".join(v) if k in MULTI_FIELDS else v[0] for k, v in fields.items()}


def _index(request: Request, who: StaffIdentity, status_code: int = 200, **context: Any) -> Response:
    form = context.pop("form", {})
    errors: list[tuple[str, str]] = context.pop("errors", [])
    add = context.pop("add_variant", False)
    keys = shown_variants(form, add)
    return _page(request, "staff/campaigns/index.html", status_code, who=who, campaigns=list_campaigns(50),
                 choices=_choices(), form=form, variant_keys=keys, added=keys[-1] if add else None,
                 max_variants=MAX_VARIANTS, errors=[(form_field(loc, form), _text(loc, msg)) for loc, msg in errors],
                 field_errors=_by_field(errors, form), **context)


@router.get("")
def index(request: Request) -> Response:
    """The campaigns and the build form."""
    who = _authenticate(request, ROLES)
    if isinstance(who, Response):
        return who
    return _index(request, who)


@router.post("")
async def build(request: Request) -> Response:
    """Preview (dry run) or create a campaign from the form, or show it again with one more variant."""
    if not origin_ok(request):
        return _error(request, 403, "Not allowed", "Send this form from this site's own campaign page.")
    who = _authenticate(request, ROLES)
    if isinstance(who, Response):
        return who
    form = await _form(request)
    if form is None:
        return _error(request, 413, "Too large", "The form is too large.", who)
    if form.get("do") == "add_variant":  # nothing checked or written: the same form, one more variant to fill
        return _index(request, who, form=form, add_variant=True)
    try:
        spec = CampaignSpec.model_validate(spec_from_form(form))
    except (ValidationError, ValueError) as exc:
        if isinstance(exc, ValidationError):
            errors = _errors(exc)
        else:
            errors = [(exc.loc if isinstance(exc, FormError) else "form", str(exc))]
        return _index(request, who, 422, form=form, errors=errors)
    try:
        if form.get("do") == "create":
            view = create_campaign(spec, actor=f"staff:{who.username}")
            response = RedirectResponse(f"/staff/campaigns/{view.id}", status_code=303)
            response.headers.update(SECURITY_HEADERS)
            return response
        preview = dry_run(spec, now=utcnow())
    except (InvalidInput, Conflict) as exc:
        field = getattr(exc, "field", None) or ("name" if isinstance(exc, Conflict) else "form")
        return _index(request, who, 422 if isinstance(exc, InvalidInput) else 409, form=form,
                      errors=[(field, exc.user_message)])
    return _index(request, who, form=form, preview=preview)


def uplift_chart(data: dict[str, Any]) -> str:
    """PNG data URI: conversion rate per group, and the uplift with its 95% interval (all treated, then each
    variant against the control group)."""
    funnel = data["funnel"]
    groups = sorted(funnel, key=lambda g: (g == "control", g))
    rates = [funnel[g]["converted"] / funnel[g]["targeted"] if funnel[g]["targeted"] else 0 for g in groups]
    u = data["uplift"]

    def draw(fig: Figure) -> None:
        left, right = fig.subplots(1, 2)
        left.bar(groups, [r * 100 for r in rates], color=["#9e9e9e" if g == "control" else "#1565c0" for g in groups])
        left.set_ylim(0, max(max(rates) * 120, 1.0))
        left.set_ylabel("converted, % of targeted")
        left.set_title("Conversion by group")
        # the pooled uplift, then each arm against the control group
        shown = [("all treated", u), *((f"{v} - control", x) for v, x in (data.get("variants") or {}).items())]
        for i, (_, x) in enumerate(shown):
            right.errorbar([i], [x["uplift"] * 100], yerr=[[(x["uplift"] - x["ci_low"]) * 100],
                                                           [(x["ci_high"] - x["uplift"]) * 100]],
                           fmt="o", capsize=8, color="#c62828" if i == 0 else "#1565c0")
        right.axhline(0, color="#333", linewidth=0.8)
        right.set_xticks(range(len(shown)), [label for label, _ in shown])
        right.set_ylabel("uplift, percentage points")
        right.set_title("Uplift, 95% CI")

    return _png(draw, 8.0, 3.4)


def audience_summary(audience: dict[str, Any]) -> list[str]:
    """The stored audience's score ranges, channel, consent and limit as short phrases for the campaign page
    ("CLV from 500 to 2000 EUR", "reachable on Telegram", "at most 200 customers", ...)."""
    out = []
    for name, key, unit in (("churn", "churn", ""), ("CLV", "clv", " EUR"), ("loyalty", "loyalty", "")):
        low, high = audience.get(f"min_{key}"), audience.get(f"max_{key}")
        if low is not None or high is not None:
            out.append(f"{name}{f' from {low:g}' if low is not None else ''}{f' to {high:g}' if high is not None else ''}"
                       f"{unit}")
    if audience.get("channel", "any") != "any":
        out.append(f"reachable on {AUDIENCE_CHANNELS.get(audience['channel'], audience['channel'])}")
    if audience.get("consent") == "marketing":
        out.append("with marketing consent")
    if (limit := audience.get("limit")) is not None and limit != Audience.model_fields["limit"].default:
        out.append(f"at most {limit:,} customers")
    return out


def campaign_number(value: str) -> int | None:
    """The campaign id of a path segment, or None when no campaign can have it (not a number, not positive, over
    the INTEGER column: a 404 page like an unknown id, never a 500 or a JSON 422)."""
    if not value.isascii() or not value.isdigit() or len(value) > 10 or not 1 <= int(value) <= MAX_ID:
        return None
    return int(value)


@router.get("/{campaign_id}")
def detail(request: Request, campaign_id: str) -> Response:
    """One campaign's page."""
    who = _authenticate(request, ROLES)
    if isinstance(who, Response):
        return who
    number = campaign_number(campaign_id)
    try:
        if number is None:
            raise NotFound("No such campaign.")
        view = get_campaign(number)
    except NotFound:
        return _error(request, 404, "Not found", "No such campaign.", who)
    data = report(view.id)
    chart = uplift_chart(data) if data["funnel"] else None
    local = ZoneInfo(str(push_timezone()))
    # the per-recipient log: one status (an unknown one: all) and a page of LOG_PAGE rows from ``offset``
    status = request.query_params.get("status")
    status = status if status in delivery.STATUSES else None
    raw = request.query_params.get("offset", "")
    offset = int(raw) if raw.isascii() and raw.isdigit() and len(raw) <= 9 else 0
    shown = view.counts.get(status, 0) if status else sum(view.counts.values())
    log = delivery.log_rows(view.id, status=status, offset=offset, limit=LOG_PAGE)
    return _page(request, "staff/campaigns/detail.html", who=who, c=view, data=data, chart=chart, tz=local,
                 event_names=EVENT_NAMES, channel_names=CHANNEL_NAMES, filters=audience_summary(view.spec["audience"]),
                 actions=[a for a in ACTIONS if view.state in TRANSITIONS[a][0]], log=log, log_status=status,
                 log_offset=offset, log_total=shown, log_page=LOG_PAGE)


@router.post("/{campaign_id}/{action}")
def act(request: Request, campaign_id: str, action: str) -> Response:
    """Schedule, pause, resume or cancel, then back to the page."""
    if not origin_ok(request):
        return _error(request, 403, "Not allowed", "Send this form from this site's own campaign page.")
    who = _authenticate(request, ROLES)
    if isinstance(who, Response):
        return who
    if action not in ACTIONS:
        return _error(request, 404, "Not found", "No such action.", who)
    number = campaign_number(campaign_id)
    if number is None:
        return _error(request, 404, "Not found", "No such campaign.", who)
    try:
        apply_action(number, action, who)
    except NotFound:
        return _error(request, 404, "Not found", f"No campaign {number}.", who)
    except Conflict as exc:
        return _error(request, 409, "Not possible now", exc.user_message, who)
    response = RedirectResponse(f"/staff/campaigns/{number}", status_code=303)
    response.headers.update(SECURITY_HEADERS)
    return response
