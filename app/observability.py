"""What operators see: Prometheus metrics, request ids, one access line per request, JSON logs."""

from __future__ import annotations

import contextvars
import json
import logging
import re
import sys
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from typing import IO, Any, Literal

from fastapi import Depends, FastAPI
from fastapi.responses import Response
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)
from starlette.types import ASGIApp, Message, Receive, Scope, Send

logger = logging.getLogger(__name__)
access_logger = logging.getLogger("app.access")
text_logger = logging.getLogger("app.text")  # only with KURA_LOG_TEXT=true

IngestStatus = Literal["indexed", "unchanged", "failed"]
AnswerOutcome = Literal["answered", "no_answer", "error"]

_request_id: contextvars.ContextVar[str | None] = contextvars.ContextVar(
    "kura_request_id", default=None
)
_log_text: contextvars.ContextVar[bool] = contextvars.ContextVar("kura_log_text", default=False)

_SANE_REQUEST_ID = re.compile(r"[A-Za-z0-9._-]{1,64}")
# Anything else a client sends as a method is one label value, so it cannot grow the series.
_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
# Probes hit these every few seconds; their successful requests are logged at DEBUG only.
_QUIET_ROUTES = frozenset({"/healthz", "/readyz", "/metrics"})

# Answers on a CPU can take minutes, so the HTTP and generation buckets reach far.
_HTTP_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300)
_RETRIEVAL_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10)
_GENERATION_BUCKETS = (0.5, 1, 2.5, 5, 10, 20, 30, 60, 120, 300, 600)


def current_request_id() -> str | None:
    """The id of the request being handled, or None outside a request."""
    return _request_id.get()


def log_text() -> bool:
    """Whether document and question text may be logged (debug only; False outside requests)."""
    return _log_text.get()


def log_exchange(question: str, answer: str, *, standalone: str | None = None) -> None:
    """Log a question and its answer, only where KURA_LOG_TEXT allowed it (debugging): they
    carry what people asked and the documents' words, which logs otherwise never hold."""
    if not log_text():
        return
    if standalone and standalone != question:
        text_logger.info("question: %s | searched as: %s", question, standalone)
    else:
        text_logger.info("question: %s", question)
    text_logger.info("answer: %s", answer)


class Metrics:
    """One app's Prometheus metrics, in a registry of its own so many apps can share a process."""

    def __init__(self, *, log_text: bool = False) -> None:
        self.log_text = log_text
        self.registry = CollectorRegistry()
        reg = self.registry
        self.http_requests = Counter(
            "kura_http_requests",
            "HTTP requests by route template and status.",
            ["method", "route", "status"],
            registry=reg,
        )
        self.http_request_seconds = Histogram(
            "kura_http_request_seconds",
            "HTTP request duration to the end of the response body.",
            ["method", "route"],
            buckets=_HTTP_BUCKETS,
            registry=reg,
        )
        self.retrieval_seconds = Histogram(
            "kura_retrieval_seconds",
            "Retrieval duration by mode.",
            ["mode"],
            buckets=_RETRIEVAL_BUCKETS,
            registry=reg,
        )
        self.generation_seconds = Histogram(
            "kura_generation_seconds",
            "LLM generation duration by model.",
            ["model"],
            buckets=_GENERATION_BUCKETS,
            registry=reg,
        )
        self.llm_tokens = Counter(
            "kura_llm_tokens", "LLM tokens by model and kind.", ["model", "kind"], registry=reg
        )
        # No collection label: label values are read by whoever scrapes, and a collection's
        # name can itself be confidential ("merger-kestrel").
        self.ingested_documents = Counter(
            "kura_ingested_documents",
            "Documents ingested by outcome.",
            ["status"],
            registry=reg,
        )
        self.ingested_chunks = Counter("kura_ingested_chunks", "Chunks stored.", registry=reg)
        self.llm_queue_depth = Gauge(
            "kura_llm_queue_depth", "Requests waiting for an LLM slot.", registry=reg
        )
        self.llm_in_flight = Gauge(
            "kura_llm_in_flight", "Requests the LLM is working on now.", registry=reg
        )
        self.answers = Counter("kura_answers", "Answers by outcome.", ["outcome"], registry=reg)

    def observe_request(self, method: str, route: str, status: int, seconds: float) -> None:
        """Count one HTTP request; the middleware calls this."""
        method = method if method in _METHODS else "OTHER"
        self.http_requests.labels(method, route, str(status)).inc()
        self.http_request_seconds.labels(method, route).observe(seconds)

    def observe_retrieval(self, mode: str, seconds: float) -> None:
        """Record one retrieval's duration."""
        self.retrieval_seconds.labels(mode).observe(seconds)

    def observe_generation(
        self, model: str, seconds: float, prompt_tokens: int = 0, completion_tokens: int = 0
    ) -> None:
        """Record one LLM call's duration and the tokens Ollama counted."""
        self.generation_seconds.labels(model).observe(seconds)
        self.llm_tokens.labels(model, "prompt").inc(prompt_tokens)
        self.llm_tokens.labels(model, "completion").inc(completion_tokens)

    def count_ingest(self, status: IngestStatus, chunks: int = 0) -> None:
        """Count one ingested document and the chunks it stored."""
        self.ingested_documents.labels(status).inc()
        if chunks:
            self.ingested_chunks.inc(chunks)

    def count_answer(self, outcome: AnswerOutcome) -> None:
        """Count one /v1/query outcome."""
        self.answers.labels(outcome).inc()

    def render(self) -> bytes:
        """The registry in Prometheus text format."""
        return generate_latest(self.registry)


