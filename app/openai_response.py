"""kura's answers in OpenAI's shapes: a chat completion, or its chunks when streamed, so Open
WebUI, the `openai` SDK and other OpenAI clients can use kura as a model.

Citations stay [n] in the text, followed by a sources list, and come in full in an extra
``citations`` field.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import AsyncGenerator, AsyncIterator
from contextlib import aclosing
from pathlib import PurePath
from typing import Any

from fastapi.responses import StreamingResponse

from app.answer import Answer, Draft, version_note_text
from app.errors import error_code, error_status, openai_error_body, public_detail
from app.llm import Generation
from app.passages import Passage
from app.sse import event_stream
from ingest.errors import KuraError


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


def usage(answer: Answer) -> dict[str, int]:
    """The answer's token counts, as OpenAI's usage."""
    return {
        "prompt_tokens": answer.usage.prompt_tokens,
        "completion_tokens": answer.usage.completion_tokens,
        "total_tokens": answer.usage.prompt_tokens + answer.usage.completion_tokens,
    }


def completion(answer: Answer, model: str) -> dict[str, Any]:
    """A whole answer as a chat completion."""
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
        "usage": usage(answer),
        "citations": [c.model_dump() for c in answer.citations],
        "kura": {"covered": answer.covered, "question": answer.question},
    }


def plain(generation: Generation, model: str, stream: bool) -> Any:
    """A background task's answer as a completion (or a stream of one chunk): the model's
    text alone, no sources, no citations."""
    ident, created = f"chatcmpl-{uuid.uuid4().hex}", int(time.time())
    finish = "length" if generation.done_reason == "length" else "stop"
    counts = {
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
            "usage": counts,
        }
    delta = {"role": "assistant", "content": generation.content}
    chunk = {
        "id": ident,
        "object": "chat.completion.chunk",
        "created": created,
        "model": model,
        "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
    }
    return event_stream([f"data: {json.dumps(chunk, ensure_ascii=False)}\n\ndata: [DONE]\n\n"])


def completion_stream(
    events: AsyncGenerator[tuple[str, dict[str, Any]], None],
    drafted: Draft,
    model: str,
    with_usage: bool,
    *,
    admin: bool,
) -> StreamingResponse:
    """A streamed answer as chat completion chunks (an error's operator detail only for an
    ``admin``)."""
    return event_stream(_chunks(events, drafted, model, with_usage, admin))


async def _chunks(
    events: AsyncGenerator[tuple[str, dict[str, Any]], None],
    drafted: Draft,
    model: str,
    with_usage: bool,
    admin: bool,
) -> AsyncIterator[str]:
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

    yield chunk({"role": "assistant", "content": ""})
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
                    if with_usage:  # stream_options.include_usage: one last chunk, no choices
                        yield chunk(None, usage=usage(answer))
            yield "data: [DONE]\n\n"
    except KuraError as exc:
        status = error_status(exc)
        error = openai_error_body(status, public_detail(exc, admin), error_code(exc))
        yield f"data: {json.dumps(error, ensure_ascii=False)}\n\n"
