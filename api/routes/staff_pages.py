"""Server-rendered staff pages: the analyses dashboard and one customer's 360 (Jinja2 + matplotlib charts).

    GET  /staff                       dashboard: segment sizes and profiles, churn-risk distribution, CLV by
                                      segment (marketing, staff, admin); staff/admin also see the highest
                                      churn-risk customers (each shown is access-logged)
    GET  /staff/customers/{id}        one customer's 360 with products, consent, scores and timeline (staff,
                                      admin; every view is written to the access log)
    GET  /staff/customers?id=N        the customer lookup form's target: redirects to /staff/customers/N
    GET  /staff/sign-in               sign-in form: paste a staff token (``python -m profiles.staff staff``)
    POST /staff/sign-in               token checked, kept in an HttpOnly, SameSite=Strict cookie
    POST /staff/sign-out              cookie removed
    (both POSTs: 403 unless from these pages: Sec-Fetch-Site / Origin / Referer, see ``_same_origin``)
    GET  /staff/static/staff.css      the stylesheet

A page accepts either ``Authorization: Bearer <staff token>`` or the sign-in cookie. Without either a browser is
sent to the sign-in page (303); a bad Bearer token gets 401, a role that may not see the page 403, an unknown
customer 404, each as an HTML page. Charts are PNGs rendered with matplotlib's Agg backend from the aggregate
queries of ``profiles.reports`` (cached per data) and inlined as data URIs, each with alt text and its numbers
in a table. Pages are sent with ``Cache-Control: no-store`` and a strict Content-Security-Policy.
"""

from __future__ import annotations

import base64
import io
import threading
from collections.abc import Callable, Sequence
from datetime import datetime
from decimal import Decimal
from functools import lru_cache
from pathlib import Path
from typing import Any, Final
from urllib.parse import parse_qs, quote, urlsplit

from fastapi import APIRouter, Request
from fastapi.responses import FileResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates
from matplotlib.figure import Figure
from matplotlib.ticker import PercentFormatter

from profiles import StaffIdentity, verify_staff_token
from profiles.errors import IdentityError, NotAllowed, NotFound
from profiles.money import eur
from profiles.reports import ChurnBin, SegmentProfile, customer_page, dashboard, highest_churn_risk
from profiles.settings import get_settings

API_DIR: Final = Path(__file__).resolve().parent.parent
TEMPLATES: Final = Jinja2Templates(directory=str(API_DIR / "templates"))
STATIC: Final = API_DIR / "static"
COOKIE: Final = "nova_staff"
PAGE_ROLES: Final = ("staff", "admin")  # a customer's 360
DASHBOARD_ROLES: Final = ("staff", "marketing", "admin")
TOKEN_MAX: Final = 4096
FORM_MAX: Final = 8192
SECURITY_HEADERS: Final = {
    "Content-Security-Policy": ("default-src 'none'; style-src 'self'; img-src 'self' data:; form-action 'self'; "
                                "frame-ancestors 'none'; base-uri 'none'"),
    "X-Content-Type-Options": "nosniff",
    # same-origin, not no-referrer: with no-referrer browsers send "Origin: null" on our own form posts
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",
}
BAND_COLOURS: Final = {"low": "#2e7d32", "medium": "#f9a825", "high": "#c62828"}
PALETTE: Final = ("#1565c0", "#6a1b9a", "#00838f", "#ef6c00", "#4e342e", "#ad1457", "#558b2f", "#37474f")

router = APIRouter(prefix="/staff", tags=["staff pages"], include_in_schema=False)


# ------------------------------------------------------------------------------------------- template filters


def _eur(value: Decimal | float | None, places: int = 2) -> str:
    if value is None:
        return "–"
    return eur(value, places)


def _pct(value: float | None, places: int = 1) -> str:
    return "–" if value is None else f"{value * 100:.{places}f}%"


def _num(value: float | int | None, places: int = 1) -> str:
    return "–" if value is None else f"{value:,.{places}f}"


def _when(value: datetime | None) -> str:
    return "–" if value is None else value.strftime("%Y-%m-%d %H:%M UTC")


def _day(value: datetime | None) -> str:
    return "–" if value is None else value.strftime("%Y-%m-%d")


TEMPLATES.env.filters.update(eur=_eur, pct=_pct, num=_num, when=_when, day=_day)


# ------------------------------------------------------------------------------------------------ responses


def _page(request: Request, template: str, status_code: int = 200, *, who: StaffIdentity | None = None,
          **context: Any) -> Response:
    response = TEMPLATES.TemplateResponse(request, template, {"who": who, **context}, status_code=status_code)
    response.headers.update(SECURITY_HEADERS)
    return response


def _error(request: Request, status_code: int, title: str, message: str, who: StaffIdentity | None = None) -> Response:
    response = _page(request, "staff/error.html", status_code, who=who, title=title, message=message)
    if status_code == 401:
        response.headers["WWW-Authenticate"] = "Bearer"
    return response


