"""Streamed answers over HTTP: server-sent events for /v1/query, and the response that carries
any event stream (OpenAI's included) past proxies unbuffered."""

from __future__ import annotations

import json
from collections.abc import AsyncGenerator, AsyncIterator, Iterable
from contextlib import aclosing
from typing import Any

from fastapi.responses import StreamingResponse

from app.errors import error_status, public_detail
from ingest.errors import KuraError

# No proxy buffering, or the answer arrives whole at the end.
HEADERS = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}


def event_stream(body: AsyncIterator[str] | Iterable[str]) -> StreamingResponse:
    """A text/event-stream response of ``body``'s frames."""
    return StreamingResponse(body, media_type="text/event-stream", headers=dict(HEADERS))


def sse(event: str, data: dict[str, Any]) -> str:
    """One server-sent event."""
    return f"event: {event}\ndata: {json.dumps(data, ensure_ascii=False)}\n\n"


async def answer_events(
    events: AsyncGenerator[tuple[str, dict[str, Any]], None], *, admin: bool
) -> AsyncIterator[str]:
    """The SSE body of a streamed answer; errors after the start become an ``error`` event
    (with the operator's detail only for an ``admin``)."""
    try:
        async with aclosing(events):
            async for event, data in events:
                yield sse(event, data)
    except KuraError as exc:
        status = error_status(exc)
        detail = public_detail(exc, admin)
        yield sse("error", {"detail": detail, "error": type(exc).__name__, "status": status})