def _route_template(scope: Scope, root_path_before: str) -> str:
    # The router writes the matched route into the (shared) scope; a mount grows root_path.
    prefix = scope.get("root_path", "")[len(root_path_before) :]
    route = scope.get("route")
    path_format = getattr(route, "path_format", None)
    if isinstance(path_format, str):
        return prefix + path_format
    return prefix + "/{path}" if prefix else "unmatched"


class ObservabilityMiddleware:
    """Pure ASGI (streaming and disconnects pass through): request id, timing, access log."""

    def __init__(self, app: ASGIApp, metrics: Metrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = _incoming_request_id(scope) or uuid.uuid4().hex
        id_token = _request_id.set(request_id)
        text_token = _log_text.set(self.metrics.log_text)
        root_path_before = scope.get("root_path", "")
        started = time.perf_counter()
        status = 500
        finished: float | None = None

        async def send_with_id(message: Message) -> None:
            nonlocal status, finished
            if message["type"] == "http.response.start":
                status = message["status"]
                headers = [(k, v) for k, v in message.get("headers", []) if k != b"x-request-id"]
                headers.append((b"x-request-id", request_id.encode("ascii")))
                message = {**message, "headers": headers}
            elif message["type"] == "http.response.body" and not message.get("more_body"):
                finished = time.perf_counter()
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            # Background tasks run after the last body chunk; they are not the client's wait.
            seconds = (finished or time.perf_counter()) - started
            route = _route_template(scope, root_path_before)
            self.metrics.observe_request(scope["method"], route, status, seconds)
            quiet = route in _QUIET_ROUTES and status < 400
            # Never the raw path or query string: they can carry file names and questions.
            access_logger.log(
                logging.DEBUG if quiet else logging.INFO,
                "%s %s %s %.1fms",
                scope["method"],
                route,
                status,
                seconds * 1e3,
                extra={
                    "method": scope["method"],
                    "route": route,
                    "status": status,
                    "duration_ms": round(seconds * 1e3, 1),
                },
            )
            _log_text.reset(text_token)
            _request_id.reset(id_token)


def _incoming_request_id(scope: Scope) -> str | None:
    for key, value in scope["headers"]:
        if key == b"x-request-id":
            candidate = value.decode("latin-1")
            return candidate if _SANE_REQUEST_ID.fullmatch(candidate) else None
    return None


def install_observability(
    app: FastAPI, *, log_text: bool = False, guard: Callable[..., Any] | None = None
) -> Metrics:
    """Add request ids, metrics, the access log and ``GET /metrics`` (behind the ``guard``
    dependency, e.g. an API key check); returns the app's Metrics."""
    if getattr(app.state, "metrics", None) is not None:
        raise RuntimeError("observability is already installed on this app")
    if app.middleware_stack is not None:
        raise RuntimeError("install observability before the app starts")
    metrics = Metrics(log_text=log_text)
    app.state.metrics = metrics

    async def prometheus_metrics() -> Response:
        return Response(metrics.render(), media_type=CONTENT_TYPE_LATEST)

    app.add_api_route(
        "/metrics",
        prometheus_metrics,
        methods=["GET"],
        include_in_schema=False,
        dependencies=[Depends(guard)] if guard else None,
    )

    # Outside ServerErrorMiddleware, not inside it as add_middleware would put it: otherwise
    # unhandled-error 500s would lack X-Request-ID and their error log line the request id.
    build_stack = app.build_middleware_stack

    def build_with_observability() -> ASGIApp:
        return ObservabilityMiddleware(build_stack(), metrics)

    app.build_middleware_stack = build_with_observability  # type: ignore[method-assign]
    return metrics


# Attributes every LogRecord has; anything else on a record came from the caller's `extra`.
_RECORD_FIELDS = frozenset(logging.LogRecord("", 0, "", 0, "", None, None).__dict__) | {
    "message",
    "asctime",
    "request_id",
    "color_message",  # uvicorn's ANSI-coloured copy of msg
}


class JsonFormatter(logging.Formatter):
    """One JSON object per line: ts, level, logger, msg, request_id, the caller's extras, exc."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "msg": record.getMessage(),
        }
        request_id = getattr(record, "request_id", None) or current_request_id()
        if request_id:
            entry["request_id"] = request_id
        for key, value in record.__dict__.items():
            if key not in _RECORD_FIELDS and key not in entry:
                entry[key] = value
        if record.exc_info:
            entry["exc"] = self.formatException(record.exc_info)
        elif record.exc_text:
            entry["exc"] = record.exc_text
        if record.stack_info:
            entry["stack"] = self.formatStack(record.stack_info)
        return json.dumps(entry, ensure_ascii=False, default=str)


class RequestIdFilter(logging.Filter):
    """Stamps records with the current request id ("-" outside requests) for text formats."""

    def filter(self, record: logging.LogRecord) -> bool:
        if getattr(record, "request_id", None) is None:
            record.request_id = current_request_id() or "-"
        return True


def _install(handler: logging.Handler, level: str) -> logging.Handler:
    root = logging.getLogger()
    # Replace only what an earlier call installed, so other handlers (pytest's) stay.
    for old in [h for h in root.handlers if getattr(h, "_kura", False)]:
        root.removeHandler(old)
    handler._kura = True  # type: ignore[attr-defined]
    root.addHandler(handler)
    root.setLevel(level.upper())
    return handler


def configure_cli_logging(verbose: bool = False) -> logging.Handler | None:
    """Plain stderr logs for the one-shot commands (ingest, ask, ...), like logging.basicConfig:
    nothing if the root logger has handlers already (pytest's)."""
    if logging.getLogger().handlers:
        return None
    handler = logging.StreamHandler()
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    # Marked as kura's, so that `kura serve`'s configure_logging replaces it: a second root
    # handler beside the JSON one wrote every server line twice, once plain, once JSON.
    return _install(handler, "INFO" if verbose else "WARNING")


def configure_logging(level: str, json: bool, *, stream: IO[str] | None = None) -> logging.Handler:
    """Send all logs to one stderr handler, JSON lines or text (KURA_LOG_LEVEL, KURA_LOG_JSON:
    their defaults live in the settings); call once from an entry point."""
    handler = logging.StreamHandler(stream or sys.stderr)
    if json:
        handler.setFormatter(JsonFormatter())
    else:
        handler.addFilter(RequestIdFilter())
        handler.setFormatter(
            logging.Formatter("%(asctime)s %(levelname)s %(name)s [%(request_id)s] %(message)s")
        )
    return _install(handler, level)
