"""The bank's staff and marketing API (FastAPI): ``uvicorn api.main:app``.

One router per resource lives in ``api/routes/`` and is mounted here; shared dependencies are in
``api/deps.py``. OpenAPI docs at ``/docs`` (Swagger UI from local assets: ``api/docs_page.py``). Expected errors of profiles/ services become JSON 4xx answers here,
in one place: NotFound 404, InvalidInput 422 (``detail[0].loc`` names the field, as FastAPI's own validation
errors do), Conflict 409, NotAllowed 403, IdentityError 401.

FastAPI's own validation errors (422) keep ``loc``, ``msg`` and ``type`` only: the default handler echoes the
``input`` (a 5 MB note came back whole, and NaN/Infinity could not be rendered as JSON: a 500). Request bodies
larger than ``MAX_BODY_BYTES`` are refused with 413 before any route reads them (``BodySizeLimit``).
"""

from __future__ import annotations

import json
from typing import Any, Final

from fastapi import FastAPI, Request, status
from fastapi.exceptions import RequestValidationError
from fastapi.openapi.utils import get_openapi
from fastapi.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.docs_page import mount_docs
from api.routes import (
    bot_analytics,
    campaigns,
    chat_page,
    customers,
    erasures,
    handoff_console,
    handoffs,
    health,
    marketing_campaigns,
    marketing_pages,
    nlu_annotation,
    recommendations,
    staff_console,
    staff_pages,
)
from profiles.errors import Conflict, IdentityError, InvalidInput, NotAllowed, NotFound, ProfileError

MAX_BODY_BYTES: Final = 1_000_000  # 1 MB: the largest legitimate body (a 2,000-character note) is far smaller
_MSG_MAX: Final = 300

# profiles/ sentences addressed to the customer, reworded for staff by ``staff_message``
_CUSTOMER_NOT_FOUND: Final = frozenset({"We could not find your customer profile.", NotFound.default_message})

_STATUS: dict[type[ProfileError], int] = {
    NotFound: status.HTTP_404_NOT_FOUND,
    Conflict: status.HTTP_409_CONFLICT,
    NotAllowed: status.HTTP_403_FORBIDDEN,
    IdentityError: status.HTTP_401_UNAUTHORIZED,
}


async def profile_error_handler(request: Request, exc: Exception) -> JSONResponse:
    """A profiles/ error as a 4xx JSON answer (its ``user_message``, never internal detail)."""
    assert isinstance(exc, ProfileError)
    if isinstance(exc, InvalidInput):
        where = "header" if exc.field == "If-Match" else "query" if request.method in ("GET", "DELETE") else "body"
        return JSONResponse(
            status_code=status.HTTP_422_UNPROCESSABLE_CONTENT,
            content={"detail": [{"loc": [where, exc.field or "body"], "msg": exc.user_message,
                                 "type": "invalid_input"}]},
        )
    code = next((c for kind, c in _STATUS.items() if isinstance(exc, kind)), status.HTTP_400_BAD_REQUEST)
    headers = {"WWW-Authenticate": "Bearer"} if code == status.HTTP_401_UNAUTHORIZED else None
    return JSONResponse(status_code=code, content={"detail": staff_message(request, exc)}, headers=headers)


def staff_message(request: Request, exc: ProfileError) -> str:
    """The answer's wording for staff: profiles/ errors speak to the customer ("We could not find your customer
    profile."), the API answers the staff member ("No customer with id 5."). A service's own message is kept
    when it is not one of those customer sentences."""
    customer_id = request.path_params.get("customer_id")
    if isinstance(exc, NotFound) and exc.user_message in _CUSTOMER_NOT_FOUND and customer_id is not None:
        return f"No customer with id {customer_id}."
    if isinstance(exc, Conflict) and exc.user_message == Conflict.default_message:
        return "The record changed since you read it; read it again and redo the change."
    return exc.user_message


async def validation_error_handler(request: Request, exc: Exception) -> JSONResponse:
    """A body that is not JSON as 400 ``{"detail": "..."}``; FastAPI's other request validation errors as 422 ``{"detail": [{"loc", "msg", "type"}]}``: the input and ctx
    are dropped (they may be huge or non-finite numbers JSON cannot carry), a message is cut at 300 characters."""
    assert isinstance(exc, RequestValidationError)
    if any(error.get("type") == "json_invalid" for error in exc.errors()):
        # a body that is not JSON at all is unparsable, not invalid: the documented 400, like a non-UTF-8 one
        return JSONResponse(status_code=status.HTTP_400_BAD_REQUEST,
                            content={"detail": "The request body is not valid JSON."})
    detail = [{"loc": [part if isinstance(part, int) else str(part) for part in error.get("loc", ())],
               "msg": str(error.get("msg", ""))[:_MSG_MAX], "type": str(error.get("type", ""))}
              for error in exc.errors()]
    return JSONResponse(status_code=status.HTTP_422_UNPROCESSABLE_CONTENT, content={"detail": detail})


