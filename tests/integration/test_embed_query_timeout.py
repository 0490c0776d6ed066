"""A search's question embedded by an Ollama host that hangs waits KURA_EMBED_QUERY_TIMEOUT,
not KURA_EMBED_TIMEOUT (sized for ingestion's batches): the search answers 503 naming the
query timeout, in English and Japanese, and keyword search still answers."""

from __future__ import annotations

import time
from pathlib import Path

import httpx
import pytest

from tests.support import ollama_collections
from tests.support.ollama_collections import standin, timed_settings, wait_for
from tests.support.server import LiveServer

pytestmark = pytest.mark.integration

keys = ollama_collections.keys

MANUALS = {
    "pump-check.txt": "Check the pump pressure every Monday before the night shift.",
    "点検手順.txt": "新しい点検手順は来月から適用する。冷却水の圧力を毎週確認する。",
}
QUERY_TIMEOUT = 1.0  # KURA_EMBED_QUERY_TIMEOUT
BATCH_TIMEOUT = 60.0  # KURA_EMBED_TIMEOUT: what a search waited before
BOUND = 10.0  # a generous upper bound for a search that waited one query timeout


def search(client: httpx.Client, headers: dict[str, str], query: str, mode: str) -> httpx.Response:
    body = {"query": query, "collection": "manuals", "mode": mode}
    return client.post("/v1/search", json=body, headers=headers, timeout=2 * BATCH_TIMEOUT)


def test_a_search_waits_the_query_timeout_for_a_host_that_hangs(
    tmp_path: Path, keys: dict[str, dict[str, str]]
) -> None:
    with standin(0) as ollama:
        settings = timed_settings(tmp_path, ollama.url, QUERY_TIMEOUT, BATCH_TIMEOUT)
        with LiveServer(settings) as client:
            body = {"name": "manuals", "read_groups": ["staff"], "write_groups": ["staff"]}
            made = client.post("/v1/collections", json=body, headers=keys["admin"])
            assert made.status_code == 201, made.text
            sent = [("files", (name, text.encode())) for name, text in MANUALS.items()]
            accepted = client.post(
                "/v1/collections/manuals/documents", files=sent, headers=keys["writer"]
            )
            job = f"/v1/jobs/{accepted.json()['job_id']}"
            wait_for(
                lambda: client.get(job, headers=keys["writer"]).json()["status"] == "done",
                "the manuals to be indexed",
            )
            ollama.state.hang = True  # the embedder is built and has answered: then it hangs
            for query, name in [
                ("pump pressure", "pump-check.txt"),
                ("冷却水の圧力", "点検手順.txt"),
            ]:
                time.sleep(0.2)  # past the breaker's window: this search asks the host
                asked = len(ollama.state.requests)
                started = time.monotonic()
                found = search(client, keys["admin"], query, "dense")
                seconds = time.monotonic() - started
                assert found.status_code == 503, found.text
                assert len(ollama.state.requests) == asked + 1  # it did ask the hung host
                assert found.json()["error"] == "EmbedderUnreachable"
                detail = found.json()["detail"]
                assert f"did not embed with 'bge-m3' within {QUERY_TIMEOUT:g} s" in detail
                assert "KURA_EMBED_QUERY_TIMEOUT; the model was in memory" in detail
                assert seconds < BOUND  # on main: BATCH_TIMEOUT seconds
                keywords = search(client, keys["writer"], query, "sparse")
                assert keywords.status_code == 200, keywords.text
                assert keywords.json()["passages"][0]["source"] == name
