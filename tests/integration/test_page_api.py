"""What the web page asks of the API: the queued and writing events of a streamed answer, no
operator detail for non-admins when the model is down, documents with their real titles, and
failed entries a writer can delete."""

from __future__ import annotations

import json
import re
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from app.errors import UNAVAILABLE
from app.keys import KeyStore
from ingest.pipeline import IngestReport
from tests.support.data_copy import copy_data
from tests.support.ollama_standin import OllamaStandin
from tests.support.server import LiveServer, free_port, make_settings
from tests.support.sse import events, wait_for

pytestmark = pytest.mark.integration

QUESTION = "What does error E-417 mean on the HX-400?"


def test_a_question_behind_another_is_queued_then_writing(
    api: httpx.Client, ollama: OllamaStandin
) -> None:
    ollama.state.delay_per_token = 0.3
    first: dict[str, list[tuple[str, dict]]] = {}

    def ask_first() -> None:
        response = api.post("/v1/query", json={"question": QUESTION, "stream": True})
        first["events"] = events(response.text)

    thread = threading.Thread(target=ask_first)
    try:
        thread.start()
        deadline = time.monotonic() + 30
        while not ollama.state.generations and time.monotonic() < deadline:
            time.sleep(0.05)  # the first question is with the model now
        response = api.post(
            "/v1/query", json={"question": "契約期間はいつまでですか", "stream": True}
        )
        thread.join(timeout=60)
    finally:
        ollama.state.delay_per_token = 0.0
    got = events(response.text)
    kinds = [kind for kind, _ in got]
    assert kinds[:4] == ["passages", "queued", "writing", "token"], kinds
    assert got[1][1] == {"position": 1}
    assert kinds[-1] == "done"
    # the first had a free turn: never queued
    assert [kind for kind, _ in first["events"]][:3] == ["passages", "writing", "token"]


class Asker(threading.Thread):
    """One question streamed in a thread, its lines kept as they come."""

    def __init__(self, api: httpx.Client, body: dict[str, Any], path: str = "/v1/query"):
        super().__init__(daemon=True)
        self.api, self.body, self.path = api, body, path
        self.lines: list[str] = []

    def run(self) -> None:
        with self.api.stream("POST", self.path, json=self.body) as response:
            self.lines.extend(response.iter_lines())  # one line at a time, as they arrive

    def kinds(self) -> list[str]:
        return [line[len("event: ") :] for line in list(self.lines) if line.startswith("event:")]

    def places(self) -> list[int]:
        lines = list(self.lines)
        return [
            json.loads(lines[i + 1][len("data: ") :])["position"]
            for i, line in enumerate(lines[:-1])
            if line == "event: queued"
        ]


def queue_depth(api: httpx.Client) -> int:
    """Questions waiting for the model, as /metrics says."""
    found = re.search(r"^kura_llm_queue_depth (\S+)$", api.get("/metrics").text, re.M)
    assert found is not None
    return int(float(found[1]))


def queue_behind_a_held_answer(
    api: httpx.Client, ollama: OllamaStandin, hold: threading.Event, askers: list[Asker]
) -> None:
    """``askers`` started in turn, the first answering (held until ``hold`` is set), each of
    the others in line before the next starts."""
    ollama.state.hold = hold
    answering = len(ollama.state.generations)
    askers[0].start()
    wait_for(lambda: len(ollama.state.generations) > answering)  # it holds the one turn
    for place, asker in enumerate(askers[1:], 1):
        asker.start()
        wait_for(lambda: queue_depth(api) == place)  # noqa: B023 (waited for at once)


@pytest.mark.parametrize("question", [QUESTION, "契約期間はいつまでですか"], ids=["en", "ja"])
def test_a_queued_question_counts_down_its_place_in_line(
    api: httpx.Client, ollama: OllamaStandin, question: str
) -> None:
    body = {"question": question, "stream": True}
    askers = [Asker(api, body) for _ in range(4)]
    hold = threading.Event()
    try:
        queue_behind_a_held_answer(api, ollama, hold, askers)
        hold.set()  # the first answer goes on: the line moves three times
        for asker in askers:
            asker.join(60)
    finally:
        hold.set()
        ollama.state.hold = None
    assert [a.places() for a in askers] == [[], [1], [2, 1], [3, 2, 1]]
    kinds = askers[-1].kinds()
    assert kinds[:5] == ["passages", "queued", "queued", "queued", "writing"], kinds
    assert kinds[-1] == "done"


