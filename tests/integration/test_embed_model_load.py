"""The Ollama embedding model's loads and unloads, over HTTP to the stand-in through kura's
service: every /api/embed sends keep_alive, so the model outlives Ollama's 5-minute default; a
cold load longer than KURA_EMBED_QUERY_TIMEOUT, at start or after the model was unloaded, is
waited for and the search answers; a host that hangs still fails at the question timeout.
English and Japanese questions throughout."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from ingest.embedding import build_embedder
from tests.support import ollama_collections
from tests.support.ollama_collections import ollama_settings, standin, timed_settings, wait_for
from tests.support.ollama_standin import OllamaStandin
from tests.support.server import LiveServer

pytestmark = pytest.mark.integration

keys = ollama_collections.keys

MANUALS = {
    "pump-check.txt": "Check the pump pressure every Monday before the night shift.",
    "ログ管理.txt": "ログの保存場所は /var/log/kura です。ログは九十日間保存する。",
}
QUESTIONS = [("pump pressure", "pump-check.txt"), ("ログの保存場所は？", "ログ管理.txt")]
# Asked again in other words: kura remembers the embedding of a question it was asked.
REWORDED = [
    ("When is the pump checked?", "pump-check.txt"),
    ("ログはどこに保存する？", "ログ管理.txt"),
]
QUERY_TIMEOUT = 1.0  # KURA_EMBED_QUERY_TIMEOUT
BATCH_TIMEOUT = 60.0  # KURA_EMBED_TIMEOUT
LOAD = 3.0  # seconds the stand-in takes to load bge-m3: longer than the question timeout
BOUND = 10.0  # a generous bound for a search that waited one question timeout, not a batch's


def serve(tmp_path: Path, ollama: OllamaStandin) -> Any:
    return timed_settings(tmp_path, ollama.url, QUERY_TIMEOUT, BATCH_TIMEOUT)


def index(client: httpx.Client, keys: dict[str, dict[str, str]]) -> None:
    body = {"name": "manuals", "read_groups": ["staff"], "write_groups": ["staff"]}
    made = client.post("/v1/collections", json=body, headers=keys["admin"])
    assert made.status_code == 201, made.text
    sent = [("files", (name, text.encode())) for name, text in MANUALS.items()]
    accepted = client.post("/v1/collections/manuals/documents", files=sent, headers=keys["writer"])
    job = f"/v1/jobs/{accepted.json()['job_id']}"
    wait_for(
        lambda: client.get(job, headers=keys["writer"]).json()["status"] == "done",
        "the manuals to be indexed",
    )


def search(client: httpx.Client, headers: dict[str, str], query: str) -> httpx.Response:
    body = {"query": query, "collection": "manuals", "mode": "dense"}
    return client.post("/v1/search", json=body, headers=headers, timeout=2 * BATCH_TIMEOUT)


def listed(ollama: OllamaStandin) -> list[str]:
    """The models Ollama's /api/ps lists as in memory."""
    answer = httpx.get(f"{ollama.url}/api/ps", timeout=10)
    return [m["model"] for m in answer.json()["models"]]


def unload(ollama: OllamaStandin) -> None:
    """bge-m3 unloaded, as `ollama stop bge-m3` (or an eviction for gpt-oss) does."""
    body = {"model": "bge-m3", "input": [], "keep_alive": 0}
    assert httpx.post(f"{ollama.url}/api/embed", json=body, timeout=30).status_code == 200
    assert "bge-m3:latest" not in listed(ollama)


def test_every_embed_sends_keep_alive_and_the_model_outlives_ollamas_default(
    tmp_path: Path, keys: dict[str, dict[str, str]]
) -> None:
    # Ollama's default keep_alive, 5 minutes, scaled to 1.5 s; kura's default is -1 (for good).
    # A load shorter than the question timeout: this is about unloads alone.
    with standin(0, embed_load_seconds=0.5, keep_alive_scale=0.005) as ollama:
        with LiveServer(serve(tmp_path, ollama)) as client:
            index(client, keys)
            time.sleep(2.0)  # past Ollama's default: on main the model is unloaded by now
            assert listed(ollama) == ["bge-m3:latest"]
            for query, name in QUESTIONS:
                found = search(client, keys["writer"], query)
                assert found.status_code == 200, found.text
                assert found.json()["passages"][0]["source"] == name
        embeds = [r for r in ollama.state.requests if r["path"] == "/api/embed"]
        assert embeds
        assert all(r.get("keep_alive") == -1 for r in embeds)
        assert ollama.runners.loads == 1  # no question paid a cold load


