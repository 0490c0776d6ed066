"""OpenAI-compatible endpoints, so Open WebUI, the `openai` SDK and other OpenAI clients can use
kura as a model: one model per collection (``kura:manuals``), answers grounded in it.

Citations stay [n] in the text, followed by a sources list, and come in full in an extra
``citations`` field.
"""

from __future__ import annotations

import json
import logging
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import aclosing
from pathlib import PurePath
from typing import Any, Literal

from fastapi import APIRouter, HTTPException, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import StreamingResponse
from pydantic import BaseModel, Field

from app.answer import (
    Answer,
    Ask,
    Draft,
    Turn,
    background_task,
    draft,
    is_background_task,
    stream_answer,
    version_note_text,
)
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
from app.errors import error_code, error_status, openai_error_body
from app.llm import Generation, Sampling
from app.retrieve import Passage
from app.routes.query import answer_recorded, settle
from app.settings import ReasoningEffort
from ingest.errors import CollectionNotFound, KuraError

logger = logging.getLogger(__name__)
router = APIRouter(tags=["openai"])

PREFIX = "kura:"


class ChatMessage(BaseModel):
    """An OpenAI chat message (text content, or a list of text parts)."""

    role: Literal["system", "developer", "user", "assistant", "tool"]
    content: str | list[dict[str, Any]] | None = None

    def text(self) -> str:
        """The message's text."""
        if isinstance(self.content, list):
            return "".join(str(p.get("text", "")) for p in self.content if p.get("type") == "text")
        return self.content or ""


class StreamOptions(BaseModel):
    """OpenAI's stream_options."""

    include_usage: bool = False

    model_config = {"extra": "allow"}


class ChatRequest(BaseModel):
    """The fields of an OpenAI chat completion request kura uses or refuses; others (user,
    seed, top_p, ...) are accepted and have no effect."""

    model: str
    messages: list[ChatMessage] = Field(min_length=1)
    stream: bool = False
    stream_options: StreamOptions | None = None
    reasoning_effort: ReasoningEffort | None = None
    max_tokens: int | None = Field(None, ge=1, description="Reasoning plus answer tokens.")
    max_completion_tokens: int | None = Field(None, ge=1, description="As max_tokens.")
    temperature: float | None = Field(None, ge=0, le=2)
    stop: str | list[str] | None = Field(None, description="Up to 4 stop sequences.")
    # refused unless harmless: kura gives one answer in text, and calls no tools
    n: int | None = Field(None, ge=1)
    tools: list[Any] | None = None
    functions: list[Any] | None = None
    response_format: dict[str, Any] | None = None

    model_config = {"extra": "allow"}

    def refusal(self) -> str | None:
        """Why kura cannot honour this request, or None."""
        if self.n is not None and self.n > 1:
            return "n > 1 is not supported: kura gives one answer per question"
        if self.tools or self.functions:
            return "tools are not supported: kura answers from its documents and calls no tools"
        if self.response_format and self.response_format.get("type", "text") != "text":
            return (
                f"response_format {self.response_format.get('type')!r} is not supported: kura "
                "answers in text with citations"
            )
        if isinstance(self.stop, list) and len(self.stop) > 4:
            return "stop takes at most 4 sequences"
        return None

    def sampling(self) -> Sampling:
        """The request's max_tokens, temperature and stop, as Ollama options."""
        limit = self.max_completion_tokens or self.max_tokens
        name = "max_completion_tokens" if self.max_completion_tokens else "max_tokens"
        stop = [self.stop] if isinstance(self.stop, str) else self.stop
        return Sampling(
            num_predict=limit,
            temperature=self.temperature,
            stop=stop or None,
            budget_name=name if limit else "KURA_ANSWER_MAX_TOKENS",
        )


def _where(p: Passage) -> str:
    where = [PurePath(p.source).name]
    if p.clause:
        where.append(p.clause)
    elif p.section:
        where.append(p.section)
    if p.pages:
        where.append(f"p. {p.pages}")
    return ", ".join(where)


def sources_text(citations: list[Passage]) -> str:
    """The sources list appended to an answer's text."""
    if not citations:
        return ""
    return "\n\nSources:\n" + "\n".join(f"[{p.n}] {_where(p)}" for p in citations)


