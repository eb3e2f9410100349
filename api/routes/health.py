"""GET /health: is the API up, and can it reach the CRM database?"""

from __future__ import annotations

import logging
from typing import Literal

from fastapi import APIRouter, Response, status
from pydantic import BaseModel
from sqlalchemy import text

from api.deps import EngineDep

log = logging.getLogger(__name__)

router = APIRouter(tags=["health"])


class HealthPublic(BaseModel):
    status: Literal["ok", "degraded"]
    database: Literal["ok", "unreachable"]
    database_dialect: str


@router.get(
    "/health",
    response_model=HealthPublic,
    responses={status.HTTP_503_SERVICE_UNAVAILABLE: {"model": HealthPublic, "description": "database unreachable"}},
)
def health(engine: EngineDep, response: Response) -> HealthPublic:
    """200 when the CRM database answers ``SELECT 1``, otherwise 503 (the API itself is up)."""
    try:
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
    except Exception as exc:  # noqa: BLE001 - any failure means "unreachable"; the reason goes to the log only
        log.warning("health: database unreachable (%s)", type(exc).__name__)
        response.status_code = status.HTTP_503_SERVICE_UNAVAILABLE
        return HealthPublic(status="degraded", database="unreachable", database_dialect=engine.dialect.name)
    return HealthPublic(status="ok", database="ok", database_dialect=engine.dialect.name)