def test_a_cold_load_longer_than_the_question_timeout_is_waited_for_at_start(
    tmp_path: Path, keys: dict[str, dict[str, str]]
) -> None:
    with standin(0, embed_load_seconds=LOAD) as ollama:
        with LiveServer(serve(tmp_path, ollama)) as client:
            # on main: the warm-up gave up at the question timeout, and Ollama dropped the load
            assert listed(ollama) == ["bge-m3:latest"]
            index(client, keys)
            for query, name in QUESTIONS:
                found = search(client, keys["writer"], query)
                assert found.status_code == 200, found.text
                assert found.json()["passages"][0]["source"] == name
        assert ollama.runners.loads == 1


def test_a_question_that_finds_the_model_unloaded_waits_for_its_load(
    tmp_path: Path, keys: dict[str, dict[str, str]]
) -> None:
    # 0.32.15: /api/ps waits for a load in progress, as Ollama does from v0.32.4
    ollama = standin(0, version="0.32.15")
    with ollama, LiveServer(serve(tmp_path, ollama)) as client:
        index(client, keys)
        ollama.runners.load_seconds = LOAD  # from now on, longer than the question timeout
        for query, name in QUESTIONS:
            unload(ollama)  # Ollama restarted, or evicted it for the answering model
            started = time.monotonic()
            found = search(client, keys["writer"], query)
            seconds = time.monotonic() - started
            assert found.status_code == 200, found.text  # on main: 503 at the timeout
            assert found.json()["passages"][0]["source"] == name
            assert LOAD <= seconds < BOUND
        assert ollama.runners.loads == 3  # at start, then after each unload


def test_a_host_that_hangs_still_fails_at_the_question_timeout(
    tmp_path: Path, keys: dict[str, dict[str, str]]
) -> None:
    """Guard (passes on main): a model not in memory is waited for, a hung host is not."""
    ollama = standin(0, version="0.32.15")
    with ollama, LiveServer(serve(tmp_path, ollama)) as client:
        index(client, keys)
        unload(ollama)
        ollama.state.hang = True
        for query, _ in QUESTIONS:  # kura thinks bge-m3 in memory, then no longer knows
            time.sleep(0.2)  # past the breaker's window: this search asks the host
            started = time.monotonic()
            found = search(client, keys["admin"], query)  # an admin reads why
            seconds = time.monotonic() - started
            assert found.status_code == 503, found.text
            detail = found.json()["detail"]
            assert f"did not embed with 'bge-m3' within {QUERY_TIMEOUT:g} s" in detail
            assert "KURA_EMBED_QUERY_TIMEOUT" in detail
            assert seconds < BOUND  # not the batch timeout, BATCH_TIMEOUT


def test_the_embedders_keep_alive_is_the_answering_models_unless_set_apart(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with standin(0) as ollama:
        monkeypatch.setenv("KURA_OLLAMA_KEEP_ALIVE", "30m")
        build_embedder(ollama_settings(tmp_path, "edge", ollama.url)).get_query_embedding(
            "ログの保存場所は？"
        )
        assert listed(ollama) == ["bge-m3:latest"]
        monkeypatch.setenv("KURA_EMBED_KEEP_ALIVE", "0")
        build_embedder(ollama_settings(tmp_path, "edge", ollama.url)).get_text_embedding(
            "Check the pump pressure every Monday."
        )
        assert listed(ollama) == []  # keep_alive 0: unloaded once answered
    sent = [r.get("keep_alive") for r in ollama.state.requests if r["path"] == "/api/embed"]
    assert sent == ["30m", 0]


def test_an_async_question_waits_for_a_cold_load_too(tmp_path: Path) -> None:
    """The embedder's async path (llama-index's aget_query_embedding) decides as the other."""
    with standin(0, embed_load_seconds=LOAD) as ollama:
        settings = ollama_settings(tmp_path, "edge", ollama.url, embed_query_timeout=QUERY_TIMEOUT)
        embedder = build_embedder(settings)
        for query, _ in QUESTIONS:
            assert len(asyncio.run(embedder.aget_query_embedding(query))) == 1024
        assert ollama.runners.loads == 1
