"""The customer web chat page: a widget that talks to Rasa's socket.io channel from the browser.

    GET /chat                          the page; an anonymous visitor (FAQ answers, product information, asked
                                       to log in for anything about their accounts)
    GET /chat?demo_customer=N          development only (``ENVIRONMENT=development``): the page as if customer N
                                       had logged in to online banking, for the demo customers 1..5 only
                                       (``profiles.demo.DEMO_CUSTOMERS``); 404 in any other environment, 404
                                       for any other customer id, 422 for an id that is not a positive 32-bit
                                       integer
    GET /chat/static/{name}            the widget's script and stylesheet and the vendored socket.io client

A logged-in customer's page carries a signed customer token (``profiles.identity.issue_token``, valid
``TOKEN_MINUTES``) in a data attribute; the widget sends it once per connection in socket.io's
``session_request`` and the Rasa channel (``bot/socketio_channel.py``) attaches it to each message, where the
action server verifies it. In the bank's real site the page that embeds the widget would issue the token from
its own login session; the demo form stands in for that. The browser connects straight to Rasa at
``settings.rasa_url``; that origin is the only one the Content-Security-Policy lets the page connect to.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Final
from urllib.parse import urlsplit

from fastapi import APIRouter, Query, Request
from fastapi.responses import FileResponse, Response
from fastapi.templating import Jinja2Templates

from profiles.customers import get_customer
from profiles.demo import DEMO_CUSTOMERS, demo_enabled, is_demo_customer
from profiles.errors import NotFound
from profiles.identity import MAX_CUSTOMER_ID, issue_token
from profiles.settings import get_settings

API_DIR: Final = Path(__file__).resolve().parent.parent
TEMPLATES: Final = Jinja2Templates(directory=str(API_DIR / "templates"))
STATIC: Final = API_DIR / "static" / "chat"
TOKEN_MINUTES: Final = 30
STATIC_FILES: Final = {
    "widget.js": "text/javascript",
    "widget.css": "text/css",
    "socket.io.min.js": "text/javascript",
}

router = APIRouter(prefix="/chat", tags=["web chat"], include_in_schema=False)


def _origins(rasa_url: str) -> str:
    """The CSP ``connect-src`` sources for Rasa: its http(s) origin and the matching ws(s) one."""
    parts = urlsplit(rasa_url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        return ""
    ws = "wss" if parts.scheme == "https" else "ws"
    return f"{parts.scheme}://{parts.netloc} {ws}://{parts.netloc}"


def _headers(rasa_url: str) -> dict[str, str]:
    return {
        "Content-Security-Policy": (
            f"default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self' {_origins(rasa_url)}; "
            "img-src 'self' data:; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
        ),
        "X-Content-Type-Options": "nosniff",
        "Referrer-Policy": "same-origin",
        "Cache-Control": "no-store",
    }


@router.get("")
def chat_page(
    request: Request,
    demo_customer: Annotated[int | None, Query(ge=1, le=MAX_CUSTOMER_ID)] = None,
) -> Response:
    """The web chat page, anonymous or (development only) as demo customer ``demo_customer``.

    Raises:
        NotFound: ``demo_customer`` outside development, not a demo customer, or no such customer (404 page).
    """
    settings = get_settings()
    development = demo_enabled()
    headers = _headers(settings.rasa_url)
    customer = token = None
    if demo_customer is not None:
        try:
            if not development:
                raise NotFound("Demo log-in exists only in development.", detail="demo log-in outside development")
            if not is_demo_customer(demo_customer):
                raise NotFound(f"Demo log-in exists only for the demo customers {DEMO_CUSTOMERS[0]}-{DEMO_CUSTOMERS[-1]}.",
                               detail="demo log-in for a customer who is not a demo customer")
            customer = get_customer(demo_customer)
        except NotFound as exc:
            return TEMPLATES.TemplateResponse(
                request, "chat.html",
                {"error": exc.user_message, "customer": None, "token": None, "rasa_url": settings.rasa_url,
                 "development": development, "demo_customers": DEMO_CUSTOMERS},
                status_code=404, headers=headers,
            )
        token = issue_token(customer.id, ttl_minutes=TOKEN_MINUTES)
    return TEMPLATES.TemplateResponse(
        request, "chat.html",
        {"error": None, "customer": customer, "token": token, "rasa_url": settings.rasa_url,
         "development": development, "demo_customers": DEMO_CUSTOMERS},
        headers=headers,
    )


@router.get("/static/{name}")
def chat_static(name: str) -> Response:
    """One of the widget's files (``STATIC_FILES``); anything else 404."""
    media_type = STATIC_FILES.get(name)
    if media_type is None:
        return Response(status_code=404, content="not found", media_type="text/plain")
    return FileResponse(STATIC / name, media_type=media_type, headers={"Cache-Control": "no-cache",
                                                                       "X-Content-Type-Options": "nosniff"})
