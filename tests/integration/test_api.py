"""The HTTP API over real HTTP: uvicorn + embedded Qdrant + the Ollama stand-in."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from ingest.pipeline import IngestReport
from tests.support.data_copy import copy_data
from tests.support.ollama_standin import OllamaStandin, StandinState
from tests.support.server import LiveServer, free_port, make_settings

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def standin_m() -> Iterator[OllamaStandin]:
    with OllamaStandin(StandinState()) as server:
        yield server


@pytest.fixture(scope="module")
def api(
    indexed: tuple[Path, IngestReport],
    standin_m: OllamaStandin,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[httpx.Client]:
    # A copy: the shared index must not collect this module's audit rows and uploads.
    data_dir = copy_data(indexed[0], tmp_path_factory.mktemp("api") / "data")
    with LiveServer(make_settings(data_dir, standin_m.url)) as client:
        yield client


def test_health_and_docs(api: httpx.Client) -> None:
    assert api.get("/healthz").json() == {"status": "ok"}
    ready = api.get("/readyz")
    assert ready.status_code == 200
    body = ready.json()
    assert body["qdrant"]["ok"] is True
    assert body["ollama"] == {
        "ok": True,
        "reachable": True,
        "model_present": True,
        "detail": "ready",
    }
    assert api.get("/docs").status_code == 200
    paths = api.get("/openapi.json").json()["paths"]
    assert {"/v1/query", "/v1/search", "/healthz", "/readyz"} <= set(paths)


def test_search_finds_the_right_passage_and_page(api: httpx.Client) -> None:
    response = api.post(
        "/v1/search", json={"query": "What does error E-417 mean on the HX-400?", "top_k": 3}
    )
    assert response.status_code == 200
    top = response.json()["passages"][0]
    assert top["n"] == 1
    assert Path(top["source"]).name == "hx400-manual.docx"
    assert "E-417" in top["text"]
    assert top["section"].endswith("Fault codes")
    assert top["page_start"] == 1

    pdf = api.post(
        "/v1/search",
        json={"query": "Which tool is most suitable for a major system upgrade between releases?"},
    ).json()["passages"]
    # With the multilingual vector fused in, a neighbouring chunk of the same chapter may rank
    # first; the passage that holds the sentence must be found, and mapped to its page.
    from_book = [p for p in pdf if p["source"].endswith("-en-package-management.pdf")]
    hit = next(p for p in from_book if "most suitable for the major system upgrade" in p["text"])
    assert from_book.index(hit) < 2
    # the sentence is on page 47 of the book, the excerpt's 2nd page
    assert hit["page_start"] <= 2 <= hit["page_end"]


def test_search_in_japanese(api: httpx.Client) -> None:
    response = api.post(
        "/v1/search", json={"query": "非常停止ボタンを押すとどうなりますか", "top_k": 5}
    )
    passages = response.json()["passages"]
    assert any("非常停止ボタン" in p["text"] for p in passages)


def test_query_answers_with_citations(api: httpx.Client, standin_m: OllamaStandin) -> None:
    response = api.post(
        "/v1/query",
        json={"question": "What does error E-417 mean?", "top_k": 4, "reasoning_effort": "medium"},
    )
    assert response.status_code == 200, response.text
    body = response.json()
    cited = [int(n) for n in re.findall(r"\[(\d+)\]", body["answer"])]
    assert cited, body["answer"]
    assert [c["n"] for c in body["citations"]] == cited
    assert "E-417" in body["citations"][0]["text"]
    assert body["model"] == "gpt-oss:20b"
    assert body["usage"]["prompt_tokens"] > 0
    assert body["usage"]["completion_tokens"] > 0
    assert body["timings"]["total_ms"] >= body["timings"]["retrieval_ms"] > 0
    assert body["reasoning_effort"] == "medium"
    # The reasoning went to `thinking` and stays out of the answer.
    assert "shares" not in body["answer"]

    sent = standin_m.state.requests[-1]
    assert sent["path"] == "/api/chat"
    assert sent["options"]["num_ctx"] == 16384
    assert sent["think"] == "medium"
    assert sent["stream"] is False
    system = sent["messages"][0]["content"]
    assert sent["messages"][0]["role"] == "system"
    assert "[1]" in system


def test_query_in_japanese_answers_in_japanese(api: httpx.Client) -> None:
    body = api.post(
        "/v1/query",
        json={"question": "緊急の故障が発生した場合、乙は何時間以内に到着しなければならないか"},
    ).json()
    assert body["answer"].startswith("資料によると")
    assert body["citations"], body
    assert "四時間以内" in body["citations"][0]["text"]


def test_unknown_collection_is_404(api: httpx.Client) -> None:
    response = api.post("/v1/search", json={"query": "x", "collection": "nope"})
    assert response.status_code == 404
    assert "nope" in response.json()["detail"]


def test_invalid_request_is_422(api: httpx.Client) -> None:
    assert api.post("/v1/query", json={"question": ""}).status_code == 422
    assert api.post("/v1/search", json={"query": "x", "top_k": 0}).status_code == 422


@pytest.fixture
def data_copy(indexed: tuple[Path, IngestReport], tmp_path: Path) -> Path:
    """A copy of the indexed data dir: embedded Qdrant allows one client per folder."""
    return copy_data(indexed[0], tmp_path / "data")


def test_ollama_down_search_works_query_503(data_copy: Path) -> None:
    data_dir = data_copy
    dead = f"http://127.0.0.1:{free_port()}"
    with LiveServer(make_settings(data_dir, dead)) as client:
        assert client.post("/v1/search", json={"query": "E-417"}).status_code == 200
        response = client.post("/v1/query", json={"question": "What does E-417 mean?"})
        assert response.status_code == 503
        assert "ollama pull gpt-oss:20b" in response.json()["detail"]
        assert "cannot reach Ollama" in response.json()["detail"]
        ready = client.get("/readyz")
        assert ready.status_code == 503
        assert ready.json()["qdrant"]["ok"] is True
        assert ready.json()["ollama"]["reachable"] is False


def test_model_not_pulled_is_503_naming_the_fix(data_copy: Path) -> None:
    data_dir = data_copy
    with (
        OllamaStandin(StandinState(models=["llama3.2:1b"])) as other,
        LiveServer(make_settings(data_dir, other.url)) as client,
    ):
        response = client.post("/v1/query", json={"question": "What does E-417 mean?"})
        assert response.status_code == 503
        assert "run `ollama pull gpt-oss:20b`" in response.json()["detail"]
        ready = client.get("/readyz").json()
        assert ready["ollama"]["reachable"] is True
        assert ready["ollama"]["model_present"] is False


def test_silent_truncation_is_an_error(data_copy: Path) -> None:
    # Ollama (v0.31+) gave the model less context than the num_ctx kura sent (it fits the
    # context to free memory) and kept num_keep tokens and the tail of the prompt: kura must
    # refuse the answer instead of passing it on.
    data_dir = data_copy
    state = StandinState.like("0.32.15", served_context=1024)
    with (
        OllamaStandin(state) as small,
        LiveServer(make_settings(data_dir, small.url)) as client,
    ):
        for question in ("How do I upgrade packages with apt?", "apt でパッケージを更新するには？"):
            response = client.post("/v1/query", json={"question": question, "top_k": 20})
            assert response.status_code == 502, response.text
            assert "truncated" in response.json()["detail"]


def test_concurrent_searches_never_fail(api: httpx.Client) -> None:
    # The API serves requests from a thread pool: tokenizers and stores must cope.
    from concurrent.futures import ThreadPoolExecutor

    queries = ["E-417", "非常停止ボタン", "spindle torque", "契約期間", "apt-get upgrade"] * 8

    def ask(query: str) -> int:
        with httpx.Client(base_url=str(api.base_url), timeout=60) as client:
            return client.post("/v1/search", json={"query": query, "mode": "hybrid"}).status_code

    with ThreadPoolExecutor(8) as pool:
        statuses = list(pool.map(ask, queries))
    assert statuses == [200] * len(queries)


def test_collection_names_cannot_be_paths(api: httpx.Client) -> None:
    for name in ("../../etc", "/abs", "a/b", ".hidden"):
        response = api.post("/v1/search", json={"query": "x", "collection": name})
        assert response.status_code == 404, name


def test_qdrant_server_down_is_503(tmp_path: Path) -> None:
    settings = make_settings(tmp_path, qdrant_url=f"http://127.0.0.1:{free_port()}")
    with LiveServer(settings) as client:
        response = client.post("/v1/search", json={"query": "E-417"})
        assert response.status_code == 503
        assert response.json()["detail"] == "the vector store (Qdrant) is unavailable"
        assert client.get("/readyz").status_code == 503


def test_reasoning_only_on_request_and_never_in_the_answer(api: httpx.Client) -> None:
    question = {"question": "What does error E-417 mean?", "reasoning_effort": "high"}
    plain = api.post("/v1/query", json=question).json()
    assert plain["reasoning"] is None
    shown = api.post("/v1/query", json={**question, "include_reasoning": True}).json()
    assert shown["reasoning"]  # the stand-in fills message.thinking when think is set
    assert shown["reasoning"] not in shown["answer"]
    assert shown["answer"] == plain["answer"]
