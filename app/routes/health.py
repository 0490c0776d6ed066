"""Liveness and readiness."""

from __future__ import annotations

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


@router.get("/readyz", responses={503: {"description": "Qdrant or Ollama is not ready"}})
def readyz(
    request: Request, components: ComponentsDep, llm: LLMDep, settings: SettingsDep
) -> JSONResponse:
    """Qdrant usable, the model's server reachable with the model present (``ollama``: ready
    when one host is); each reported separately. Without an admin key only whether each is
    ok; admins (and kura without keys, on loopback) also get the detail and each LLM host
    under ``llm``."""
    qdrant: dict[str, Any]
    try:
        qdrant = {"ok": True, "detail": components.ping()}
    except KuraError as exc:
        qdrant = {"ok": False, "detail": str(exc)}
    ollama = llm.status()
    ready = qdrant["ok"] and ollama["ok"]
    status = 200 if ready else 503
    body: dict[str, Any] = {"status": "ready" if ready else "not ready"}
    if not _sees_detail(request, settings.auth):
        # Hosts' URLs and errors map the internal network: not for anyone who can reach the port.
        body |= {"qdrant": {"ok": qdrant["ok"]}, "ollama": {"ok": ollama["ok"]}}
        return JSONResponse(body, status_code=status)
    body |= {"qdrant": qdrant, "ollama": ollama, "llm": llm.hosts_status()}
    return JSONResponse(body, status_code=status)


def _sees_detail(request: Request, auth: str) -> bool:
    # No key: a probe or a healthcheck, answered without authentication. A key is checked as
    # on every other route (a wrong one is a counted failure, 401), so this is no key oracle.
    if auth == "off":
        return True
    if bearer_key(request) is None:
        return False
    return current_user(request).admin