def household_text(size: int | None, children: int | None) -> str:
    """The household line of the 360 page: "3 people, 1 child", "1 person, no children", "size not known,
    2 children", "not known" (neither recorded)."""
    if size is None and children is None:
        return "not known"
    people = "size not known" if size is None else f"{size} {'person' if size == 1 else 'people'}"
    if children is None:
        return f"{people}, children not known"
    kids = "no children" if children == 0 else f"{children} {'child' if children == 1 else 'children'}"
    return f"{people}, {kids}"


def _safe_next(value: str | None) -> str:
    """Only a path of these pages is a place to return to after sign-in (no open redirect)."""
    if value and value.startswith("/staff") and not value.startswith("//") and "\\" not in value:
        parts = urlsplit(value)
        if not parts.scheme and not parts.netloc:
            return value
    return "/staff"


def _to_sign_in(request: Request, message: str | None = None, clear: bool = False) -> Response:
    target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    location = f"/staff/sign-in?next={quote(_safe_next(target), safe='')}"
    if message:
        location += "&expired=1"
    response = RedirectResponse(location, status_code=303)
    response.headers.update(SECURITY_HEADERS)
    if clear:
        response.delete_cookie(COOKIE, path="/staff")
    return response


def _authenticate(request: Request, roles: tuple[str, ...]) -> StaffIdentity | Response:
    """The staff member behind the Bearer header or the sign-in cookie, or the response to send instead."""
    header = request.headers.get("authorization", "")
    scheme, _, credentials = header.partition(" ")
    bearer = credentials.strip() if scheme.lower() == "bearer" else None
    cookie = request.cookies.get(COOKIE)
    token = bearer or cookie
    if not token:
        return _to_sign_in(request)
    try:
        return verify_staff_token(token, roles)
    except NotAllowed:
        who = verify_staff_token(token)
        return _error(request, 403, "Not allowed",
                      f"The {who.role} role may not open this page. Ask an administrator if you need it.", who)
    except IdentityError:
        if bearer:
            return _error(request, 401, "Sign-in required", "The staff token sent is not valid or has expired.")
        return _to_sign_in(request, "expired", clear=True)


# ---------------------------------------------------------------------------------------------------- charts

_chart_lock = threading.Lock()


def _png(draw: Callable[[Figure], None], width: float = 7.0, height: float = 3.6) -> str:
    """Render a figure with matplotlib's Agg canvas (no pyplot state) and return a PNG data URI."""
    figure = Figure(figsize=(width, height), dpi=100, layout="constrained")
    with _chart_lock:
        draw(figure)
        buffer = io.BytesIO()
        figure.savefig(buffer, format="png")
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode()


def _colours(names: Sequence[str]) -> list[str]:
    return [PALETTE[i % len(PALETTE)] for i in range(len(names))]


@lru_cache(maxsize=16)
def segment_sizes_chart(segments: tuple[SegmentProfile, ...]) -> str:
    """Horizontal bars: customers per segment, with their share."""

    def draw(fig: Figure) -> None:
        ax = fig.subplots()
        names = [s.segment for s in segments][::-1]
        counts = [s.customers for s in segments][::-1]
        bars = ax.barh(names, counts, color=_colours(names)[::-1])
        ax.bar_label(bars, labels=[f"{c:,} ({s.share:.0%})" for c, s in zip(counts, segments[::-1], strict=True)],
                     padding=3, fontsize=9)
        ax.set_xlabel("customers")
        ax.set_title("Segment sizes")
        ax.margins(x=0.25)
        ax.spines[["top", "right"]].set_visible(False)

    return _png(draw, height=max(2.4, 0.55 * len(segments) + 1.2))


@lru_cache(maxsize=16)
def segment_profiles_chart(segments: tuple[SegmentProfile, ...]) -> str:
    """Four small panels, one bar per segment: mean age, balance, products held and churn probability."""

    def draw(fig: Figure) -> None:
        names = [s.segment for s in segments]
        panels: list[tuple[str, list[float]]] = [
            ("mean age (years)", [s.mean_age or 0.0 for s in segments]),
            ("mean balance (EUR)", [float(s.mean_balance or 0) for s in segments]),
            ("mean products held", [s.mean_products or 0.0 for s in segments]),
            ("mean churn probability", [s.mean_churn or 0.0 for s in segments]),
        ]
        axes = fig.subplots(2, 2)
        for ax, (title, values) in zip(axes.flat, panels, strict=True):
            ax.barh(names[::-1], values[::-1], color=_colours(names)[::-1])
            ax.set_title(title, fontsize=10)
            ax.tick_params(labelsize=8)
            ax.spines[["top", "right"]].set_visible(False)

    return _png(draw, width=8.0, height=max(3.6, 0.6 * len(segments) + 2.4))


