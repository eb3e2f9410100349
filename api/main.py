"""The bank's staff and marketing API (FastAPI): ``uvicorn api.main:app``.

One router per resource lives in ``api/routes/`` and is mounted here; shared dependencies are in
``api/deps.py``. OpenAPI docs at ``/docs``. Expected errors of profiles/ services become JSON 4xx answers here,
in one place: NotFound 404, InvalidInput 422 (``detail[0].loc`` names the field, as FastAPI's own validation
errors do), Conflict 409, NotAllowed 403, IdentityError 401.
"""

from __future__ import annotations

from fastapi import FastAPI, Request, status
from fastapi.responses import JSONResponse

from api.routes import campaigns, chat_page, customers, erasures, handoffs, health, recommendations, staff_pages
from profiles.errors import Conflict, IdentityError, InvalidInput, NotAllowed, NotFound, ProfileError

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
    return JSONResponse(status_code=code, content={"detail": exc.user_message}, headers=headers)


def create_app() -> FastAPI:
    """Build the application with every router mounted."""
    app = FastAPI(
        title="Atlantic Bank CRM API",
        version="0.2.0",
        description="Customer 360, transcripts and campaigns for staff and marketing. Every route needs a staff "
                    "token (`python -m profiles.staff staff|marketing|admin`) as `Authorization: Bearer ...`.",
    )
    app.add_exception_handler(ProfileError, profile_error_handler)
    app.include_router(health.router)
    app.include_router(handoffs.router)
    app.include_router(customers.router)
    app.include_router(erasures.router)
    app.include_router(staff_pages.router)
    app.include_router(chat_page.router)
    app.include_router(campaigns.router)
    app.include_router(recommendations.router)
    return app


app = create_app()
