"""Passages only: works even when Ollama is down."""

from __future__ import annotations

from fastapi import APIRouter
from pydantic import BaseModel, Field

from app.deps import (
    ComponentsDep,
    CurrentUser,
    MetricsDep,
    RetrieverDep,
    SettingsDep,
    collection_for,
    reader_groups,
)
from app.passages import Passage
from app.retrieve import SearchFilters
from app.services.search import Scope, search_passages
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


@router.post(
    "/v1/search",
    responses={
        401: {"description": "No or invalid API key"},
        404: {"description": "No such collection"},
    },
)
def search(
    body: SearchRequest,
    user: CurrentUser,
    settings: SettingsDep,
    components: ComponentsDep,
    retriever: RetrieverDep,
    metrics: MetricsDep,
) -> SearchResponse:
    """The passages closest to the query that the caller may read, with source, section,
    clause, pages and score."""
    scope = Scope.of(settings, collection=body.collection, top_k=body.top_k, mode=body.mode)
    collection_for(scope.collection, user, components, settings)
    found = search_passages(
        retriever,
        scope,
        body.query,
        filters=body.filters,
        groups=reader_groups(user, settings),
        metrics=metrics,
    )
    took = round(found.seconds * 1e3, 1)
    return SearchResponse(passages=found.passages, mode=found.mode, took_ms=took)
