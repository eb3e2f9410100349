"""The bank's staff and marketing API (FastAPI): ``uvicorn api.main:app``.

One router per resource lives in ``api/routes/`` and is mounted here; shared dependencies are in
``api/deps.py``. OpenAPI docs at ``/docs``.
"""

from __future__ import annotations

from fastapi import FastAPI

from api.routes import handoffs, health


def create_app() -> FastAPI:
    """Build the application with every router mounted."""
    app = FastAPI(
        title="Atlantic Bank CRM API",
        version="0.1.0",
        description="Customer 360, transcripts and campaigns for staff and marketing.",
    )
    app.include_router(health.router)
    app.include_router(handoffs.router)
    return app


app = create_app()
