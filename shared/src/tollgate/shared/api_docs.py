"""Swagger UI for an OpenAPI document, served from this process: ``/docs`` works offline.

The page loads Swagger UI's script and stylesheet from ``/docs/assets/`` (shipped in
the ``fastapi-offline`` package, so nothing is fetched from a CDN) and starts it
with a script of ours rather than an inline one, so the page can carry a strict
Content-Security-Policy.
"""

from __future__ import annotations

import html
from importlib.resources import files
from pathlib import Path

from fastapi import APIRouter
from fastapi.responses import FileResponse, HTMLResponse, Response

from tollgate.shared.errors import NotFound

__all__ = ["ASSETS_PATH", "DOCS_CSP", "asset", "docs_page", "docs_router"]

ASSETS_PATH = "/docs/assets"
# Swagger UI sets style attributes itself; every script and request stays on this origin.
DOCS_CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data:; font-src 'self' data:; connect-src 'self'; "
    "base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)
_VENDORED = Path(str(files("fastapi_offline") / "static"))
_START = """\
window.ui = SwaggerUIBundle({
  url: document.body.dataset.openapiUrl,
  dom_id: "#swagger-ui",
  deepLinking: true,
  persistAuthorization: true,
  presets: [SwaggerUIBundle.presets.apis],
  layout: "BaseLayout",
});
"""
_TYPES = {
    "swagger-ui-bundle.js": "text/javascript",
    "swagger-ui.css": "text/css",
    "favicon.png": "image/png",
    "start.js": "text/javascript",
}


def asset(name: str) -> tuple[Path | bytes, str] | None:
    """A file of the docs page, with its content type; None for any other name."""
    if name not in _TYPES:
        return None
    source: Path | bytes = _START.encode() if name == "start.js" else _VENDORED / name
    return source, _TYPES[name]


def docs_page(openapi_url: str, title: str) -> bytes:
    """The ``/docs`` page: Swagger UI over ``openapi_url``, everything from this origin."""
    return f"""<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>{html.escape(title)}</title>
<link rel="stylesheet" href="{ASSETS_PATH}/swagger-ui.css">
<link rel="icon" type="image/png" href="{ASSETS_PATH}/favicon.png">
</head>
<body data-openapi-url="{html.escape(openapi_url)}">
<div id="swagger-ui"></div>
<script src="{ASSETS_PATH}/swagger-ui-bundle.js"></script>
<script src="{ASSETS_PATH}/start.js"></script>
</body>
</html>
""".encode()


def docs_router(title: str, openapi_url: str = "/openapi.json") -> APIRouter:
    """``/docs`` and its assets for a FastAPI service."""
    router = APIRouter(include_in_schema=False)

    @router.get("/docs")
    async def docs() -> HTMLResponse:
        return HTMLResponse(
            docs_page(openapi_url, title), headers={"Content-Security-Policy": DOCS_CSP}
        )

    @router.get(ASSETS_PATH + "/{name}")
    async def docs_asset(name: str) -> Response:
        found = asset(name)
        if found is None:
            raise NotFound(f"No docs asset named {name}")
        source, content_type = found
        cache = {"Cache-Control": "public, max-age=86400"}
        if isinstance(source, bytes):
            return Response(source, media_type=content_type, headers=cache)
        return FileResponse(source, media_type=content_type, headers=cache)

    return router