class BodySizeLimit:
    """ASGI middleware: a request body over ``max_bytes`` (by ``Content-Length``, or counted while it
    arrives) is answered 413 ``{"detail": "..."}`` without calling the application; otherwise the body, read
    in full (at most ``max_bytes``), is handed on unchanged."""

    def __init__(self, app: ASGIApp, max_bytes: int = MAX_BODY_BYTES) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def _too_large(self, send: Send) -> None:
        body = json.dumps({"detail": f"The request body is larger than {self.max_bytes} bytes."}).encode()
        await send({"type": "http.response.start", "status": status.HTTP_413_CONTENT_TOO_LARGE,
                    "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
                                (b"connection", b"close")]})
        await send({"type": "http.response.body", "body": body})

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        length = dict(scope.get("headers") or ()).get(b"content-length")
        if length is not None and (not length.isdigit() or int(length) > self.max_bytes):
            await self._too_large(send)
            return
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] != "http.request":  # the client went away
                return
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_bytes:
                await self._too_large(send)
                return
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": b"".join(chunks), "more_body": False}
            return await receive()

        await self.app(scope, replay, send)


_COMMON_ERRORS: Final[dict[str, tuple[str, str]]] = {
    # status: (when the operation has it, description)
    "400": ("body", "the body could not be parsed (malformed JSON, or not UTF-8)"),
    "401": ("security", "no, malformed, expired or forged staff token"),
    "403": ("security", "the token's role may not do this"),
    "413": ("body", f"the request body is larger than {MAX_BODY_BYTES} bytes"),
}


def document_common_errors(schema: dict[str, Any]) -> dict[str, Any]:
    """Add to each operation of an OpenAPI ``schema`` (in place) the answers every such route can give but
    FastAPI does not list: 401/403 where a staff token is required (``security``), 400 (unparsable body) and
    413 where there is a request body. Existing entries are kept. Returns ``schema``."""
    error = {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorOut"}}}
    schema.setdefault("components", {}).setdefault("schemas", {}).setdefault("ErrorOut", {
        "title": "ErrorOut", "type": "object", "required": ["detail"],
        "properties": {"detail": {"title": "Detail", "type": "string"}},
        "description": "A refused request: ``detail`` says why (safe to show).",
    })
    for operations in schema.get("paths", {}).values():
        for operation in operations.values():
            if not isinstance(operation, dict) or "responses" not in operation:
                continue
            has = {"security": bool(operation.get("security")), "body": "requestBody" in operation}
            for code, (when, description) in _COMMON_ERRORS.items():
                if has[when]:
                    operation["responses"].setdefault(code, {"description": description, "content": error})
    return schema


def create_app() -> FastAPI:
    """Build the application with every router mounted."""
    app = FastAPI(
        title="Atlantic Bank CRM API",
        docs_url=None, redoc_url=None,  # served by api.docs_page from local assets (no CDN)
        version="0.2.0",
        description="Customer 360, transcripts and campaigns for staff and marketing. Every route needs a staff "
                    "token (`python -m profiles.staff staff|marketing|admin`) as `Authorization: Bearer ...`.",
    )
    app.add_exception_handler(ProfileError, profile_error_handler)
    app.add_exception_handler(RequestValidationError, validation_error_handler)
    app.add_middleware(BodySizeLimit, max_bytes=MAX_BODY_BYTES)
    app.include_router(health.router)
    app.include_router(handoffs.router)
    app.include_router(handoff_console.api)
    app.include_router(handoff_console.pages)
    app.include_router(customers.router)
    app.include_router(erasures.router)
    app.include_router(staff_console.api)
    app.include_router(bot_analytics.api)
    app.include_router(bot_analytics.pages)
    app.include_router(staff_console.pages)  # before staff_pages: /staff/conversations/... are its own
    app.include_router(nlu_annotation.api)
    app.include_router(nlu_annotation.pages)  # before staff_pages too: /staff/annotations
    app.include_router(staff_pages.router)
    app.include_router(chat_page.router)
    app.include_router(campaigns.router)
    app.include_router(marketing_campaigns.router)
    app.include_router(marketing_pages.router)
    app.include_router(recommendations.router)
    mount_docs(app)

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = document_common_errors(get_openapi(
                title=app.title, version=app.version, description=app.description, routes=app.routes))
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
    return app


app = create_app()
