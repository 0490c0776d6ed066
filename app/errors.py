"""Answering errors, and the one place where kura's errors become HTTP responses."""

from __future__ import annotations

import json
import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from qdrant_client.http.exceptions import ApiException, ResponseHandlingException

from ingest.errors import CollectionNotFound, DocumentError, KuraError, StoreUnavailable

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
    (ContextTruncated, 502),
    (ReasoningExhausted, 502),
]


def error_status(exc: KuraError) -> int:
    """The HTTP status of a kura error."""
    return next((code for kind, code in _STATUS if isinstance(exc, kind)), 500)


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


def install_error_handlers(app: FastAPI) -> None:
    """Map kura's errors to status codes; anything else is a 500 without internals."""

    async def kura_error(request: Request, exc: Exception) -> JSONResponse:
        status = error_status(exc)  # type: ignore[arg-type]
        if status == 500:
            logger.error("unmapped kura error on %s", request.url.path, exc_info=exc)
            return JSONResponse({"detail": "internal error"}, status_code=500)
        retry_after = getattr(exc, "retry_after", None)
        headers = {"Retry-After": str(retry_after)} if retry_after else None
        body = {"detail": str(exc), "error": type(exc).__name__}
        return JSONResponse(body, status_code=status, headers=headers)

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

    async def invalid_request(request: Request, exc: Exception) -> JSONResponse:
        errors = exc.errors() if isinstance(exc, RequestValidationError) else []
        return JSONResponse({"detail": validation_errors(errors)}, status_code=422)

    app.add_exception_handler(KuraError, kura_error)
    app.add_exception_handler(RequestValidationError, invalid_request)
    app.add_exception_handler(ApiException, store_down)
    app.add_exception_handler(ResponseHandlingException, store_down)
    app.add_exception_handler(Exception, unexpected)
