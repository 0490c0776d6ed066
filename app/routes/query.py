"""Questions answered from the documents, with citations: whole, or streamed as server-sent
events. Every answer is recorded in the audit log."""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator
from contextlib import aclosing
from typing import Any

from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import StreamingResponse
from pydantic import BaseModel, Field

from app.answer import Answer, Ask, Draft, Turn, answer_question, draft, stream_answer
from app.audit import AccessDecision, AuditEntry, AuditLog, AuditPassage, ProxyInfo
from app.auth import User
from app.deps import (
    ComponentsDep,
    CurrentUser,
    LLMDep,
    RetrieverDep,
    SettingsDep,
    collection_for,
    reader_groups,
)
from app.errors import error_status
from app.observability import Metrics
from app.retrieve import Passage, SearchFilters
from app.settings import AppSettings, ReasoningEffort, RetrievalMode
from ingest.errors import KuraError

logger = logging.getLogger(__name__)
router = APIRouter(tags=["query"])


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


def make_ask(body: QueryRequest, user: User, settings: AppSettings, components: Any) -> Ask:
    """The question as the answering code takes it, with the reader's access filter."""
    collection = body.collection or settings.collection
    collection_for(collection, user, components, settings)
    return Ask(
        question=body.question,
        collection=collection,
        top_k=body.top_k or settings.top_k,
        effort=body.reasoning_effort or settings.reasoning_effort,
        mode=body.mode or settings.retrieval_mode,
        filters=body.filters,
        history=body.history,
        groups=reader_groups(user, settings),
        include_reasoning=body.include_reasoning,
    )


def record(
    audit: AuditLog,
    settings: AppSettings,
    user: User,
    endpoint: str,
    ask: Ask,
    answer: Answer | None,
    passages: list[Passage],
    status: int,
) -> None:
    """One evidence record: who asked what, what the model was given, what it answered."""
    entry = AuditEntry(
        user=user.name,
        key_id=user.key_id,
        proxy=ProxyInfo(user=user.via, key_id=user.key_id) if user.via else None,
        endpoint=endpoint,
        collection=ask.collection,
        question=ask.question,
        answer=answer.answer if answer else None,
        passages=[
            AuditPassage(
                n=p.n,
                chunk_id=p.chunk_id,
                document_id=p.document_id,
                document_version=p.document_version,
                source=p.source,
                page=p.pages or None,
            )
            for p in passages
        ],
        access=AccessDecision(
            groups=ask.groups if ask.groups is not None else ["(auth off: no filter)"],
            decision="allowed",
        ),
        model=answer.model if answer else settings.ollama_model,
        settings={
            "reasoning_effort": ask.effort,
            "top_k": ask.top_k,
            "mode": ask.mode,
            "num_ctx": settings.num_ctx,
            "temperature": settings.temperature,
            "answer_max_tokens": settings.answer_max_tokens,
            "filters": ask.filters.model_dump(mode="json") if ask.filters else None,
            "standalone_question": answer.question if answer else None,
            "covered": answer.covered if answer else None,
        },
        citations=[c.n for c in answer.citations] if answer else [],
        status=status,
    )
    try:
        audit.record(entry)
    except Exception:
        logger.exception("could not write the audit record")
        raise


def observe(metrics: Metrics, answer: Answer) -> None:
    """Retrieval and generation time, tokens and the outcome, for /metrics."""
    metrics.observe_retrieval(answer.retrieval_mode, answer.timings.retrieval_ms / 1000)
    if answer.covered:
        metrics.observe_generation(
            answer.model,
            answer.timings.generation_ms / 1000,
            answer.usage.prompt_tokens,
            answer.usage.completion_tokens,
        )
    metrics.count_answer("answered" if answer.covered else "no_answer")


async def settle(
    app: Any,
    user: User,
    endpoint: str,
    ask: Ask,
    answer: Answer | None,
    passages: list[Passage],
    status: int,
) -> None:
    """After an answer, or its failure: the metrics and the audit record. Status 499 is a
    client that went away, not an error."""
    if answer is not None:
        observe(app.state.metrics, answer)
    elif status != 499:
        app.state.metrics.count_answer("error")
    await run_in_threadpool(
        record, app.state.audit, app.state.settings, user, endpoint, ask, answer, passages, status
    )


async def answer_recorded(request: Request, user: User, endpoint: str, ask: Ask) -> Answer:
    """A whole answer, settled (metrics and audit record) whether it came or failed."""
    app = request.app
    try:
        answer = await run_in_threadpool(
            answer_question, app.state.retriever, app.state.llm, app.state.settings, ask
        )
    except KuraError as exc:
        await settle(app, user, endpoint, ask, None, [], error_status(exc))
        raise
    await settle(app, user, endpoint, ask, answer, answer.given, 200)
    return answer


def sse(event: str, data: dict[str, Any]) -> str:
    """One server-sent event."""
    return f"event: {event}\ndata: {json.dumps(data, ensure_ascii=False)}\n\n"


async def event_stream(
    request: Request,
    drafted: Draft,
    endpoint: str,
    user: User,
) -> AsyncIterator[str]:
    """The SSE body of a streamed answer; errors after the start become an ``error`` event."""
    app = request.app
    answer: Answer | None = None
    status = 200
    events = stream_answer(drafted, app.state.llm, app.state.retriever)
    try:
        async with aclosing(events):
            async for event, data in events:
                if event == "done":
                    answer = Answer.model_validate(data)
                yield sse(event, data)
    except KuraError as exc:
        status = error_status(exc)
        yield sse("error", {"detail": str(exc), "error": type(exc).__name__, "status": status})
    finally:
        # No answer and no error: the client went away (499).
        final = status if answer or status != 200 else 499
        await settle(app, user, endpoint, drafted.ask, answer, drafted.passages, final)


@router.post(
    "/v1/query",
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
    request: Request,
    body: QueryRequest,
    user: CurrentUser,
    settings: SettingsDep,
    components: ComponentsDep,
    retriever: RetrieverDep,
    llm: LLMDep,
) -> Any:
    """Answer the question from the collection's passages, citing them as [n]."""
    ask = await run_in_threadpool(make_ask, body, user, settings, components)
    if body.stream:
        drafted = await run_in_threadpool(draft, retriever, llm, settings, ask)
        return StreamingResponse(
            event_stream(request, drafted, "/v1/query", user),
            media_type="text/event-stream",
            headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
        )
    return await answer_recorded(request, user, "/v1/query", ask)
