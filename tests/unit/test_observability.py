"""Metrics by route template, request ids, JSON logs without user text, streaming intact."""

from __future__ import annotations

import asyncio
import io
import json
import logging
import re
import sys
import time
from collections.abc import AsyncIterator, Iterator

import pytest
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, StreamingResponse
from fastapi.testclient import TestClient
from pydantic import BaseModel
from starlette.types import Message

from app import observability
from app.observability import JsonFormatter, Metrics, configure_logging, install_observability

pytestmark = pytest.mark.unit

logger = logging.getLogger(__name__)

SECRET_QUESTION = "What is Tanaka-san's salary in the 2024 contract?"
HEX_ID = re.compile(r"[0-9a-f]{32}")


class Question(BaseModel):
    question: str


def make_app(*, log_text: bool = False) -> tuple[FastAPI, Metrics]:
    app = FastAPI()
    metrics = install_observability(app, log_text=log_text)

    @app.get("/v1/collections/{name}/documents")
    def list_documents(name: str) -> dict[str, str]:
        logger.info("listing documents")
        return {"name": name}

    @app.post("/v1/query")
    def query(body: Question) -> dict[str, object]:
        logger.info("question received", extra={"question_chars": len(body.question)})
        if observability.log_text():
            logger.debug("question text: %s", body.question)
        return {"answer": "no", "log_text": observability.log_text()}

    @app.get("/stream")
    async def stream() -> StreamingResponse:
        async def chunks() -> AsyncIterator[bytes]:
            for part in (b"one\n", b"two\n", b"three\n"):
                await asyncio.sleep(0.05)
                yield part

        return StreamingResponse(chunks(), media_type="text/plain")

    @app.get("/boom")
    def boom() -> None:
        raise RuntimeError("internal detail")

    async def unexpected(request: Request, exc: Exception) -> JSONResponse:
        # Like app.errors: the 500 handler logs, and that line must carry the request id.
        logger.error("unhandled error", exc_info=exc)
        return JSONResponse({"detail": "internal error"}, status_code=500)

    app.add_exception_handler(Exception, unexpected)
    return app, metrics


@pytest.fixture
def json_logs() -> Iterator[io.StringIO]:
    """Every log record in the process, formatted by JsonFormatter, one line each."""
    buf = io.StringIO()
    handler = logging.StreamHandler(buf)
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    level = root.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    try:
        yield buf
    finally:
        root.removeHandler(handler)
        root.setLevel(level)


def records(buf: io.StringIO) -> list[dict[str, object]]:
    return [json.loads(line) for line in buf.getvalue().splitlines()]


def sample(metrics: Metrics, name: str, **labels: str) -> float | None:
    return metrics.registry.get_sample_value(name, labels)


def test_metrics_count_by_route_template_not_raw_path() -> None:
    app, _ = make_app()
    client = TestClient(app)
    assert client.get("/v1/collections/manuals/documents").status_code == 200
    assert client.get("/v1/collections/contracts/documents?x=1").status_code == 200
    assert client.get("/no/such/path").status_code == 404
    assert client.post("/v1/collections/manuals/documents").status_code == 405
    resp = client.get("/metrics")
    assert resp.status_code == 200
    assert resp.headers["content-type"].startswith("text/plain; version=")
    text = resp.text
    assert (
        'kura_http_requests_total{method="GET",route="/v1/collections/{name}/documents",'
        'status="200"} 2.0' in text
    )
    assert 'route="unmatched",status="404"' in text
    assert 'method="POST",route="/v1/collections/{name}/documents",status="405"' in text
    assert "manuals" not in text
    assert "contracts" not in text
    assert "/no/such/path" not in text


def test_request_id_echoed_when_sane_else_generated() -> None:
    client = TestClient(make_app()[0])
    assert client.get("/metrics", headers={"X-Request-ID": "abc.DEF_1-2"}).headers[
        "x-request-id"
    ] == ("abc.DEF_1-2")
    for bad in ("has space", "x" * 65, "semi;colon", ""):
        rid = client.get("/metrics", headers={"X-Request-ID": bad}).headers["x-request-id"]
        assert HEX_ID.fullmatch(rid), bad
    first = client.get("/metrics").headers["x-request-id"]
    second = client.get("/metrics").headers["x-request-id"]
    assert HEX_ID.fullmatch(first)
    assert first != second


