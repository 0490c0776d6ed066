"""kura behind Open WebUI: its background tasks (title, tags, follow-ups) served as plain
generation without retrieval, and kura's citations sent as the sources Open WebUI renders.
The requests are the ones Open WebUI really sends (tests/support/open_webui.py)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from app.audit import MAX_LIMIT
from app.prompt import SYSTEM_PROMPT
from ingest.pipeline import IngestReport
from tests.support.data_copy import copy_data
from tests.support.ollama_standin import OllamaStandin
from tests.support.open_webui import task_request
from tests.support.server import LiveServer, make_settings

pytestmark = pytest.mark.integration

MODEL = "kura:corpus"
CHAT = {
    "en": [
        {"role": "user", "content": "What does error E-417 mean on the HX-400?"},
        {"role": "assistant", "content": "E-417 means the coolant is overheating [1].\n\n"},
    ],
    "ja": [
        {"role": "user", "content": "HX-400 のエラー E-417 はどういう意味ですか？"},
        {"role": "assistant", "content": "資料によると、冷却水の過熱です [1]"},
    ],
}


@pytest.fixture(scope="module")
def server(
    tmp_path_factory: pytest.TempPathFactory,
    indexed: tuple[Path, IngestReport],
    ollama: OllamaStandin,
) -> Iterator[LiveServer]:
    data_dir = tmp_path_factory.mktemp("owui") / "data"
    copy_data(indexed[0], data_dir)
    live = LiveServer(make_settings(data_dir, ollama.url))
    with live:
        yield live


def audit_rows(server: LiveServer) -> int:
    audit = server.server.config.app.state.audit  # type: ignore[attr-defined]
    return len(audit.query(limit=MAX_LIMIT))


@pytest.mark.parametrize("language", ["en", "ja"])
@pytest.mark.parametrize("task", ["title", "tags", "follow_ups"])
def test_background_tasks_are_plain_generation_without_retrieval(
    server: LiveServer, ollama: OllamaStandin, task: str, language: str
) -> None:
    body = task_request(task, MODEL, CHAT[language])
    rows = audit_rows(server)
    before = len(ollama.state.requests)
    response = server.client.post("/v1/chat/completions", json=body)
    assert response.status_code == 200, response.text
    content = response.json()["choices"][0]["message"]["content"]
    # Open WebUI parses the JSON between the first { and the last }: nothing may follow it
    parsed = json.loads(content[content.index("{") : content.rindex("}") + 1])
    assert task in parsed
    assert "Sources:" not in content
    assert "citations" not in response.json()
    asked = [r for r in ollama.state.requests[before:] if r["path"] == "/api/chat"]
    assert len(asked) == 1  # one model call: no follow-up rewrite, no document answer
    assert asked[0]["messages"] == body["messages"]  # the task prompt alone: no passages
    assert SYSTEM_PROMPT not in json.dumps(asked[0], ensure_ascii=False)
    assert audit_rows(server) == rows  # no audit row: no document was read


def test_an_ordinary_question_still_gets_a_document_answer(
    server: LiveServer, ollama: OllamaStandin
) -> None:
    body = {"model": MODEL, "messages": [CHAT["ja"][0]], "stream": False}
    rows = audit_rows(server)
    answer = server.client.post("/v1/chat/completions", json=body).json()
    assert answer["citations"]
    assert audit_rows(server) == rows + 1


def open_webui_citations(sources: list[dict]) -> list[dict]:
    """Open WebUI's Citations.svelte numbering: one entry per distinct metadata.source (or
    source.id), in order; [n] in the text opens entry n."""
    found: list[dict] = []
    for source in sources:
        for i, document in enumerate(source.get("document") or []):
            metadata = (source.get("metadata") or [{}])[i]
            ident = metadata.get("source") or source.get("source", {}).get("id") or "N/A"
            name = metadata.get("name") or source.get("source", {}).get("name")
            same = next((c for c in found if c["id"] == ident), None)
            if same:
                same["document"].append(document)
            else:
                found.append({"id": ident, "name": name, "document": [document], "meta": metadata})
    return found


@pytest.mark.parametrize("language", ["en", "ja"])
def test_citations_arrive_as_the_sources_open_webui_renders(
    server: LiveServer, language: str
) -> None:
    # Open WebUI's chat request: streamed, usage asked for (open_webui/main.py line 1244)
    body = {
        "model": MODEL,
        "messages": [CHAT[language][0]],
        "stream": True,
        "stream_options": {"include_usage": True},
    }
    response = server.client.post("/v1/chat/completions", json=body)
    chunks = [
        json.loads(frame.removeprefix("data: "))
        for frame in response.text.strip().split("\n\n")
        if frame != "data: [DONE]"
    ]
    sources = [c["event"]["data"] for c in chunks if c.get("event", {}).get("type") == "source"]
    text = "".join((c["choices"][0]["delta"].get("content") or "") for c in chunks if c["choices"])
    kura_citations = next(c["citations"] for c in chunks if "citations" in c)  # kept
    assert kura_citations
    shown = open_webui_citations(sources)
    for cited in kura_citations:
        n = cited["n"]
        assert f"[{n}]" in text
        entry = shown[n - 1]  # what a click on [n] opens in Open WebUI
        assert entry["document"] == [cited["text"]]
        assert Path(cited["source"]).name in entry["name"]
        if cited["page_start"]:
            assert entry["meta"]["page"] == cited["page_start"] - 1  # Open WebUI adds 1
    for chunk in chunks:  # OpenAI clients that read choices[0] still can
        assert chunk["choices"] or "usage" in chunk
