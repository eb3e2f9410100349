"""Shared FastAPI dependencies as ``Annotated`` aliases: a route declares what it needs by type.

    def handler(settings: SettingsDep, engine: EngineDep) -> ...

Add the authenticated user and role checks here as ``Annotated[..., Depends()]`` aliases too.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends
from sqlalchemy import Engine

from profiles.db import get_engine
from profiles.settings import Settings, get_settings

SettingsDep = Annotated[Settings, Depends(get_settings)]
EngineDep = Annotated[Engine, Depends(get_engine)]