def test_json_logs_carry_request_id_and_access_line(json_logs: io.StringIO) -> None:
    client = TestClient(make_app()[0])
    resp = client.get("/v1/collections/manuals/documents", headers={"X-Request-ID": "req-42"})
    assert resp.headers["x-request-id"] == "req-42"
    lines = [r for r in records(json_logs) if r.get("request_id") == "req-42"]
    app_line = next(r for r in lines if r["msg"] == "listing documents")
    assert app_line["logger"] == __name__
    assert app_line["level"] == "INFO"
    assert str(app_line["ts"]).endswith("+00:00")
    access = next(r for r in lines if r["logger"] == "app.access")
    assert access["route"] == "/v1/collections/{name}/documents"
    assert access["method"] == "GET"
    assert access["status"] == 200
    assert isinstance(access["duration_ms"], float)
    assert "manuals" not in json.dumps(access)


def test_question_and_query_string_never_logged(json_logs: io.StringIO) -> None:
    client = TestClient(make_app()[0])
    resp = client.post("/v1/query?q=leaky+query+string", json={"question": SECRET_QUESTION})
    assert resp.json() == {"answer": "no", "log_text": False}
    # The test client's own httpx logger prints the URL it requested: not the server's logs.
    out = "\n".join(
        json.dumps(r) for r in records(json_logs) if not str(r["logger"]).startswith("httpx")
    )
    assert "question received" in out
    assert "Tanaka" not in out
    assert "salary" not in out
    assert "leaky" not in out


def test_log_text_opt_in_is_per_app_and_per_request(json_logs: io.StringIO) -> None:
    verbose = TestClient(make_app(log_text=True)[0])
    assert verbose.post("/v1/query", json={"question": SECRET_QUESTION}).json()["log_text"]
    assert "Tanaka" in json_logs.getvalue()
    quiet = TestClient(make_app()[0])
    assert not quiet.post("/v1/query", json={"question": "x"}).json()["log_text"]
    assert observability.log_text() is False


def test_unhandled_error_keeps_request_id_on_response_and_log(json_logs: io.StringIO) -> None:
    app, metrics = make_app()
    client = TestClient(app, raise_server_exceptions=False)
    resp = client.get("/boom", headers={"X-Request-ID": "err-1"})
    assert resp.status_code == 500
    assert resp.json() == {"detail": "internal error"}
    assert resp.headers["x-request-id"] == "err-1"
    error = next(r for r in records(json_logs) if r["msg"] == "unhandled error")
    assert error["request_id"] == "err-1"
    assert "RuntimeError: internal detail" in str(error["exc"])
    assert sample(
        metrics, "kura_http_requests_total", method="GET", route="/boom", status="500"
    ) == (1.0)


def test_two_apps_in_one_process_have_separate_registries() -> None:
    app_a, metrics_a = make_app()
    app_b, metrics_b = make_app()
    TestClient(app_a).get("/v1/collections/a/documents")
    route = "/v1/collections/{name}/documents"
    labels = {"method": "GET", "route": route, "status": "200"}
    assert sample(metrics_a, "kura_http_requests_total", **labels) == 1.0
    assert sample(metrics_b, "kura_http_requests_total", **labels) is None
    assert "/v1/collections" not in TestClient(app_b).get("/metrics").text
    assert app_a.state.metrics is metrics_a
    with pytest.raises(RuntimeError, match="already installed"):
        install_observability(app_a)


def test_streaming_passes_through_in_chunks_and_is_timed_to_the_end() -> None:
    app, metrics = make_app()
    sent: list[Message] = []
    sent_at: list[float] = []
    requested = False
    done = asyncio.Event()

    async def receive() -> Message:
        # Like a server: the request body once, then a disconnect only after the response.
        nonlocal requested
        if not requested:
            requested = True
            return {"type": "http.request", "body": b"", "more_body": False}
        await done.wait()
        return {"type": "http.disconnect"}

    async def send(message: Message) -> None:
        sent.append(message)
        sent_at.append(time.perf_counter())
        if message["type"] == "http.response.body" and not message.get("more_body"):
            done.set()

    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "GET",
        "scheme": "http",
        "path": "/stream",
        "raw_path": b"/stream",
        "root_path": "",
        "query_string": b"",
        "headers": [(b"host", b"test")],
        "client": ("127.0.0.1", 1234),
        "server": ("test", 80),
    }
    asyncio.run(app(scope, receive, send))
    start = sent[0]
    assert start["type"] == "http.response.start"
    assert HEX_ID.fullmatch(dict(start["headers"])[b"x-request-id"].decode())
    bodies = [m["body"] for m in sent[1:] if m["body"]]
    assert bodies == [b"one\n", b"two\n", b"three\n"]
    assert [m.get("more_body") for m in sent[1:4]] == [True, True, True]
    # Each chunk reached the server as it was made, not all at the end.
    assert sent_at[-1] - sent_at[1] >= 0.08
    labels = {"method": "GET", "route": "/stream"}
    assert sample(metrics, "kura_http_request_seconds_count", **labels) == 1.0
    assert (sample(metrics, "kura_http_request_seconds_sum", **labels) or 0) >= 0.15


