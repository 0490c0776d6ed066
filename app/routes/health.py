"""Liveness and readiness."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from app.deps import ComponentsDep, LLMDep
from ingest.errors import KuraError

router = APIRouter(tags=["health"])


@router.get("/healthz")
def healthz() -> dict[str, str]:
    """The process is up."""
    return {"status": "ok"}


@router.get("/readyz", responses={503: {"description": "Qdrant or Ollama is not ready"}})
def readyz(components: ComponentsDep, llm: LLMDep) -> JSONResponse:
    """Qdrant usable, the model's server reachable with the model present (``ollama``: ready
    when one host is); each reported separately, and each LLM host under ``llm``."""
    qdrant: dict[str, Any]
    try:
        qdrant = {"ok": True, "detail": components.ping()}
    except KuraError as exc:
        qdrant = {"ok": False, "detail": str(exc)}
    ollama = llm.status()
    ready = qdrant["ok"] and ollama["ok"]
    body = {
        "status": "ready" if ready else "not ready",
        "qdrant": qdrant,
        "ollama": ollama,
        "llm": llm.hosts_status(),
    }
    return JSONResponse(body, status_code=200 if ready else 503)
