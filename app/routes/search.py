"""Passages only: works even when Ollama is down."""

from __future__ import annotations

import time

from fastapi import APIRouter
from pydantic import BaseModel, Field

from app.deps import ComponentsDep, SettingsDep
from app.retrieve import Passage, retrieve

router = APIRouter(tags=["search"])


class SearchRequest(BaseModel):
    """A search over one collection."""

    query: str = Field(min_length=1, max_length=4000)
    collection: str | None = Field(None, description="Default: the configured collection.")
    top_k: int | None = Field(None, ge=1, le=50)


class SearchResponse(BaseModel):
    """Passages in rank order."""

    passages: list[Passage]
    took_ms: float


@router.post("/v1/search", responses={404: {"description": "No such collection"}})
def search(body: SearchRequest, settings: SettingsDep, components: ComponentsDep) -> SearchResponse:
    """The passages closest to the query, with source, section, pages and score."""
    started = time.perf_counter()
    passages = retrieve(
        components, body.collection or settings.collection, body.query, body.top_k or settings.top_k
    )
    return SearchResponse(
        passages=passages, took_ms=round((time.perf_counter() - started) * 1e3, 1)
    )