def test_domain_metrics_helpers() -> None:
    metrics = Metrics()
    metrics.observe_retrieval("hybrid", 0.02)
    metrics.observe_generation("gpt-oss:20b", 3.5, prompt_tokens=900, completion_tokens=120)
    metrics.count_ingest("indexed", 12)
    metrics.count_ingest("unchanged")
    metrics.count_answer("no_answer")
    metrics.llm_queue_depth.set(3)
    metrics.llm_in_flight.inc()
    metrics.observe_request("BREW", "unmatched", 404, 0.001)
    assert sample(metrics, "kura_retrieval_seconds_count", mode="hybrid") == 1.0
    assert sample(metrics, "kura_generation_seconds_sum", model="gpt-oss:20b") == 3.5
    tokens = "kura_llm_tokens_total"
    assert sample(metrics, tokens, model="gpt-oss:20b", kind="prompt") == 900
    assert sample(metrics, tokens, model="gpt-oss:20b", kind="completion") == 120
    docs = "kura_ingested_documents_total"
    assert sample(metrics, docs, status="indexed") == 1.0
    assert sample(metrics, docs, status="unchanged") == 1.0
    assert sample(metrics, "kura_ingested_chunks_total") == 12
    assert sample(metrics, "kura_answers_total", outcome="no_answer") == 1.0
    assert sample(metrics, "kura_llm_queue_depth") == 3
    assert sample(metrics, "kura_llm_in_flight") == 1
    assert (
        sample(metrics, "kura_http_requests_total", method="OTHER", route="unmatched", status="404")
        == 1.0
    )


def test_json_formatter_extras_and_exceptions() -> None:
    record = logging.LogRecord("kura.test", logging.WARNING, __file__, 1, "n=%d", (3,), None)
    record.collection = "manuals"
    record.color_message = "\x1b[36mn=%d\x1b[0m"
    line = json.loads(JsonFormatter().format(record))
    assert line["msg"] == "n=3"
    assert line["level"] == "WARNING"
    assert line["logger"] == "kura.test"
    assert line["collection"] == "manuals"
    assert "request_id" not in line
    assert "args" not in line
    assert "color_message" not in line
    try:
        raise ValueError("bad")
    except ValueError:
        logger_record = logging.getLogger("x").makeRecord(
            "x", logging.ERROR, __file__, 1, "failed", (), exc_info=sys.exc_info()
        )
    assert "ValueError: bad" in json.loads(JsonFormatter().format(logger_record))["exc"]


@pytest.mark.parametrize("as_json", [True, False])
def test_configure_logging_replaces_its_own_handler(as_json: bool) -> None:
    root = logging.getLogger()
    before, level = list(root.handlers), root.level
    buf = io.StringIO()
    try:
        configure_logging("info", json=as_json, stream=io.StringIO())
        handler = configure_logging("info", json=as_json, stream=buf)
        assert [h for h in root.handlers if h not in before] == [handler]
        logging.getLogger("kura.test").info("hello %s", "there")
        line = buf.getvalue().strip()
        if as_json:
            assert json.loads(line)["msg"] == "hello there"
        else:
            assert line.endswith("INFO kura.test [-] hello there")
    finally:
        for h in root.handlers[:]:
            if h not in before:
                root.removeHandler(h)
        root.setLevel(level)


def test_serve_logging_replaces_the_cli_handler(monkeypatch: pytest.MonkeyPatch) -> None:
    root = logging.getLogger()
    before, level = list(root.handlers), root.level
    plain, as_json = io.StringIO(), io.StringIO()
    monkeypatch.setattr(sys, "stderr", plain)
    try:
        root.handlers = []  # a fresh `kura` process: the CLI callback runs first
        assert observability.configure_cli_logging(verbose=True) is not None
        configure_logging("info", json=True, stream=as_json)  # then `kura serve`
        logging.getLogger("kura.test").info("文書を一度だけ記録する")
        assert plain.getvalue() == ""
        assert [json.loads(line)["msg"] for line in as_json.getvalue().splitlines()] == [
            "文書を一度だけ記録する"
        ]
    finally:
        root.handlers = before
        root.setLevel(level)


def test_cli_logging_leaves_existing_handlers_alone() -> None:
    root = logging.getLogger()
    before = list(root.handlers)
    assert before  # pytest's capture handlers
    assert observability.configure_cli_logging() is None
    assert root.handlers == before
