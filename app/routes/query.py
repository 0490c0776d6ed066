"""Questions answered from the documents, with citations."""

from __future__ import annotations

from fastapi import APIRouter
from pydantic import BaseModel, Field

from app.answer import Answer, answer_question
from app.deps import LLMDep, RetrieverDep, SettingsDep
from app.retrieve import SearchFilters
from app.settings import ReasoningEffort, RetrievalMode

router = APIRouter(tags=["query"])


class QueryRequest(BaseModel):
    """A question about one collection."""

    question: str = Field(min_length=1, max_length=8000)
    collection: str | None = Field(None, description="Default: the configured collection.")
    top_k: int | None = Field(None, ge=1, le=50)
    reasoning_effort: ReasoningEffort | None = Field(
        None, description="gpt-oss reasoning effort; default from settings."
    )
    mode: RetrievalMode | None = Field(None, description="Default: settings' retrieval_mode.")
    include_reasoning: bool = Field(
        False, description="Return gpt-oss's reasoning in a separate `reasoning` field."
    )
    filters: SearchFilters | None = None


@router.post(
    "/v1/query",
    responses={
        404: {"description": "No such collection"},
        502: {"description": "Ollama truncated the prompt"},
        503: {"description": "Ollama unreachable or the model not pulled"},
    },
)
def query(
    body: QueryRequest, settings: SettingsDep, retriever: RetrieverDep, llm: LLMDep
) -> Answer:
    """Answer the question from the collection's passages, citing them as [n]."""
    return answer_question(
        retriever,
        llm,
        settings,
        body.question,
        collection=body.collection or settings.collection,
        top_k=body.top_k or settings.top_k,
        effort=body.reasoning_effort or settings.reasoning_effort,
        mode=body.mode or settings.retrieval_mode,
        filters=body.filters,
        include_reasoning=body.include_reasoning,
    )
