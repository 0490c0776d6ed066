"""Liveness and readiness."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from app.auth import bearer_key, current_user
from app.deps import ComponentsDep, LLMDep, SettingsDep
from ingest.errors import KuraError

router = APIRouter(tags=["health"])


@router.get("/healthz")
def healthz() -> dict[str, str]:
    """The process is up."""
    return {"status": "ok"}


@router.get(
    "/readyz", responses={503: {"description": "Qdrant, Ollama or the embedding host is not ready"}}
)
def readyz(
    request: Request, components: ComponentsDep, llm: LLMDep, settings: SettingsDep
) -> JSONResponse:
    """Qdrant usable, the model's server reachable with the model present (``ollama``: ready
    when one host is), and with KURA_EMBED_BACKEND=ollama the embedding host answering with
    its model (``embedder``); each reported separately. Without an admin key only whether
    each is ok; admins (and kura without keys, on loopback) also get the detail and each LLM
    host under ``llm``."""
    parts = {"qdrant": _checked(components.ping), "ollama": llm.status()}
    embedder = _checked(components.embedders.ping)
    if embedder["detail"] is not None:  # an embedding host (Ollama's), which may be down
        parts["embedder"] = embedder
    ready = all(part["ok"] for part in parts.values())
    status = 200 if ready else 503
    body: dict[str, Any] = {"status": "ready" if ready else "not ready"}
    if not _sees_detail(request, settings.auth):
        # Hosts' URLs and errors map the internal network: not for anyone who can reach the port.
        body |= {name: {"ok": part["ok"]} for name, part in parts.items()}
        return JSONResponse(body, status_code=status)
    body |= parts | {"llm": llm.hosts_status()}
    return JSONResponse(body, status_code=status)


def _checked(check: Callable[[], str | None]) -> dict[str, Any]:
    # A part as /readyz shows it: ok with what the check said, or not ok with why.
    try:
        return {"ok": True, "detail": check()}
    except KuraError as exc:
        return {"ok": False, "detail": str(exc)}


def _sees_detail(request: Request, auth: str) -> bool:
    # No key: a probe or a healthcheck, answered without authentication. A key is checked as
    # on every other route (a wrong one is a counted failure, 401), so this is no key oracle.
    if auth == "off":
        return True
    if bearer_key(request) is None:
        return False
    return current_user(request).admin