def source_event(passage: Passage, cited: Passage | None) -> dict[str, Any]:
    """A passage as the "source" event Open WebUI renders under the answer.

    Open WebUI emits a streamed chunk's ``event`` (utils/middleware.py), stores a "source"
    event with the message, and its Citations.svelte numbers sources by ``metadata.source`` in
    order: sent for every passage in order, [n] in the text opens passage n. ``page`` is
    0-based there (it shows page + 1).
    """
    metadata: dict[str, Any] = {
        "source": f"kura:{passage.chunk_id}",
        "name": _where(passage),
        "document_id": passage.document_id,
        "cited": cited is not None,
    }
    if passage.page_start:
        metadata["page"] = passage.page_start - 1
    if cited is not None and cited.verified is not None:
        metadata["verified"] = cited.verified
    return {
        "type": "source",
        "data": {
            "source": {"id": f"kura:{passage.document_id}", "name": _where(passage)},
            "document": [passage.text],
            "metadata": [metadata],
        },
    }


def _collection(model: str) -> str:
    return model.removeprefix(PREFIX)


def _readable(body: ChatRequest, user: Any, settings: Any, components: Any) -> str:
    """The collection the request's model names, if the caller may read it (else 404), and
    the request is one kura can honour (else 400)."""
    if (refusal := body.refusal()) is not None:
        raise HTTPException(400, detail=refusal)
    collection = _collection(body.model)
    try:
        collection_for(collection, user, components, settings)
    except CollectionNotFound as exc:
        raise HTTPException(404, detail=f"no such model: {body.model}") from exc
    return collection


def _ask(body: ChatRequest, user: Any, settings: Any, components: Any) -> Ask:
    collection = _readable(body, user, settings, components)
    turns = [m for m in body.messages if m.role in ("user", "assistant")]
    if not turns or turns[-1].role != "user" or not turns[-1].text().strip():
        raise HTTPException(400, detail="the last message must be a user message with text")
    history = [Turn(role=m.role, content=m.text()[:20000]) for m in turns[:-1]]
    # system and developer messages: the user's instructions on style and language, kept
    # below kura's own rules in the prompt
    instructions = "\n\n".join(
        m.text().strip() for m in body.messages if m.role in ("system", "developer")
    )
    return Ask(
        question=turns[-1].text().strip()[:8000],
        collection=collection,
        top_k=settings.top_k,
        effort=body.reasoning_effort or settings.reasoning_effort,
        mode=settings.retrieval_mode,
        history=history,
        groups=reader_groups(user, settings),
        instructions=instructions[:4000],
        sampling=body.sampling(),
    )


@router.get("/v1/models")
def list_models(
    user: CurrentUser, settings: SettingsDep, components: ComponentsDep
) -> dict[str, Any]:
    """One model per collection the caller may read."""
    names = sorted(
        {c.name for c in components.registry.collections()} | set(components.collections())
    )
    data = []
    for name in names:
        try:
            collection_for(name, user, components, settings)
        except CollectionNotFound:
            continue
        data.append({"id": f"{PREFIX}{name}", "object": "model", "created": 0, "owned_by": "kura"})
    return {"object": "list", "data": data}


def _usage(answer: Answer) -> dict[str, int]:
    usage = answer.usage
    return {
        "prompt_tokens": usage.prompt_tokens,
        "completion_tokens": usage.completion_tokens,
        "total_tokens": usage.prompt_tokens + usage.completion_tokens,
    }


def _completion(answer: Answer, model: str) -> dict[str, Any]:
    return {
        "id": f"chatcmpl-{uuid.uuid4().hex}",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": model,
        "choices": [
            {
                "index": 0,
                "message": {
                    "role": "assistant",
                    "content": answer.answer + sources_text(answer.citations),
                },
                "finish_reason": "length" if answer.finish_reason == "length" else "stop",
            }
        ],
        "usage": _usage(answer),
        "citations": [c.model_dump() for c in answer.citations],
        "kura": {"covered": answer.covered, "question": answer.question},
    }


