"""Answering errors, and the one place where kura's errors become HTTP responses."""

from __future__ import annotations

import json
import logging
import math
import re
from typing import Any

from fastapi import FastAPI, HTTPException, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exception_handlers import http_exception_handler
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from qdrant_client.http.exceptions import ApiException, ResponseHandlingException
from starlette.exceptions import HTTPException as StarletteHTTPException

from app.write_gate import CollectionReindexing
from ingest.errors import (
    CollectionNotFound,
    DocumentError,
    EmbedderMismatch,
    EmbedderUnavailable,
    EmbedderUnreachable,
    KuraError,
    StoreUnavailable,
)

logger = logging.getLogger(__name__)


class LLMUnavailable(KuraError):
    """Ollama cannot answer: not running, unreachable, or the model is not pulled."""


class ModelNotFound(LLMUnavailable):
    """Ollama runs but does not have the model."""


class LLMLoading(LLMUnavailable):
    """Ollama was still loading the model when kura stopped waiting; try again later."""

    def __init__(self, message: str, retry_after: int) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class LLMTimeout(KuraError):
    """The model was loaded but did not answer within the request timeout."""


class LLMFailed(KuraError):
    """Ollama took the request but failed in the middle of it."""


class PromptTooLong(KuraError):
    """The question alone does not fit in the context window."""


class Busy(KuraError):
    """Too many questions wait for the model; try again after ``retry_after`` seconds."""

    def __init__(self, message: str, retry_after: int) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class ContextTruncated(KuraError):
    """Ollama cut the prompt to fit its context: the answer would ignore instructions."""


class ReasoningExhausted(KuraError):
    """gpt-oss spent the whole token budget (num_predict) reasoning and wrote no answer."""


_STATUS: list[tuple[type[KuraError], int]] = [
    (CollectionNotFound, 404),
    (DocumentError, 422),
    (PromptTooLong, 413),
    (LLMUnavailable, 503),
    (LLMTimeout, 504),
    (LLMFailed, 502),
    (Busy, 503),
    (StoreUnavailable, 503),
    (EmbedderUnavailable, 503),
    (EmbedderMismatch, 409),
    (CollectionReindexing, 409),
    (ContextTruncated, 502),
    (ReasoningExhausted, 502),
]


def error_status(exc: KuraError) -> int:
    """The HTTP status of a kura error."""
    return next((code for kind, code in _STATUS if isinstance(exc, kind)), 500)


# What an operator needs when the model cannot answer (Ollama's internal URL, shell commands,
# settings) is for admins only; everyone else learns that answers are unavailable for now.
UNAVAILABLE = (
    "Answers are unavailable right now: the answering model is not responding. "
    "An administrator can see why."
)
_OPERATOR_DETAIL = (LLMUnavailable, LLMTimeout, LLMFailed)
# The embedding host's URL and the fix (`ollama pull`, KURA_EMBED_...) are for admins too;
# what still answers without it is said to everyone.
NO_DENSE_SEARCH = (
    "Search by meaning is unavailable right now: the embedding service is not responding. "
    "Keyword search (mode=sparse) still answers; an administrator can see why."
)
# The model's limits, in words a user can act on; the messages admins read name the setting
# (KURA_..., OLLAMA_MAX_QUEUE), the host and the context size.
TOO_LONG = (
    "The question and its passages were too long for the answering model, so it did not "
    "answer. Ask a shorter question or narrow the search; an administrator can see the limit."
)
NO_ANSWER_LEFT = (
    "The answering model spent its whole answer length on reasoning and wrote no answer. "
    "Ask a narrower question, or ask with less reasoning (reasoning_effort: low)."
)


def public_detail(exc: KuraError, admin: bool) -> str:
    """The error's message as the caller may read it: whole for admins, without operator
    detail (hosts, settings, limits) for everyone else; what is withheld is logged."""
    if admin:
        return str(exc)
    if isinstance(exc, _OPERATOR_DETAIL):
        shown = UNAVAILABLE
    elif isinstance(exc, EmbedderUnavailable):
        shown = NO_DENSE_SEARCH
    elif isinstance(exc, Busy):
        shown = f"The answering model is busy; please try again in {exc.retry_after} seconds."
    elif isinstance(exc, ContextTruncated):
        shown = TOO_LONG
    elif isinstance(exc, ReasoningExhausted):
        shown = NO_ANSWER_LEFT
    else:
        return str(exc)
    # info: a busy model under load refuses many questions, each would be a warning
    logger.info(
        "%s, shown to a caller without an admin key as %r: %s", type(exc).__name__, shown, exc
    )
    return shown


def _retry_after(request: Request, exc: Exception) -> int | None:
    """Seconds to wait before asking again: the error's own, or for an embedding host that is
    down, the first wait of a file that waits for it (KURA_EMBED_RETRY_BACKOFF)."""
    if isinstance(exc, EmbedderUnreachable):
        return math.ceil(request.app.state.settings.embed_retry_backoff)
    retry_after: int | None = getattr(exc, "retry_after", None)
    return retry_after


