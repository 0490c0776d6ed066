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
    """Qdrant usable, Ollama reachable with the model present; each reported separately."""
    qdrant: dict[str, Any]
    try:
        qdrant = {"ok": True, "detail": components.ping()}
    except KuraError as exc:
        qdrant = {"ok": False, "detail": str(exc)}
    ollama = llm.status()
    ready = qdrant["ok"] and ollama["ok"]
    body = {"status": "ready" if ready else "not ready", "qdrant": qdrant, "ollama": ollama}
    return JSONResponse(body, status_code=200 if ready else 503)