def test_an_openai_stream_stays_plain_chunks_while_queued(
    api: httpx.Client, ollama: OllamaStandin
) -> None:
    question = "契約期間はいつまでですか"
    chat = {"model": "kura:corpus", "messages": [{"role": "user", "content": question}]}
    askers = [
        Asker(api, {"question": QUESTION, "stream": True}),
        Asker(api, {**chat, "stream": True}, "/v1/chat/completions"),
        Asker(api, {"question": question, "stream": True}),
    ]
    hold = threading.Event()
    try:
        queue_behind_a_held_answer(api, ollama, hold, askers)  # the OpenAI question first
        hold.set()
        for asker in askers:
            asker.join(60)
    finally:
        hold.set()
        ollama.state.hold = None
    assert askers[2].places() == [2, 1]
    # Only what OpenAI clients (and Open WebUI, which skips lines not starting "data:")
    # read: chunks, then [DONE]; no event of kura's own.
    lines = [line for line in askers[1].lines if line]
    assert all(line.startswith("data: ") for line in lines), lines
    assert lines[-1] == "data: [DONE]"
    chunks = [json.loads(line[len("data: ") :]) for line in lines[:-1]]
    assert {c["object"] for c in chunks} == {"chat.completion.chunk"}
    text = "".join(c["choices"][0]["delta"].get("content", "") for c in chunks if c["choices"])
    assert "[1]" in text


@pytest.fixture(scope="module")
def down(
    indexed: tuple[Path, IngestReport], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[httpx.Client, dict[str, str]]]:
    """kura with keys (an admin, a reader) whose Ollama address has nothing listening."""
    data_dir = copy_data(indexed[0], tmp_path_factory.mktemp("down") / "data")
    settings = make_settings(data_dir, f"http://127.0.0.1:{free_port()}", auth="keys")
    with KeyStore(settings.state_path) as keys:
        admin, _ = keys.create("root", ["staff"], admin=True)
        reader, _ = keys.create("carol", ["staff"])
    with LiveServer(settings) as client:
        yield (
            client,
            {
                "admin": f"Bearer {admin}",
                "reader": f"Bearer {reader}",
            },
        )


def test_only_admins_get_the_operator_detail_when_the_model_is_down(
    down: tuple[httpx.Client, dict[str, str]],
) -> None:
    client, keys = down
    body = {"question": "E-417 のエラーは何を意味しますか", "collection": "corpus"}
    reader = client.post("/v1/query", json=body, headers={"Authorization": keys["reader"]})
    assert reader.status_code == 503
    assert reader.json() == {"detail": UNAVAILABLE, "error": "LLMUnavailable"}
    admin = client.post("/v1/query", json=body, headers={"Authorization": keys["admin"]})
    assert admin.status_code == 503
    assert "ollama serve" in admin.json()["detail"]
    assert "127.0.0.1" in admin.json()["detail"]

    streamed = {**body, "stream": True}
    got = events(
        client.post("/v1/query", json=streamed, headers={"Authorization": keys["reader"]}).text
    )
    assert got[0][0] == "passages"
    assert got[0][1]["passages"]
    assert got[-1] == ("error", {"detail": UNAVAILABLE, "error": "LLMUnavailable", "status": 503})
    assert "127.0.0.1" not in json.dumps(got[-1])
    got = events(
        client.post("/v1/query", json=streamed, headers={"Authorization": keys["admin"]}).text
    )
    assert "ollama serve" in got[-1][1]["detail"]


def test_documents_show_their_real_title_not_a_numbered_heading(
    down: tuple[httpx.Client, dict[str, str]],
) -> None:
    client, keys = down
    listed = client.get(
        "/v1/collections/corpus/documents", headers={"Authorization": keys["admin"]}
    ).json()
    titles = {Path(d["source"]).name: d["title"] for d in listed["documents"]}
    assert titles["apache-license-2.0.txt"] == ""  # indexed under "1. Definitions."
    assert titles["hx400-manual.docx"] == "HX-400 Maintenance Manual"
    assert titles["guide.html"] == "Operator guide"
    assert listed["writable"] is True
    as_reader = client.get(
        "/v1/collections/corpus/documents", headers={"Authorization": keys["reader"]}
    ).json()
    assert as_reader["writable"] is False


def test_a_writer_deletes_a_failed_entry(down: tuple[httpx.Client, dict[str, str]]) -> None:
    client, keys = down
    admin = {"Authorization": keys["admin"]}
    accepted = client.post(
        "/v1/collections/corpus/documents",
        files={"files": ("壊れた.pdf", b"%PDF-1.4\nnot really a pdf", "application/pdf")},
        headers=admin,
    ).json()
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        job = client.get(f"/v1/jobs/{accepted['job_id']}", headers=admin).json()
        if job["status"] == "done":
            break
        time.sleep(0.2)
    assert job["files"][0]["status"] == "failed"
    listed = client.get("/v1/collections/corpus/documents", headers=admin).json()["documents"]
    failed = next(d for d in listed if d["source"].endswith("壊れた.pdf"))
    assert failed["status"] == "failed"
    assert failed["reason"]
    url = f"/v1/collections/corpus/documents/{failed['document_id']}"
    # a reader does not see failures, and cannot delete them
    assert client.delete(url, headers={"Authorization": keys["reader"]}).status_code == 404
    deleted = client.delete(url, headers=admin)
    assert deleted.status_code == 200
    assert deleted.json() == {"document_id": failed["document_id"], "removed": 0, "remaining": 0}
    listed = client.get("/v1/collections/corpus/documents", headers=admin).json()["documents"]
    assert not any(d["source"].endswith("壊れた.pdf") for d in listed)
    assert client.delete(url, headers=admin).status_code == 404
