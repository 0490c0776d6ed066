"""OpenAI-compatible endpoints, so Open WebUI, the `openai` SDK and other OpenAI clients can use
kura as a model: one model per collection (``kura:manuals``), answers grounded in it.

Citations stay [n] in the text, followed by a sources list, and come in full in an extra
``citations`` field.
"""

from __future__ import annotations

import json
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
    draft,
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
from app.errors import error_status
from app.retrieve import Passage
from app.routes.query import answer_recorded, settle
from app.settings import ReasoningEffort
from ingest.errors import CollectionNotFound, KuraError

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


class ChatRequest(BaseModel):
    """The fields of an OpenAI chat completion request kura uses; others are accepted."""

    model: str
    messages: list[ChatMessage] = Field(min_length=1)
    stream: bool = False
    reasoning_effort: ReasoningEffort | None = None

    model_config = {"extra": "allow"}


def sources_text(citations: list[Passage]) -> str:
    """The sources list appended to an answer's text."""
    if not citations:
        return ""
    lines = []
    for p in citations:
        where = [PurePath(p.source).name]
        if p.clause:
            where.append(p.clause)
        elif p.section:
            where.append(p.section)
        if p.pages:
            where.append(f"p. {p.pages}")
        lines.append(f"[{p.n}] " + ", ".join(where))
    return "\n\nSources:\n" + "\n".join(lines)


def _collection(model: str) -> str:
    return model.removeprefix(PREFIX)


def _ask(body: ChatRequest, user: Any, settings: Any, components: Any) -> Ask:
    collection = _collection(body.model)
    try:
        collection_for(collection, user, components, settings)
    except CollectionNotFound as exc:
        raise HTTPException(404, detail=f"no such model: {body.model}") from exc
    turns = [m for m in body.messages if m.role in ("user", "assistant")]
    if not turns or turns[-1].role != "user" or not turns[-1].text().strip():
        raise HTTPException(422, detail="the last message must be a user message with text")
    history = [Turn(role=m.role, content=m.text()[:20000]) for m in turns[:-1]]
    return Ask(
        question=turns[-1].text().strip()[:8000],
        collection=collection,
        top_k=settings.top_k,
        effort=body.reasoning_effort or settings.reasoning_effort,
        mode=settings.retrieval_mode,
        history=history,
        groups=reader_groups(user, settings),
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
    ask = await run_in_threadpool(_ask, body, user, settings, components)
    endpoint = "/v1/chat/completions"
    if body.stream:
        drafted = await run_in_threadpool(draft, retriever, llm, settings, ask)
        return StreamingResponse(
            _chunks(request, drafted, body.model, user, endpoint),
            media_type="text/event-stream",
            headers={"Cache-Control": "no-cache"},
        )
    answer = await answer_recorded(request, user, endpoint, ask)
    return _completion(answer, body.model)


async def _chunks(
    request: Request, drafted: Draft, model: str, user: User, endpoint: str
) -> AsyncIterator[str]:
    app = request.app
    ident = f"chatcmpl-{uuid.uuid4().hex}"
    created = int(time.time())

    def chunk(delta: dict[str, Any], finish: str | None = None, **extra: Any) -> str:
        body = {
            "id": ident,
            "object": "chat.completion.chunk",
            "created": created,
            "model": model,
            "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
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
                    yield chunk(
                        {"content": tail},
                        finish,
                        citations=[c.model_dump() for c in answer.citations],
                        usage=_usage(answer),
                    )
            yield "data: [DONE]\n\n"
    except KuraError as exc:
        status = error_status(exc)
        error = {"message": str(exc), "type": type(exc).__name__, "code": status}
        yield f"data: {json.dumps({'error': error}, ensure_ascii=False)}\n\n"
    finally:
        final = status if answer or status != 200 else 499  # 499: the client went away
        await settle(app, user, endpoint, drafted.ask, answer, drafted.passages, final)
