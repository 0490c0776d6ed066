"""Who is asking: FastAPI dependencies that turn an API key into a user.

The key store is ``app.keys``, the failure limiter ``app.limiter``, what a user may do with a
collection ``app.policy``, and the rule that auth may be off only on loopback ``app.settings``.
Failed authentications are limited per client address.
"""

from __future__ import annotations

import hmac
import logging
from typing import Annotated, Literal

from fastapi import Depends, HTTPException, Request, status

from app.keys import LOCAL_USER, KeyStore, User
from app.limiter import FailureLimiter

logger = logging.getLogger(__name__)

AuthMode = Literal["keys", "off"]


# --- FastAPI dependencies ---------------------------------------------------------------------


def bearer_key(request: Request) -> str | None:
    """The API key from ``Authorization: Bearer <key>`` or ``X-API-Key``, if any."""
    header = request.headers.get("authorization")
    if header:
        scheme, _, value = header.partition(" ")
        if scheme.lower() == "bearer" and value.strip():
            return value.strip()
    key = request.headers.get("x-api-key", "").strip()
    return key or None


def _unauthorized(detail: str) -> HTTPException:
    return HTTPException(
        status.HTTP_401_UNAUTHORIZED, detail=detail, headers={"WWW-Authenticate": "Bearer"}
    )


def _client_address(request: Request) -> str:
    # uvicorn puts the address from X-Forwarded-For here only for proxies it trusts
    # (--forwarded-allow-ips); a client cannot choose its own.
    return request.client.host if request.client else "unknown"


def _refuse_failure(request: Request, message: str) -> HTTPException:
    """A failed authentication: counted against the client's address; 401, or 429 while the
    address has failed too often."""
    limiter: FailureLimiter | None = getattr(request.app.state, "auth_limiter", None)
    if limiter is None:
        return _unauthorized(message)
    address = _client_address(request)
    if wait := limiter.retry_after(address):
        return HTTPException(
            status.HTTP_429_TOO_MANY_REQUESTS,
            detail=f"too many failed authentications from this address; retry in {wait} s",
            headers={"Retry-After": str(wait)},
        )
    limiter.failed(address)
    if limiter.retry_after(address):
        # Once per block: the operator learns which address is blocked (and can fix the
        # client with a stale key) without a log line per attempt.
        logger.warning(
            "address %s is refused (429) after %d failed authentications in %.0f s",
            address,
            limiter.limit,
            limiter.window,
        )
    return _unauthorized(message)


def _authenticate(request: Request) -> User:
    key = bearer_key(request)
    if key is None:
        raise _unauthorized("an API key is required (Authorization: Bearer <key>)")
    store: KeyStore = request.app.state.keys
    found = store.authenticate(key)
    if found is None:
        logger.info("rejected an invalid, revoked or expired API key on %s", request.url.path)
        raise _refuse_failure(request, "invalid, revoked or expired API key")
    if not found.proxy:
        return found  # ordinary keys never act for anyone: identity headers are ignored
    headers: list[str] = getattr(
        request.app.state.settings, "proxy_user_header_names", PROXY_USER_HEADERS
    )
    external = next((v for h in headers if (v := request.headers.get(h, "").strip())), None)
    if external is None:
        return found
    acting = store.act_for(found, external)
    if acting is None:
        named = repr(external[:320])
        raise HTTPException(
            status.HTTP_403_FORBIDDEN,
            detail=f"proxy key {found.key_id} may not act for {named}: map them first "
            f"(kura keys map {found.key_id} {named} --user ... --groups ...)",
        )
    return acting


PROXY_USER_HEADERS = ["X-OpenWebUI-User-Email", "X-OpenWebUI-User-Id"]
"""Headers a proxy key names its end user in, first found wins (Open WebUI's, by default)."""


def current_user(request: Request) -> User:
    """The caller, from their API key (401 without a valid one, 429 after too many failures
    from their address); for a proxy key, the end user it names; the local user when auth is
    off.

    A plain ``def``: FastAPI runs it in its threadpool, so the SQLite lookup never blocks the
    event loop. The user is also left on ``request.state.user`` for the audit record.
    """
    # Fails closed: an app whose settings lack the flag requires keys.
    mode: AuthMode = getattr(request.app.state.settings, "auth", "keys")
    user = LOCAL_USER if mode == "off" else _authenticate(request)
    request.state.user = user
    return user


def require_admin(user: Annotated[User, Depends(current_user)]) -> User:
    """The caller, who must be an admin (403 otherwise)."""
    if not user.admin:
        raise HTTPException(status.HTTP_403_FORBIDDEN, detail="admin key required")
    return user


def metrics_reader(request: Request) -> None:
    """Who may read /metrics: an admin key, or the scraper's token (``KURA_METRICS_TOKEN``)."""
    token = getattr(request.app.state.settings, "metrics_token", None)
    presented = bearer_key(request)
    if token is not None and presented is not None:
        expected = token.get_secret_value().encode()
        if hmac.compare_digest(presented.encode(), expected):
            return
    require_admin(current_user(request))  # a wrong token counts as a failed key there


CurrentUser = Annotated[User, Depends(current_user)]
AdminUser = Annotated[User, Depends(require_admin)]
