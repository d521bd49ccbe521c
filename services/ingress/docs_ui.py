"""`/docs`: Swagger UI served from this process, so the page works without internet access.

FastAPI's own page loads Swagger UI from a CDN: offline, or behind a strict proxy, `/docs` was
a blank page. The files come from the `swagger-ui-py` package (Swagger UI 5, which reads the
OpenAPI 3.1 document FastAPI writes), looked up by name; nothing from a URL reaches the
filesystem. Public, like `/openapi.json`: they hold no data. ReDoc is not offered: it has no
PyPI distribution of its assets, and a second page that needs a CDN is the same defect again.
"""

from __future__ import annotations

import functools
from importlib import resources
from pathlib import Path

from fastapi import Request
from fastapi.openapi.docs import get_swagger_ui_html, get_swagger_ui_oauth2_redirect_html
from fastapi.responses import FileResponse, HTMLResponse

from services.ingress.errors import ApiError
from services.ingress.strict_json import strict_router

DOCS = "/docs"
OAUTH2_REDIRECT = "/docs/oauth2-redirect"
ASSETS = "/docs/static"
# What the page loads; the package ships more (Swagger Editor) that we do not serve.
_FILES = ("swagger-ui-bundle.js", "swagger-ui.css", "favicon-32x32.png")

router = strict_router(include_in_schema=False)


@functools.cache
def _asset_files() -> dict[str, Path]:
    static = Path(str(resources.files("swagger_ui") / "static"))
    return {name: static / name for name in _FILES if (static / name).is_file()}


@router.get(DOCS)
async def swagger_ui(request: Request) -> HTMLResponse:
    root = request.scope.get("root_path", "").rstrip("/")
    return get_swagger_ui_html(
        openapi_url=f"{root}{request.app.openapi_url}",
        title=f"{request.app.title} - Swagger UI",
        swagger_js_url=f"{root}{ASSETS}/swagger-ui-bundle.js",
        swagger_css_url=f"{root}{ASSETS}/swagger-ui.css",
        swagger_favicon_url=f"{root}{ASSETS}/favicon-32x32.png",
        oauth2_redirect_url=f"{root}{OAUTH2_REDIRECT}",
    )


@router.get(OAUTH2_REDIRECT)
async def swagger_ui_redirect() -> HTMLResponse:
    return get_swagger_ui_oauth2_redirect_html()


@router.get(ASSETS + "/{name}")
async def swagger_ui_asset(name: str) -> FileResponse:
    path = _asset_files().get(name)
    if path is None:
        raise ApiError(404, "not_found", "no such documentation file")
    return FileResponse(path, headers={"cache-control": "public, max-age=86400"})
