"""``/docs`` without a CDN: FastAPI's Swagger UI page with its JavaScript and CSS served by this API.

FastAPI's default ``/docs`` loads Swagger UI from cdn.jsdelivr.net, so on a machine without internet access (a
bank's internal network, these CI machines) the page stays blank. The assets come from the PyPI package
``fastapi-offline`` (its bundled Swagger UI 5, Apache-2.0: Swagger UI 4 cannot render the OpenAPI 3.1 document
FastAPI writes), mounted read-only at ``/static/swagger``. ReDoc (``/redoc``) is off: its page fetches a logo
from a CDN whatever the script's origin.
"""

from __future__ import annotations

from pathlib import Path

import fastapi_offline
from fastapi import FastAPI
from fastapi.openapi.docs import get_swagger_ui_html, get_swagger_ui_oauth2_redirect_html
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles

ASSETS_URL = "/static/swagger"
ASSETS_DIR = Path(fastapi_offline.__file__).parent / "static"


def mount_docs(app: FastAPI) -> None:
    """Serve Swagger UI at ``/docs`` (needs ``FastAPI(docs_url=None)``) from local assets under ``/static/swagger``."""
    app.mount(ASSETS_URL, StaticFiles(directory=str(ASSETS_DIR)), name="swagger-ui")

    @app.get("/docs", include_in_schema=False)
    async def swagger_ui() -> HTMLResponse:
        return get_swagger_ui_html(
            openapi_url=app.openapi_url or "/openapi.json",
            title=f"{app.title} - docs",
            oauth2_redirect_url="/docs/oauth2-redirect",
            swagger_js_url=f"{ASSETS_URL}/swagger-ui-bundle.js",
            swagger_css_url=f"{ASSETS_URL}/swagger-ui.css",
            swagger_favicon_url=f"{ASSETS_URL}/favicon.png",
        )

    @app.get("/docs/oauth2-redirect", include_in_schema=False)
    async def swagger_ui_redirect() -> HTMLResponse:
        return get_swagger_ui_oauth2_redirect_html()

