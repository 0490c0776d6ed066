"""Questions answered from the documents, with citations: whole, or streamed as server-sent
events. Every answer is recorded in the audit log."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from fastapi.concurrency import run_in_threadpool
from pydantic import BaseModel, Field

from app.answer import Answer, Ask, Turn
from app.deps import ComponentsDep, CurrentUser, SettingsDep, collection_for, reader_groups
from app.retrieve import SearchFilters
from app.services.ask import AnsweringDep, new_ask
from app.services.record import Caller
from app.settings import AppSettings, ReasoningEffort, RetrievalMode
from app.sse import answer_events, event_stream

router = APIRouter(tags=["query"])

ENDPOINT = "/v1/query"


class QueryRequest(BaseModel):
    """A question about one collection, optionally following earlier turns."""

    question: str = Field(min_length=1, max_length=8000)
    collection: str | None = Field(None, description="Default: the configured collection.")
    history: list[Turn] = Field(
        default_factory=list,
        max_length=50,
        description="Earlier turns of the conversation, oldest first; the question is made "
        "self-contained from them before retrieval.",
    )
    stream: bool = Field(
        False,
        description="Answer as server-sent events: passages, then tokens, then done.",
    )
    top_k: int | None = Field(None, ge=1, le=50)
    reasoning_effort: ReasoningEffort | None = Field(
        None, description="gpt-oss reasoning effort; default from settings."
    )
    mode: RetrievalMode | None = Field(None, description="Default: settings' retrieval_mode.")
    include_reasoning: bool = Field(
        False, description="Return gpt-oss's reasoning in a separate `reasoning` field."
    )
    filters: SearchFilters | None = None

    def ask(self, settings: AppSettings, groups: list[str] | None) -> Ask:
        """The question as the answering code takes it, with the reader's access filter."""
        return new_ask(
            settings,
            self.question,
            collection=self.collection,
            top_k=self.top_k,
            effort=self.reasoning_effort,
            mode=self.mode,
            filters=self.filters,
            history=self.history,
            groups=groups,
            include_reasoning=self.include_reasoning,
        )


@router.post(
    ENDPOINT,
    response_model=Answer,
    responses={
        200: {"content": {"text/event-stream": {}}, "description": "Answer, or SSE when stream"},
        401: {"description": "No or invalid API key"},
        404: {"description": "No such collection"},
        502: {"description": "Ollama truncated the prompt"},
        503: {"description": "Ollama unreachable, the model not pulled, or too busy"},
    },
)
async def query(
    body: QueryRequest,
    user: CurrentUser,
    settings: SettingsDep,
    components: ComponentsDep,
    answering: AnsweringDep,
) -> Any:
    """Answer the question from the collection's passages, citing them as [n]."""
    ask = body.ask(settings, reader_groups(user, settings))
    await run_in_threadpool(collection_for, ask.collection, user, components, settings)
    caller = Caller(user, ENDPOINT)
    if body.stream:
        drafted = await answering.draft(ask)
        events = answering.stream(drafted, caller)
        return event_stream(answer_events(events, admin=user.admin))
    return await answering.answer(ask, caller)