@lru_cache(maxsize=16)
def churn_chart(bins: tuple[ChurnBin, ...], bands: tuple[str, ...]) -> str:
    """Histogram of churn probability (bins of ``profiles.reports.CHURN_BINS``), stacked by churn-risk band; the
    x axis ends at the highest non-empty bin (at least 0.2): churn probabilities crowd at the low end."""

    def draw(fig: Figure) -> None:
        ax = fig.subplots()
        lowers = sorted({b.lower for b in bins})
        width = lowers[1] - lowers[0] if len(lowers) > 1 else 0.1
        bottom = dict.fromkeys(lowers, 0)
        for i, band in enumerate(bands):
            heights = {b.lower: b.customers for b in bins if b.band == band}
            xs = [x for x in lowers if x in heights]
            ax.bar([x + width / 2 for x in xs], [heights[x] for x in xs], width=width * 0.95,
                   bottom=[bottom[x] for x in xs], label=band,
                   color=BAND_COLOURS.get(band, PALETTE[i % len(PALETTE)]), edgecolor="white")
            for x in xs:
                bottom[x] += heights[x]
        ax.set_xlim(0, max(0.2, max(b.upper for b in bins)))
        ax.xaxis.set_major_formatter(PercentFormatter(1.0, decimals=0))
        ax.set_xlabel("churn probability")
        ax.set_ylabel("customers")
        ax.set_title("Churn-risk distribution")
        ax.legend(title="risk band", frameon=False)
        ax.spines[["top", "right"]].set_visible(False)

    return _png(draw)


@lru_cache(maxsize=16)
def clv_chart(segments: tuple[SegmentProfile, ...]) -> str:
    """Bars: mean customer lifetime value per segment (EUR), total CLV of the segment written on each."""

    def draw(fig: Figure) -> None:
        ax = fig.subplots()
        names = [s.segment for s in segments]
        bars = ax.bar(names, [s.mean_clv or 0.0 for s in segments], color=_colours(names))
        ax.bar_label(bars, labels=[f"total {_eur(s.total_clv, 0)}" for s in segments], padding=2, fontsize=8)
        ax.set_ylabel("mean CLV per customer (EUR)")
        ax.set_title("Customer lifetime value by segment")
        ax.tick_params(axis="x", labelsize=8, rotation=20)
        ax.spines[["top", "right"]].set_visible(False)

    return _png(draw)


# ----------------------------------------------------------------------------------------------------- pages


@router.get("/static/staff.css")
def stylesheet() -> FileResponse:
    """The pages' stylesheet (public: no data in it)."""
    return FileResponse(STATIC / "staff.css", media_type="text/css", headers={"Cache-Control": "max-age=3600"})


@router.get("/sign-in")
def sign_in_form(request: Request, next: str | None = None, expired: int | None = None) -> Response:
    """The sign-in form: a staff member pastes their token."""
    message = "Your session has ended: please sign in again." if expired else None
    return _page(request, "staff/sign_in.html", next=_safe_next(next), message=message, error=None)


def _same_origin(request: Request) -> bool:
    """Whether a form post comes from these pages (CSRF check on every state-changing form).

    The browser's ``Sec-Fetch-Site`` when sent (``same-origin`` or ``none``), else the ``Origin`` host, else the
    ``Referer`` host must be this server's ``Host``. A post with none of them is let through only without the
    sign-in cookie (a script or curl, which has no ambient credentials to abuse); a browser always sends
    ``Origin`` on a POST, so a cookie-carrying post without it is refused.
    """
    fetch_site = request.headers.get("sec-fetch-site")
    if fetch_site is not None:
        return fetch_site in ("same-origin", "none")
    host = request.headers.get("host", "")
    origin = request.headers.get("origin")
    if origin is not None:
        return origin != "null" and urlsplit(origin).netloc == host
    referer = request.headers.get("referer")
    if referer:
        return urlsplit(referer).netloc == host
    return COOKIE not in request.cookies


@router.post("/sign-in")
async def sign_in(request: Request) -> Response:
    """Check the pasted token; on success keep it in an HttpOnly, SameSite=Strict cookie and go on (303)."""
    if not _same_origin(request):
        return _error(request, 403, "Not allowed", "Sign in from this site's own sign-in page.")
    body = await request.body()
    if len(body) > FORM_MAX:
        return _page(request, "staff/sign_in.html", 413, next="/staff", message=None,
                     error="That is too long to be a staff token.")
    fields = parse_qs(body.decode("utf-8", "replace"), max_num_fields=10)
    token = (fields.get("token") or [""])[0].strip()
    target = _safe_next((fields.get("next") or [""])[0])
    if not token or len(token) > TOKEN_MAX:
        return _page(request, "staff/sign_in.html", 422 if not token else 413, next=target, message=None,
                     error="Please paste your staff token." if not token else "That is too long to be a staff token.")
    try:
        verify_staff_token(token)  # any staff role may sign in; each page checks its own roles
    except IdentityError:
        return _page(request, "staff/sign_in.html", 401, next=target, message=None,
                     error="That token is not a valid staff token, or it has expired.")
    response = RedirectResponse(target, status_code=303)
    response.headers.update(SECURITY_HEADERS)
    secure = request.url.scheme == "https" or get_settings().environment != "development"
    response.set_cookie(COOKIE, token, httponly=True, samesite="strict", secure=secure, path="/staff")
    return response


