"""Shared FastAPI dependencies as ``Annotated`` aliases: a route declares what it needs by type.

    def handler(settings: SettingsDep, engine: EngineDep) -> ...

``StaffDep`` admits the staff and admin roles, ``SalesDep`` also marketing, ``AdminDep`` admin only.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated

from fastapi import Depends, HTTPException, Security, status
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy import Engine

from profiles import StaffIdentity, verify_staff_token
from profiles.db import get_engine
from profiles.errors import IdentityError, NotAllowed
from profiles.settings import Settings, get_settings

SettingsDep = Annotated[Settings, Depends(get_settings)]
EngineDep = Annotated[Engine, Depends(get_engine)]


_bearer = HTTPBearer(auto_error=False, description="A staff token: `python -m profiles.staff staff`")


def require_roles(*roles: str) -> Callable[..., StaffIdentity]:
    """A dependency that admits a staff token whose role is one of ``roles`` (401 without one, 403 otherwise)."""

    def check(credentials: Annotated[HTTPAuthorizationCredentials | None, Security(_bearer)]) -> StaffIdentity:
        try:
            return verify_staff_token(credentials.credentials if credentials else None, roles)
        except IdentityError as exc:
            raise HTTPException(status.HTTP_401_UNAUTHORIZED, exc.user_message, headers={"WWW-Authenticate": "Bearer"}) from None
        except NotAllowed as exc:
            raise HTTPException(status.HTTP_403_FORBIDDEN, exc.user_message) from None

    return check


StaffDep = Annotated[StaffIdentity, Depends(require_roles("staff", "admin"))]
SalesDep = Annotated[StaffIdentity, Depends(require_roles("staff", "marketing", "admin"))]
AdminDep = Annotated[StaffIdentity, Depends(require_roles("admin"))]
