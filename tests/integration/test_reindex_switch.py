"""A search the reindex's switch falls in the middle of: its query is embedded by the runtime of
the copy it is searched in, whichever side of the switch it began on (ingest/serving.py).

A data folder whose ``manuals`` torch embedded (fp32, served by onnx) is rebuilt by the server
into an int8 copy. The switch is made to happen at the worst moment, deterministically: right
after a search embedded its question, before it queries the store. Every query that reaches a
store is recorded with the copy it reached, and its vector must be the one that copy's runtime
computes (the two runtimes' vectors of a question differ: cosine ~0.98).
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest

from ingest.components import Components, build_components
from ingest.embedders import Embedders
from ingest.embedding.identity import INT8
from ingest.pipeline import Indexer
from ingest.stores.edge import EdgeVectorStore
from tests.support.reindex import bearer, keyed, poll, written
from tests.support.server import LiveServer, make_settings

pytestmark = pytest.mark.integration

PATH = "/v1/collections/manuals/reindex"
OLD, NEW = "kura_manuals", "kura_manuals__1"
# Without the multilingual vector a Japanese question is searched by the dense model too.
SETTINGS: dict[str, Any] = {"multilingual_model": "none"}


@pytest.fixture(scope="module")
def torch_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A data folder whose ``manuals`` torch embedded (fp32)."""
    root = tmp_path_factory.mktemp("switch")
    docs = written(root / "docs")
    settings = make_settings(root / "data", embed_runtime="torch", **SETTINGS)
    components = build_components(settings)
    try:
        assert Indexer(components, "manuals").ingest_paths([docs]).failed == []
    finally:
        components.close()
    return root / "data"


class Straddle:
    """Makes the reindex's swap happen inside the next search, right after it embedded its
    question; records which copy each store query reached, with its dense vector."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.armed, self.embedded, self.swapped = (threading.Event() for _ in range(3))
        self.queries: list[tuple[str, list[float] | None]] = []
        embed, swap, query = Embedders.query_embedding, Components.swap, EdgeVectorStore.query

        def embedding(embedders: Embedders, *args: Any) -> list[float]:
            vector = embed(embedders, *args)
            if self.armed.is_set() and not self.embedded.is_set():
                self.embedded.set()
                assert self.swapped.wait(120), "the swap never came"
            return vector

        def swapping(components: Components, *args: Any) -> Any:
            assert self.embedded.wait(120), "no search came to straddle the swap"
            replaced = swap(components, *args)
            self.swapped.set()
            return replaced

        def querying(store: EdgeVectorStore, request: Any, **kwargs: Any) -> Any:
            self.queries.append((Path(store.path).name, request.query_embedding))
            return query(store, request, **kwargs)

        monkeypatch.setattr(Embedders, "query_embedding", embedding)
        monkeypatch.setattr(Components, "swap", swapping)
        monkeypatch.setattr(EdgeVectorStore, "query", querying)


@pytest.fixture
def served(torch_folder: Path, tmp_path: Path) -> Iterator[tuple[LiveServer, httpx.Client, str]]:
    data, admin, _ = keyed(torch_folder, tmp_path)
    live = LiveServer(make_settings(data, auth="keys", **SETTINGS))
    with live as client:
        yield live, client, admin


def search(client: httpx.Client, key: str, query: str, mode: str) -> list[tuple[str, float]]:
    body = {"query": query, "collection": "manuals", "mode": mode, "top_k": 4}
    answer = client.post("/v1/search", json=body, headers=bearer(key))
    assert answer.status_code == 200, answer.text
    return [(p["chunk_id"], p["score"]) for p in answer.json()["passages"]]


def cosine(a: list[float], b: list[float]) -> float:
    return float(np.dot(a, b) / (np.linalg.norm(a) * np.linalg.norm(b)))


@pytest.mark.parametrize(
    ("query", "mode"),
    [
        ("why does the pump stop", "dense"),
        ("why does the pump stop", "hybrid"),
        ("ポンプの停止", "dense"),
    ],
)
def test_a_search_the_switch_falls_into_is_embedded_for_the_copy_it_searches(
    served: tuple[LiveServer, httpx.Client, str],
    monkeypatch: pytest.MonkeyPatch,
    query: str,
    mode: str,
) -> None:
    live, client, admin = served
    app: Any = live.server.config.app
    components: Components = app.state.components
    before = search(client, admin, query, mode)
    straddle = Straddle(monkeypatch)
    straddle.armed.set()
    assert client.post(PATH, headers=bearer(admin)).status_code == 202
    # the search the swap falls into: embedded for the old copy, answered from it whole
    assert search(client, admin, query, mode) == before
    assert straddle.swapped.is_set()
    done = poll(client, admin, lambda s: s["status"] != "running")
    assert (done["status"], done["serving"]) == ("done", NEW), done
    assert search(client, admin, query, mode)  # from the new copy, by its own runtime
    runtimes = {OLD: "onnx", NEW: INT8}  # fp32 is served by onnx; the rebuild is int8
    expected = {
        c: components.embedders.of(r).get_query_embedding(query) for c, r in runtimes.items()
    }
    assert cosine(expected[OLD], expected[NEW]) < 0.999  # the test tells the two apart
    reached = [(copy, vector) for copy, vector in straddle.queries if vector is not None]
    assert [copy for copy, _ in reached] == [OLD, NEW]
    for copy, vector in reached:
        assert cosine(vector, expected[copy]) > 0.9999, f"{copy} searched with another's vector"