def _plain(generation: Generation, model: str, stream: bool) -> Any:
    """A background task's answer as a completion (or a stream of one chunk): the model's
    text alone, no sources, no citations."""
    ident, created = f"chatcmpl-{uuid.uuid4().hex}", int(time.time())
    finish = "length" if generation.done_reason == "length" else "stop"
    usage = {
        "prompt_tokens": generation.prompt_tokens,
        "completion_tokens": generation.completion_tokens,
        "total_tokens": generation.prompt_tokens + generation.completion_tokens,
    }
    if not stream:
        message = {"role": "assistant", "content": generation.content}
        return {
            "id": ident,
            "object": "chat.completion",
            "created": created,
            "model": model,
            "choices": [{"index": 0, "message": message, "finish_reason": finish}],
            "usage": usage,
        }
    delta = {"role": "assistant", "content": generation.content}
    chunk = {
        "id": ident,
        "object": "chat.completion.chunk",
        "created": created,
        "model": model,
        "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
    }
    body = f"data: {json.dumps(chunk, ensure_ascii=False)}\n\ndata: [DONE]\n\n"
    return StreamingResponse(
        iter([body]),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )


@router.post("/v1/chat/completions")
async def chat_completions(
    request: Request,
    body: ChatRequest,
    user: CurrentUser,
    settings: SettingsDep,
    components: ComponentsDep,
    retriever: RetrieverDep,
    llm: LLMDep,
) -> Any:
    """An OpenAI chat completion answered from the collection named by the model."""
    messages = [{"role": m.role, "content": m.text()} for m in body.messages]
    if is_background_task(messages):
        await run_in_threadpool(_readable, body, user, settings, components)
        logger.info("background task from the client answered without retrieval")
        generation = await run_in_threadpool(background_task, llm, messages, body.sampling())
        return _plain(generation, body.model, body.stream)
    ask = await run_in_threadpool(_ask, body, user, settings, components)
    endpoint = "/v1/chat/completions"
    if body.stream:
        drafted = await run_in_threadpool(draft, retriever, llm, settings, ask)
        usage = body.stream_options is not None and body.stream_options.include_usage
        return StreamingResponse(
            _chunks(request, drafted, body.model, user, endpoint, usage),
            media_type="text/event-stream",
            # no proxy buffering, or the answer arrives whole at the end (as /v1/query)
            headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
        )
    answer = await answer_recorded(request, user, endpoint, ask)
    return _completion(answer, body.model)


async def _chunks(
    request: Request, drafted: Draft, model: str, user: User, endpoint: str, usage: bool
) -> AsyncIterator[str]:
    app = request.app
    ident = f"chatcmpl-{uuid.uuid4().hex}"
    created = int(time.time())

    def chunk(delta: dict[str, Any] | None, finish: str | None = None, **extra: Any) -> str:
        choices = [] if delta is None else [{"index": 0, "delta": delta, "finish_reason": finish}]
        body = {
            "id": ident,
            "object": "chat.completion.chunk",
            "created": created,
            "model": model,
            "choices": choices,
            **extra,
        }
        return f"data: {json.dumps(body, ensure_ascii=False)}\n\n"

    answer: Answer | None = None
    status = 200
    yield chunk({"role": "assistant", "content": ""})
    events = stream_answer(drafted, app.state.llm, app.state.retriever)
    try:
        async with aclosing(events):
            async for event, data in events:
                if event == "token":
                    yield chunk({"content": data["text"]})
                elif event == "done":
                    answer = Answer.model_validate(data)
                    # The streamed text is the model's; notes and sources follow it.
                    notes = version_note_text(answer.version_notes, drafted.ask.question)
                    tail = ("\n\n" + notes if notes else "") + sources_text(answer.citations)
                    finish = "length" if answer.finish_reason == "length" else "stop"
                    # Open WebUI's sources: one event a chunk, on an empty delta so clients
                    # that read choices[0] see nothing new
                    cited = {c.n: c for c in answer.citations}
                    for passage in sorted(drafted.passages, key=lambda p: p.n):
                        source = source_event(passage, cited.get(passage.n))
                        yield chunk({"content": ""}, event=source)
                    yield chunk(
                        {"content": tail},
                        finish,
                        citations=[c.model_dump() for c in answer.citations],
                    )
                    if usage:  # stream_options.include_usage: one last chunk, no choices
                        yield chunk(None, usage=_usage(answer))
            yield "data: [DONE]\n\n"
    except KuraError as exc:
        status = error_status(exc)
        error = openai_error_body(status, str(exc), error_code(exc))
        yield f"data: {json.dumps(error, ensure_ascii=False)}\n\n"
    finally:
        final = status if answer or status != 200 else 499  # 499: the client went away
        await settle(app, user, endpoint, drafted.ask, answer, drafted.passages, final)
