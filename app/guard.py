"""Checks made on every request before a route runs or its body is read.

- **Host** (DNS rebinding): a page on ``evil.example`` whose name is made to resolve to
  127.0.0.1 reaches a loopback kura with ``Host: evil.example``. With authentication off, only
  loopback names are answered (``KURA_ALLOWED_HOSTS`` widens or narrows that); 400 otherwise.
- **Origin** (cross-site writes): with authentication off, any web page the user opens could
  POST an upload to ``http://127.0.0.1:8000`` (a form post needs no CORS preflight). A write
  whose ``Origin`` is not kura's own is refused with 403. Clients that send no Origin (curl,
  the CLI, scripts) are not browsers and are let through.
- **Key before body**: with keys required, a request that carries a body must carry a valid
  key too, checked (by the routes' own ``current_user``, failure limiter included) before a
  byte of the body is read; an anonymous 300 MB upload is refused at its headers instead of
  being spooled to disk first.
- **Body size**: a JSON body over ``KURA_MAX_BODY_MB`` and an upload over
  ``KURA_MAX_UPLOAD_MB`` are refused with 413, by their Content-Length when they declare one,
  else as soon as the bytes received pass the limit.
"""

from __future__ import annotations

import json
import logging
from http import HTTPStatus
from urllib.parse import urlsplit

from fastapi import HTTPException
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import Headers
from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.auth import current_user
from app.settings import AppSettings

logger = logging.getLogger(__name__)

_SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
_LOOPBACK_NAMES = ("localhost", "127.0.0.1", "::1")


def allowed_hosts(settings: AppSettings) -> frozenset[str] | None:
    """Host names the server answers to (lower case, no port); None: any."""
    given = [h.strip().lower().strip("[]") for h in settings.allowed_hosts.split(",") if h.strip()]
    if "*" in given:
        return None
    if given:
        return frozenset(given)
    return frozenset(_LOOPBACK_NAMES) if settings.auth == "off" else None


def host_name(value: str) -> str:
    """The name in a Host header or an origin's authority, without port or IPv6 brackets."""
    value = value.strip().lower()
    if value.startswith("["):
        return value[1:].partition("]")[0]
    return value.rpartition(":")[0] if value.count(":") == 1 else value


def _mib(value: float) -> str:
    return f"{value:g} MiB"


class RequestGuard:
    """Pure ASGI middleware: Host and Origin checks, the key before the body, body limits."""

    def __init__(self, app: ASGIApp, settings: AppSettings) -> None:
        self.app = app
        self.settings = settings
        self.hosts = allowed_hosts(settings)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        refused = self._check_host(headers) or self._check_origin(scope, headers)
        if refused is not None:
            await _reply(send, *refused)
            return
        length_header = headers.get("content-length")
        has_body = "transfer-encoding" in headers or (length_header or "0").strip() != "0"
        if has_body and self.settings.auth != "off":
            denied = await self._check_key(scope)
            if denied is not None:
                extra = [
                    (k.lower().encode(), v.encode()) for k, v in (denied.headers or {}).items()
                ]
                error = HTTPStatus(denied.status_code).phrase.replace(" ", "")
                await _reply(send, denied.status_code, str(denied.detail), error, extra=extra)
                return
        upload = headers.get("content-type", "").lower().startswith("multipart/")
        limit_mb = self.settings.max_upload_mb if upload else self.settings.max_body_mb
        setting = "KURA_MAX_UPLOAD_MB" if upload else "KURA_MAX_BODY_MB"
        what = "upload" if upload else "request body"
        too_large = (413, f"{what} over the {_mib(limit_mb)} limit ({setting})", "BodyTooLarge")
        limit = int(limit_mb * 1024 * 1024)
        if length_header is not None:
            try:
                declared = int(length_header)
            except ValueError:
                await _reply(send, 400, "invalid Content-Length", "BadRequest")
                return
            if declared > limit:
                await _reply(send, *too_large)
                return
        received = 0
        refused_body = False
        started = False

        async def limited_receive() -> Message:
            nonlocal received, refused_body
            if refused_body:
                return {"type": "http.disconnect"}
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    # Answer now; to the app the client is gone (a framework may catch any
                    # exception raised here and answer 400), and what it sends is dropped.
                    refused_body = True
                    if not started:
                        await _reply(send, *too_large)
                    return {"type": "http.disconnect"}
            return message

        async def guarded_send(message: Message) -> None:
            nonlocal started
            if refused_body:
                return
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        await self.app(scope, limited_receive, guarded_send)

    def _check_host(self, headers: Headers) -> tuple[int, str, str] | None:
        if self.hosts is None:
            return None
        name = host_name(headers.get("host", ""))
        if name in self.hosts:
            return None
        logger.warning("refused a request for host %r (not in the allowed hosts)", name[:100])
        return (
            400,
            "this server does not answer to that host name (KURA_ALLOWED_HOSTS)",
            "InvalidHost",
        )

    def _check_origin(self, scope: Scope, headers: Headers) -> tuple[int, str, str] | None:
        if self.settings.auth != "off" or scope["method"] in _SAFE_METHODS:
            return None
        origin = headers.get("origin")
        if origin is None:
            return None  # not a browser
        parts = urlsplit(origin) if origin != "null" else None
        if parts is not None and parts.netloc.lower() == headers.get("host", "").strip().lower():
            return None
        logger.warning("refused a cross-site %s from origin %r", scope["method"], origin[:100])
        return (
            403,
            "cross-site request refused: with authentication off (KURA_AUTH=off), kura "
            "accepts changes only from its own pages",
            "CrossSiteRequest",
        )

    async def _check_key(self, scope: Scope) -> HTTPException | None:
        if getattr(scope["app"].state, "keys", None) is None:
            return None  # not started: the route's own key check decides
        try:
            # The routes' own check, failure limiter (429) and proxy identities included.
            await run_in_threadpool(current_user, Request(scope))
        except HTTPException as refused:
            return refused
        return None


# These refusals happen before routing, so they are answered here in app.errors' JSON shape
# ({"detail", "error"}) rather than raised through its handlers.
async def _reply(
    send: Send,
    status: int,
    detail: str,
    error: str,
    extra: list[tuple[bytes, bytes]] | None = None,
) -> None:
    body = json.dumps({"detail": detail, "error": error}).encode()
    headers = [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(body)).encode()),
        # The body was not read: the connection cannot carry another request.
        (b"connection", b"close"),
        *(extra or []),
    ]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
