"""Answers over real HTTP: streaming, a client that leaves, follow-ups, the OpenAI-compatible
API through the real `openai` package, "not covered" without a model call, the queue toward
Ollama, and citations checked against their source files."""

from __future__ import annotations

import json
import shutil
import threading
import time
from pathlib import Path

import httpx
import openai
import pytest

from app.answer import strip_citations
from ingest.pipeline import IngestReport
from tests.support.data_copy import copy_data
from tests.support.ollama_standin import OllamaStandin, StandinState
from tests.support.server import LiveServer, make_settings
from tests.support.sse import events

pytestmark = pytest.mark.integration

QUESTION = "What does error E-417 mean on the HX-400?"


def chat_requests(ollama: OllamaStandin) -> int:
    return sum(1 for r in ollama.state.requests if "messages" in r)


def test_streaming_sends_passages_then_tokens_then_done(api: httpx.Client) -> None:
    response = api.post("/v1/query", json={"question": QUESTION, "stream": True})
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/event-stream")
    got = events(response.text)
    kinds = [kind for kind, _ in got]
    assert kinds[0] == "passages"
    assert kinds[-1] == "done"
    assert kinds.count("token") >= 3
    assert kinds[1] == "writing"  # a free turn: never "queued"
    assert set(kinds[2:-1]) == {"token"}
    passages = got[0][1]["passages"]
    assert "E-417" in passages[0]["text"]
    done = got[-1][1]
    streamed = "".join(data["text"] for kind, data in got if kind == "token")
    assert done["answer"] == streamed.strip()
    assert done["citations"][0]["chunk_id"] in {p["chunk_id"] for p in passages}
    assert done["usage"]["prompt_tokens"] > 0
    assert done["timings"]["total_ms"] >= done["timings"]["retrieval_ms"]


def test_a_client_that_leaves_cancels_the_ollama_request(
    api: httpx.Client, ollama: OllamaStandin
) -> None:
    ollama.state.delay_per_token = 0.3
    before = ollama.state.cancelled
    try:
        with api.stream("POST", "/v1/query", json={"question": QUESTION, "stream": True}) as r:
            lines = r.iter_lines()
            while "event: token" not in next(lines):
                pass
        deadline = time.monotonic() + 10
        while ollama.state.cancelled == before and time.monotonic() < deadline:
            time.sleep(0.1)
    finally:
        ollama.state.delay_per_token = 0.0
    assert ollama.state.cancelled == before + 1


def test_a_client_that_leaves_is_recorded_as_499(api: httpx.Client, ollama: OllamaStandin) -> None:
    # The evidence record must show a question whose asker left mid-answer, like any other.
    question = "E-417 のエラーは何を意味しますか?"
    ollama.state.delay_per_token = 0.3
    try:
        with api.stream("POST", "/v1/query", json={"question": question, "stream": True}) as r:
            lines = r.iter_lines()
            while "event: token" not in next(lines):
                pass
        deadline = time.monotonic() + 10
        rows: list[dict] = []
        while time.monotonic() < deadline:
            rows = api.get("/v1/audit", params={"limit": 5}).json()
            if rows and rows[0]["question"] == question:
                break
            time.sleep(0.1)
    finally:
        ollama.state.delay_per_token = 0.0
    assert rows, "no audit rows at all"
    newest = rows[0]
    assert (newest["question"], newest["endpoint"], newest["status"]) == (
        question,
        "/v1/query",
        499,
    )
    assert newest["answer"] is None


def test_a_stream_that_fails_midway_ends_in_an_error_and_is_recorded(
    api: httpx.Client, ollama: OllamaStandin
) -> None:
    ollama.state.error_after = 2
    try:
        query = api.post("/v1/query", json={"question": QUESTION, "stream": True})
        messages = [{"role": "user", "content": QUESTION}]
        body = {"model": "kura:corpus", "stream": True, "messages": messages}
        chat = api.post("/v1/chat/completions", json=body)
    finally:
        ollama.state.error_after = None
    kind, error = events(query.text)[-1]
    assert kind == "error"
    assert (error["error"], error["status"]) == ("LLMFailed", 502)
    assert "stopped in the middle of the answer" in error["detail"]
    last = json.loads(chat.text.strip().split("\n\n")[-1].removeprefix("data: "))
    assert last["error"]["type"] == "server_error"
    assert "[DONE]" not in chat.text
    rows = api.get("/v1/audit", params={"limit": 2}).json()  # newest first
    assert [(r["endpoint"], r["status"], r["answer"]) for r in rows] == [
        ("/v1/chat/completions", 502, None),
        ("/v1/query", 502, None),
    ]
    assert {r["question"] for r in rows} == {QUESTION}