def _is_admin(request: Request) -> bool:
    # Left there by app.auth.current_user; an error before authentication is nobody's.
    user = getattr(request.state, "user", None)
    return bool(getattr(user, "admin", False))


# A 422 names what was wrong and where; echoing a large input back would turn a 10 MB body
# into a 10 MB response (and put documents into logs and proxies).
MAX_ECHOED_INPUT = 200  # characters of JSON


def validation_errors(errors: Any) -> list[dict[str, Any]]:
    """Pydantic's validation errors, each ``input`` kept only when it is small."""
    shown = []
    for error in jsonable_encoder(errors):
        if "input" in error and len(json.dumps(error["input"])) > MAX_ECHOED_INPUT:
            error = {k: v for k, v in error.items() if k != "input"}
        shown.append(error)
    return shown


_OPENAI_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    404: "not_found_error",
    413: "invalid_request_error",
    422: "invalid_request_error",
    429: "rate_limit_error",
}


def _openai_route(request: Request) -> bool:
    """Whether the request is for an OpenAI-compatible route (tagged "openai")."""
    route = request.scope.get("route")
    return "openai" in (getattr(route, "tags", None) or [])


def openai_error_body(status: int, message: str, code: str | None) -> dict[str, Any]:
    """An error as OpenAI sends it: the `openai` SDK and Open WebUI show ``error.message``."""
    kind = _OPENAI_TYPES.get(status, "server_error" if status >= 500 else "invalid_request_error")
    return {"error": {"message": message, "type": kind, "code": code}}


def openai_error(
    status: int, message: str, code: str | None = None, headers: dict[str, str] | None = None
) -> JSONResponse:
    """An OpenAI-shaped error response."""
    return JSONResponse(
        openai_error_body(status, message, code), status_code=status, headers=headers
    )


def error_code(exc: Exception) -> str:
    """A kura error as an OpenAI error code: ``llm_unavailable``, ``context_truncated``..."""
    if isinstance(exc, LLMUnavailable):  # not pulled, down, loading: no answer now
        return "llm_unavailable"
    return re.sub(r"(?<!^)(?=[A-Z])", "_", type(exc).__name__).lower()


def install_error_handlers(app: FastAPI) -> None:
    """Map kura's errors to status codes; anything else is a 500 without internals."""

    async def kura_error(request: Request, exc: Exception) -> JSONResponse:
        status = error_status(exc)  # type: ignore[arg-type]
        if status == 500:
            logger.error("unmapped kura error on %s", request.url.path, exc_info=exc)
            return JSONResponse({"detail": "internal error"}, status_code=500)
        retry_after = _retry_after(request, exc)
        headers = {"Retry-After": str(retry_after)} if retry_after else None
        detail = public_detail(exc, _is_admin(request))  # type: ignore[arg-type]
        if _openai_route(request):
            return openai_error(status, detail, error_code(exc), headers)
        body = {"detail": detail, "error": type(exc).__name__}
        return JSONResponse(body, status_code=status, headers=headers)

    async def http_error(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, StarletteHTTPException)
        if _openai_route(request):
            code = "model_not_found" if exc.status_code == 404 else None
            headers = dict(exc.headers) if exc.headers else None
            return openai_error(exc.status_code, str(exc.detail), code, headers)
        response = await http_exception_handler(request, exc)
        assert isinstance(response, JSONResponse)
        return response

    async def invalid_request(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, RequestValidationError)
        if _openai_route(request):
            # OpenAI answers 400 for a malformed request, naming the field
            problems = "; ".join(
                f"{'.'.join(str(p) for p in e['loc'][1:]) or 'body'}: {e['msg']}"
                for e in exc.errors()
            )
            return openai_error(400, f"invalid request: {problems}", "invalid_request")
        return JSONResponse({"detail": validation_errors(exc.errors())}, status_code=422)

    async def unexpected(request: Request, exc: Exception) -> JSONResponse:
        logger.error("unhandled error on %s", request.url.path, exc_info=exc)
        return JSONResponse({"detail": "internal error"}, status_code=500)

    async def store_down(request: Request, exc: Exception) -> JSONResponse:
        # qdrant-client's errors when a Qdrant server is down or refuses a request.
        logger.error("vector store error on %s", request.url.path, exc_info=exc)
        return JSONResponse(
            {"detail": "the vector store (Qdrant) is unavailable", "error": "StoreUnavailable"},
            status_code=503,
        )

    app.add_exception_handler(KuraError, kura_error)
    app.add_exception_handler(StarletteHTTPException, http_error)
    app.add_exception_handler(HTTPException, http_error)
    app.add_exception_handler(RequestValidationError, invalid_request)
    app.add_exception_handler(ApiException, store_down)
    app.add_exception_handler(ResponseHandlingException, store_down)
    app.add_exception_handler(Exception, unexpected)
