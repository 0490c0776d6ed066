"""An Ollama embedding host that accepts connections and never answers (a hung GPU box, a
firewall dropping packets) is remembered as down: searches by meaning answer 503 at once while
one request at a time checks the host, keyword search answers, and once the host answers again
search by meaning does too, without a restart. English and Japanese questions throughout."""

from __future__ import annotations

import contextlib
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.support import ollama_collections
from tests.support.ollama_collections import ollama_settings, standin, wait_for
from tests.support.ollama_standin import OllamaStandin
from tests.support.server import LiveServer, free_port

pytestmark = pytest.mark.integration

keys = ollama_collections.keys

MANUALS = {
    "pump-check.txt": "Check the pump pressure every Monday before the night shift.",
    "点検手順.txt": "新しい点検手順は来月から適用する。冷却水の圧力を毎週確認する。",
}
# (question, the manual that answers it): asked concurrently, several times each
QUESTIONS = [("pump pressure", "pump-check.txt"), ("冷却水の圧力を確認する", "点検手順.txt")]
CONCURRENT = 8
WINDOW = 2.0  # KURA_EMBED_RETRY_BACKOFF: how long the host is remembered as down
TIMEOUT = 5.0  # KURA_EMBED_TIMEOUT: what one request to a host that hangs waits


def served(tmp_path: Path, host: str) -> Any:
    return ollama_settings(
        tmp_path,
        "edge",
        host,
        auth="keys",
        embed_languages="*",  # bge-m3 reads Japanese: no question is searched without it
        worker_poll=0.1,
        embed_retry_backoff=WINDOW,
        embed_timeout=TIMEOUT,
    )


def search(url: str, headers: dict[str, str], query: str, mode: str) -> httpx.Response:
    body = {"query": query, "collection": "manuals", "mode": mode}
    with httpx.Client(base_url=url, timeout=120) as client:
        return client.post("/v1/search", json=body, headers=headers)


def index_manuals(tmp_path: Path, port: int, keys: dict[str, dict[str, str]]) -> None:
    """Yesterday, with the host answering: the English and Japanese manuals indexed."""
    with standin(port), LiveServer(served(tmp_path, f"http://127.0.0.1:{port}")) as client:
        body = {"name": "manuals", "read_groups": ["staff"], "write_groups": ["staff"]}
        assert client.post("/v1/collections", json=body, headers=keys["admin"]).status_code == 201
        sent = [("files", (name, text.encode())) for name, text in MANUALS.items()]
        writer = keys["writer"]
        accepted = client.post("/v1/collections/manuals/documents", files=sent, headers=writer)
        job = f"/v1/jobs/{accepted.json()['job_id']}"
        wait_for(
            lambda: client.get(job, headers=writer).json()["status"] == "done",
            "the manuals to be indexed",
        )


def host_calls(ollama: OllamaStandin) -> int:
    """Requests for the embedding model the host received (answered or left hanging)."""
    return sum(r.get("model") == "bge-m3" for r in ollama.state.requests)


def refused_at_once(url: str, headers: dict[str, str], ollama: OllamaStandin) -> None:
    """``CONCURRENT`` dense and hybrid searches at once, in English and Japanese, while the
    host hangs: all 503 EmbedderUnreachable with Retry-After, and the host asked at most once
    (one request checks it; the others do not wait for that check, nor queue behind it)."""
    asked = host_calls(ollama)
    asks = [(QUESTIONS[i % 2][0], ("dense", "hybrid")[i % 4 // 2]) for i in range(CONCURRENT)]
    with ThreadPoolExecutor(CONCURRENT) as pool:
        answers = list(pool.map(lambda ask: search(url, headers, *ask), asks))
    for answer in answers:
        assert answer.status_code == 503, answer.text
        assert answer.json()["error"] == "EmbedderUnreachable"
        assert int(answer.headers["Retry-After"]) > 0
        assert "Keyword search (mode=sparse) still answers" in answer.json()["detail"]
    # on main: one request per search, each waiting the timeout behind the one before
    assert host_calls(ollama) - asked <= 1


def keywords_answer(url: str, headers: dict[str, str]) -> None:
    for question, name in QUESTIONS:
        found = search(url, headers, question, "sparse")
        assert found.status_code == 200, found.text
        assert found.json()["passages"][0]["source"] == name


def recovers(url: str, keys: dict[str, dict[str, str]], ollama: OllamaStandin) -> None:
    """The host answers again: search by meaning answers, in both languages, no restart."""
    ollama.state.hang = False
    for question, name in QUESTIONS:
        found = wait_for(
            lambda q=question: (
                (r := search(url, keys["writer"], q, "dense")).status_code == 200 and r
            ),
            f"dense search for {question!r} to answer again",
        )
        assert found.json()["passages"][0]["source"] == name
    ready = httpx.get(f"{url}/readyz", headers=keys["admin"]).json()
    assert ready["embedder"]["ok"] is True, ready


def test_an_embedding_host_hanging_at_start_answers_503_at_once_and_recovers(
    tmp_path: Path, keys: dict[str, dict[str, str]]
) -> None:
    port = free_port()
    index_manuals(tmp_path, port, keys)
    with contextlib.ExitStack() as stack:
        hung = stack.enter_context(standin(port, hang=True))
        server = LiveServer(served(tmp_path, hung.url))
        stack.enter_context(server)  # starts: its check of the host timed out once
        assert host_calls(hung) == 1
        keywords_answer(server.url, keys["writer"])
        time.sleep(WINDOW)  # past the window: the next search is the one to check the host
        refused_at_once(server.url, keys["writer"], hung)
        told = search(server.url, keys["admin"], "pump pressure", "dense")
        assert f"Ollama at {hung.url} did not embed with 'bge-m3' within 5 s" in told.text
        assert "nor describe it, /api/show" in told.text  # the check loads no model
        assert "kura asks it again in " in told.text
        recovers(server.url, keys, hung)


def test_an_embedding_host_that_hangs_later_is_asked_once_and_recovers(
    tmp_path: Path, keys: dict[str, dict[str, str]]
) -> None:
    port = free_port()
    index_manuals(tmp_path, port, keys)
    with contextlib.ExitStack() as stack:
        ollama = stack.enter_context(standin(port))
        server = LiveServer(served(tmp_path, ollama.url))
        stack.enter_context(server)  # the embedder is built: the host answered
        ollama.state.hang = True
        first = search(server.url, keys["writer"], "night shift", "dense")
        assert first.status_code == 503, first.text  # it waited the timeout, once
        assert "did not embed" in search(server.url, keys["admin"], "pump", "dense").text
        keywords_answer(server.url, keys["writer"])
        refused_at_once(server.url, keys["writer"], ollama)
        recovers(server.url, keys, ollama)