@router.post("/sign-out")
def sign_out(request: Request) -> Response:
    """Forget the sign-in cookie and show the sign-in page; 403 for a post from another site (CSRF)."""
    if not _same_origin(request):
        return _error(request, 403, "Not allowed", "Sign out from this site's own pages.")
    response = RedirectResponse("/staff/sign-in", status_code=303)
    response.headers.update(SECURITY_HEADERS)
    response.delete_cookie(COOKIE, path="/staff")
    return response


@router.get("")
def dashboard_page(request: Request) -> Response:
    """The analyses dashboard (marketing, staff, admin)."""
    who = _authenticate(request, DASHBOARD_ROLES)
    if isinstance(who, Response):
        return who
    data = dashboard()
    segments = data.segments
    band_names = tuple(b.band for b in data.churn_bands)
    charts: dict[str, str] = {}
    if segments:
        charts["sizes"] = segment_sizes_chart(segments)
        charts["profiles"] = segment_profiles_chart(segments)
        charts["clv"] = clv_chart(segments)
    if data.churn_bins:
        charts["churn"] = churn_chart(data.churn_bins, band_names)
    risk = highest_churn_risk(10, staff=who.username, role=who.role) if who.role in PAGE_ROLES else ()
    bins = sorted({(b.lower, b.upper) for b in data.churn_bins})
    table = [(lo, hi, {b.band: b.customers for b in data.churn_bins if b.lower == lo}) for lo, hi in bins]
    return _page(request, "staff/dashboard.html", who=who, data=data, charts=charts, risk=risk,
                 churn_table=table, band_names=band_names)


@router.get("/customers")
def find_customer(request: Request, id: str | None = None) -> Response:
    """Target of the lookup form: redirect to that customer's page."""
    who = _authenticate(request, PAGE_ROLES)
    if isinstance(who, Response):
        return who
    value = (id or "").strip()
    if not value.isdigit() or len(value) > 18:
        return _error(request, 404, "No such customer", "Give a customer number (digits only).", who)
    response = RedirectResponse(f"/staff/customers/{int(value)}", status_code=303)
    response.headers.update(SECURITY_HEADERS)
    return response


@router.get("/customers/{customer_id}")
def customer_360_page(request: Request, customer_id: str) -> Response:
    """One customer's 360 (staff, admin); the view is access-logged with the page read."""
    who = _authenticate(request, PAGE_ROLES)
    if isinstance(who, Response):
        return who
    if not customer_id.isascii() or not customer_id.isdigit() or len(customer_id) > 18:
        return _error(request, 404, "No such customer", "There is no customer with that number.", who)
    try:
        page = customer_page(int(customer_id), staff=who.username, role=who.role)
    except NotFound:
        return _error(request, 404, "No such customer", f"There is no customer number {int(customer_id)}.", who)
    scores = page.view.scores
    score_rows: list[tuple[str, str, str]] = []
    if scores is not None:
        versions = scores.model_versions
        score_rows = [
            ("Customer lifetime value", _eur(scores.clv), str(versions.get("clv", "–"))),
            ("Credit risk", f"{scores.credit_band or '–'} (default probability {_pct(scores.credit_default_probability)})",
             str(versions.get("credit", "–"))),
            ("Churn risk", f"{scores.churn_band or '–'} (probability {_pct(scores.churn_probability)})",
             str(versions.get("churn", "–"))),
            ("Segment", scores.segment or "–", str(versions.get("segments", versions.get("segment", "–")))),
            ("Loyalty", f"{scores.loyalty_tier or '–'} (score {_num(scores.loyalty_score, 2)})",
             str(versions.get("loyalty", "–"))),
            ("Behaviour", f"{scores.product_count if scores.product_count is not None else '–'} products, "
                          f"{scores.interactions_90d if scores.interactions_90d is not None else '–'} interactions "
                          f"in 90 days, last {scores.recency_days if scores.recency_days is not None else '–'} days ago",
             str(versions.get("behaviour", "–"))),
        ]
    return _page(request, "staff/customer.html", who=who, page=page, c=page.view, score_rows=score_rows,
                 household=household_text(page.view.household_size, page.view.children))
