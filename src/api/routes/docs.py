"""The docs pages, Swagger UI at /docs and ReDoc at /redoc, served from assets the app ships.

FastAPI's own pages load their JavaScript and CSS from a CDN, so they render blank offline or
under a strict Content-Security-Policy. Here the assets come from the `fastapi-offline` wheel
(Swagger UI and ReDoc bundles) and from `docs_static/` (our start-up script), all under
`/docs/assets/`; the HTML has no inline script. `DOCS_ENABLED=false` removes the pages, their
assets and `/openapi.json`.
"""

from __future__ import annotations

import json
from html import escape
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles

from src.core.config import Settings

DOCS_URL = "/docs"
REDOC_URL = "/redoc"
OPENAPI_URL = "/openapi.json"
ASSETS_URL = "/docs/assets"

# What the two pages need, and nothing else: scripts and styles from this server only (ReDoc
# injects <style> elements, hence 'unsafe-inline' for styles; its search runs in a blob: worker).
DOCS_CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data:; font-src 'self' data:; connect-src 'self'; worker-src 'self' blob:; "
    "base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
)

_SWAGGER_PAGE = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title} - Swagger UI</title>
<link rel="icon" type="image/png" href="{assets}/favicon.png">
<link rel="stylesheet" href="{assets}/swagger-ui.css">
</head>
<body>
<div id="swagger-ui" data-openapi-url="{openapi}"></div>
<script src="{assets}/swagger-ui-bundle.js"></script>
<script src="{assets}/swagger-init.js"></script>
</body>
</html>
"""

_REDOC_PAGE = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title} - ReDoc</title>
<link rel="icon" type="image/png" href="{assets}/favicon.png">
</head>
<body>
<redoc spec-url="{openapi}"></redoc>
<script src="{assets}/redoc.standalone.js"></script>
</body>
</html>
"""


def fastapi_options(settings: Settings) -> dict[str, Any]:
    """Arguments for FastAPI(): its CDN pages off; the document only when docs are enabled."""
    return {
        "docs_url": None,
        "redoc_url": None,
        "openapi_url": OPENAPI_URL if settings.docs_enabled else None,
    }


def install_docs(app: FastAPI, settings: Settings) -> None:
    """Serve /docs, /redoc and their assets, unless the settings turn docs off."""
    if not settings.docs_enabled:
        return
    app.mount(
        ASSETS_URL,
        StaticFiles(packages=[("fastapi_offline", "static"), ("src.api", "docs_static")]),
        name="docs-assets",
    )

    def page(template: str, request: Request) -> HTMLResponse:
        root = escape(request.scope.get("root_path", ""))
        html = template.format(
            title=escape(app.title), assets=root + ASSETS_URL, openapi=root + OPENAPI_URL
        )
        return HTMLResponse(html, headers={"Content-Security-Policy": DOCS_CSP})

    @app.get(DOCS_URL, include_in_schema=False)
    async def swagger_ui(request: Request) -> HTMLResponse:
        return page(_SWAGGER_PAGE, request)

    @app.get(REDOC_URL, include_in_schema=False)
    async def redoc(request: Request) -> HTMLResponse:
        return page(_REDOC_PAGE, request)


def render_openapi(app: FastAPI) -> str:
    """The OpenAPI document as committed in docs/openapi.json (stable: 2-space JSON, final LF)."""
    return json.dumps(app.openapi(), indent=2, ensure_ascii=False) + "\n"
