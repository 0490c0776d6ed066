"""Passages only: works even when Ollama is down."""

from __future__ import annotations

import time

from fastapi import APIRouter
from pydantic import BaseModel, Field

from app.deps import RetrieverDep, SettingsDep
from app.retrieve import Passage, SearchFilters
from app.settings import RetrievalMode

router = APIRouter(tags=["search"])


class SearchRequest(BaseModel):
    """A search over one collection."""

    query: str = Field(min_length=1, max_length=4000)
    collection: str | None = Field(None, description="Default: the configured collection.")
    top_k: int | None = Field(None, ge=1, le=50)
    mode: RetrievalMode | None = Field(None, description="Default: settings' retrieval_mode.")
    filters: SearchFilters | None = None


class SearchResponse(BaseModel):
    """Passages in rank order."""

    passages: list[Passage]
    mode: RetrievalMode = Field(description="The retrieval mode actually used.")
    took_ms: float


@router.post("/v1/search", responses={404: {"description": "No such collection"}})
def search(body: SearchRequest, settings: SettingsDep, retriever: RetrieverDep) -> SearchResponse:
    """The passages closest to the query, with source, section, pages and score."""
    started = time.perf_counter()
    mode = retriever.effective_mode(body.query, body.mode or settings.retrieval_mode)
    passages = retriever.search(
        body.collection or settings.collection,
        body.query,
        body.top_k or settings.top_k,
        mode=mode,
        filters=body.filters,
    )
    took = round((time.perf_counter() - started) * 1e3, 1)
    return SearchResponse(passages=passages, mode=mode, took_ms=took)
