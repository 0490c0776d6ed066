"""The web page: ``GET /`` and its static files, served from the package (no auth: the page asks
for the API key itself, and every API call it makes carries it)."""

from __future__ import annotations

import re
from pathlib import Path

from fastapi import APIRouter, HTTPException
from fastapi.responses import FileResponse

router = APIRouter(include_in_schema=False)

STATIC_DIR = Path(__file__).resolve().parent.parent / "static"
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]*\.(?P<ext>js|css|svg|png|ico)$")
_TYPES = {
    "js": "text/javascript; charset=utf-8",
    "css": "text/css; charset=utf-8",
    "svg": "image/svg+xml",
    "png": "image/png",
    "ico": "image/x-icon",
}

# Everything the page needs comes from kura itself; the policy makes that a rule the browser
# enforces, so a later edit cannot quietly load a script or font from elsewhere.
_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'none'; "
        "frame-ancestors 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    # Revalidate each load, so an upgraded kura never runs last version's script.
    "Cache-Control": "no-cache",
}


@router.get("/")
def index() -> FileResponse:
    """The page: ask questions, read the cited passages, upload documents."""
    return FileResponse(STATIC_DIR / "index.html", media_type="text/html", headers=_HEADERS)


def _serve(folder: Path, name: str, extensions: tuple[str, ...]) -> FileResponse:
    match = _NAME.match(name)
    path = folder / name
    if match is None or match["ext"] not in extensions or not path.is_file():
        raise HTTPException(status_code=404, detail="Not found")
    return FileResponse(path, media_type=_TYPES[match["ext"]], headers=_HEADERS)


@router.get("/static/{name}")
def static_file(name: str) -> FileResponse:
    """One of the page's own files (flat folder, fixed extensions)."""
    return _serve(STATIC_DIR, name, tuple(_TYPES))


@router.get("/static/js/{name}")
def script_module(name: str) -> FileResponse:
    """One of the page's script modules (ES modules that import each other by relative path;
    script-src 'self' admits them)."""
    return _serve(STATIC_DIR / "js", name, ("js",))


@router.get("/static/vendor/{name}")
def vendored_module(name: str) -> FileResponse:
    """A library vendored from npm (app/static/vendor/README.md says which, and how to update)."""
    return _serve(STATIC_DIR / "vendor", name, ("js",))