def test_follow_up_questions_are_made_self_contained(
    api: httpx.Client, ollama: OllamaStandin
) -> None:
    history = [
        {"role": "user", "content": QUESTION},
        {"role": "assistant", "content": "It means the coolant is overheating [1]."},
    ]
    body = {"question": "and how do I fix it?", "history": history}
    answer = api.post("/v1/query", json=body).json()
    # The stand-in's rewrite joins the last question and the follow-up; kura searched that.
    assert answer["question"] == f"{QUESTION} and how do I fix it?"
    condense = [r for r in ollama.state.requests if "Standalone question:" in json.dumps(r)]
    assert condense
    assert answer["citations"]
    assert any("E-417" in c["text"] for c in answer["citations"])


@pytest.mark.parametrize(
    ("question", "expected"),
    [
        ("What is the boiling point of mercury in kelvin?", "The documents do not cover"),
        ("富士山の標高は何メートルですか？", "資料には記載がありません"),
    ],
)
def test_uncovered_questions_are_answered_without_the_model(
    api: httpx.Client, ollama: OllamaStandin, question: str, expected: str
) -> None:
    before = chat_requests(ollama)
    answer = api.post("/v1/query", json={"question": question}).json()
    assert answer["covered"] is False
    assert answer["answer"].startswith(expected)
    assert answer["citations"] == []
    assert chat_requests(ollama) == before
    covered = api.post("/v1/query", json={"question": QUESTION}).json()
    assert covered["covered"] is True
    assert chat_requests(ollama) == before + 1


def test_openai_sdk_can_use_kura_as_a_model(api: httpx.Client) -> None:
    client = openai.OpenAI(base_url=f"{api.base_url}/v1", api_key="unused-auth-is-off")
    assert "kura:corpus" in [m.id for m in client.models.list().data]
    messages = [{"role": "user", "content": QUESTION}]
    completion = client.chat.completions.create(model="kura:corpus", messages=messages)
    text = completion.choices[0].message.content or ""
    assert "[1]" in text
    assert "\n\nSources:\n[1] hx400-manual.docx" in text
    assert completion.usage is not None
    assert completion.usage.prompt_tokens > 0
    extra = completion.model_extra or {}
    assert extra["citations"][0]["n"] == 1

    stream = client.chat.completions.create(model="kura:corpus", messages=messages, stream=True)
    pieces = [chunk.choices[0].delta.content or "" for chunk in stream]
    assert len(pieces) > 3
    assert "".join(pieces).strip() == text.strip()

    with pytest.raises(openai.NotFoundError):
        client.chat.completions.create(model="kura:nothing", messages=messages)


def test_a_full_queue_answers_503_with_retry_after(
    indexed: tuple[Path, IngestReport], tmp_path: Path
) -> None:
    data_dir = tmp_path / "data"
    copy_data(indexed[0], data_dir)
    with OllamaStandin(StandinState(delay_per_token=0.5)) as slow:
        settings = make_settings(data_dir, slow.url, ollama_concurrency=1, ollama_queue=0)
        with LiveServer(settings) as client:
            first: dict[str, int] = {}

            def ask() -> None:  # a streamed answer holds the one slot while it streams
                body = {"question": QUESTION, "stream": True}
                first["status"] = client.post("/v1/query", json=body).status_code

            worker = threading.Thread(target=ask)
            worker.start()
            deadline = time.monotonic() + 120
            while not any("messages" in r for r in slow.state.requests):
                assert time.monotonic() < deadline
                time.sleep(0.05)
            second = client.post("/v1/query", json={"question": QUESTION})
            worker.join()
    assert first["status"] == 200
    assert second.status_code == 503
    assert int(second.headers["retry-after"]) > 0
    assert "busy" in second.json()["detail"]


def test_citations_are_checked_against_the_source_file(tmp_path: Path) -> None:
    from ingest.components import build_components
    from ingest.pipeline import Indexer

    folder = tmp_path / "docs"
    folder.mkdir()
    shutil.copy("data/samples/apache-license-2.0.txt", folder / "apache.txt")
    settings_dir = tmp_path / "data"
    components = build_components(make_settings(settings_dir))
    try:
        Indexer(components, "corpus").ingest_paths([folder])
    finally:
        components.close()
    question = "What must redistributions of the Work include about the NOTICE file?"
    with (
        OllamaStandin(StandinState()) as ollama,
        LiveServer(make_settings(settings_dir, ollama.url)) as client,
    ):
        answer = client.post("/v1/query", json={"question": question}).json()
        cited = answer["citations"][0]
        assert cited["verified"] is True
        assert cited["clause"].startswith("Section 4")
        (folder / "apache.txt").write_text("Replaced by another text entirely.\n")
        changed = client.post("/v1/query", json={"question": question}).json()
        assert changed["citations"][0]["verified"] is False
        assert "changed since it was indexed" in changed["citations"][0]["verification"]


def test_invalid_citation_numbers_are_removed_from_the_text() -> None:
    assert strip_citations("A [1][7] and B [2, 7].", {7}) == "A [1] and B [2]."
    assert strip_citations("Only [9].", {9}) == "Only ."
    assert strip_citations("A [1].", set()) == "A [1]."
