"""The API docs, ``/docs`` (Swagger UI) and ``/redoc``, with their scripts served by kura.

FastAPI's own pages load Swagger UI, ReDoc and Google fonts from public CDNs: opening the docs
would tell a third party that kura runs here, and fail on a network without internet. The
``fastapi-offline`` package ships the same files; kura serves them, and a Content-Security-Policy
makes the browser refuse anything from elsewhere.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import re
from pathlib import Path

import fastapi_offline
from fastapi import APIRouter, HTTPException, Request
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html
from fastapi.responses import FileResponse, HTMLResponse, Response

router = APIRouter(include_in_schema=False)

ASSETS_DIR = Path(fastapi_offline.__file__).resolve().parent / "static"
ASSETS_URL = "/docs-assets"
_ASSETS = {
    "swagger-ui-bundle.js": "text/javascript; charset=utf-8",
    "swagger-ui.css": "text/css; charset=utf-8",
    "redoc.standalone.js": "text/javascript; charset=utf-8",
    "favicon.png": "image/png",
}
_REDOC_LOGO = b"https://cdn.redoc.ly/redoc/logo-mini.svg"
_INLINE_SCRIPT = re.compile(r"<script>(.*?)</script>", re.DOTALL)


def _policy(html: str) -> str:
    # Swagger UI starts from one inline script: allowed by its hash, nothing else inline.
    hashes = " ".join(
        f"'sha256-{base64.b64encode(hashlib.sha256(s.encode()).digest()).decode()}'"
        for s in _INLINE_SCRIPT.findall(html)
    )
    return (
        f"default-src 'self'; script-src 'self' {hashes}; "
        # Both UIs set styles from script (ReDoc through styled-components).
        "style-src 'self' 'unsafe-inline'; img-src 'self' data:; font-src 'self'; "
        "connect-src 'self'; worker-src 'self' blob:; object-src 'none'; base-uri 'none'; "
        "form-action 'none'; frame-ancestors 'none'"
    )


def _page(page: HTMLResponse) -> HTMLResponse:
    html = bytes(page.body).decode()
    headers = {
        "Content-Security-Policy": _policy(html),
        "X-Content-Type-Options": "nosniff",
        "Referrer-Policy": "no-referrer",
    }
    return HTMLResponse(html, headers=headers)


@router.get("/docs")
def swagger_ui(request: Request) -> HTMLResponse:
    """Swagger UI for kura's API."""
    root = request.scope.get("root_path", "")
    return _page(
        get_swagger_ui_html(
            openapi_url=f"{root}{request.app.openapi_url}",
            title=f"{request.app.title} - Swagger UI",
            swagger_js_url=f"{root}{ASSETS_URL}/swagger-ui-bundle.js",
            swagger_css_url=f"{root}{ASSETS_URL}/swagger-ui.css",
            swagger_favicon_url=f"{root}{ASSETS_URL}/favicon.png",
            # Swagger UI's default sends the spec's address to validator.swagger.io.
            swagger_ui_parameters={"validatorUrl": None},
        )
    )


@router.get("/redoc")
def redoc(request: Request) -> HTMLResponse:
    """ReDoc for kura's API."""
    root = request.scope.get("root_path", "")
    return _page(
        get_redoc_html(
            openapi_url=f"{root}{request.app.openapi_url}",
            title=f"{request.app.title} - ReDoc",
            redoc_js_url=f"{root}{ASSETS_URL}/redoc.standalone.js",
            redoc_favicon_url=f"{root}{ASSETS_URL}/favicon.png",
            with_google_fonts=False,
        )
    )


@functools.cache
def _redoc_bundle() -> bytes:
    # ReDoc's footer logo is hard-coded to its CDN in the bundle: point it at kura's own icon
    # (relative to /redoc, so it also works under a root path).
    bundle = (ASSETS_DIR / "redoc.standalone.js").read_bytes()
    return bundle.replace(_REDOC_LOGO, f"{ASSETS_URL.lstrip('/')}/favicon.png".encode())


@router.get(f"{ASSETS_URL}/{{name}}")
def docs_asset(name: str) -> Response:
    """One of the docs pages' own files."""
    if name not in _ASSETS:
        raise HTTPException(status_code=404, detail="Not found")
    headers = {"X-Content-Type-Options": "nosniff", "Cache-Control": "no-cache"}
    if name == "redoc.standalone.js":
        return Response(_redoc_bundle(), media_type=_ASSETS[name], headers=headers)
    return FileResponse(ASSETS_DIR / name, media_type=_ASSETS[name], headers=headers)
