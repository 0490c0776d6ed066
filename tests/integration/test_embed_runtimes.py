"""Runtimes by family: a collection is embedded by the runtime family it was built with (fp32:
torch or onnx; each int8 recipe), a new one by the default (the current int8 recipe), whatever
the data folder holds."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from app.retrieve import retrieve_hits
from ingest.components import Components, build_components
from ingest.embedding import identity
from ingest.embedding.identity import INT8
from ingest.embedding.onnx import OnnxEmbedding
from ingest.errors import EmbedderMismatch
from ingest.pipeline import Indexer
from ingest.reindex import reindex
from tests.support.data_copy import copy_data
from tests.support.reindex import DOCS, QUERIES, written
from tests.support.server import LiveServer, make_settings

pytestmark = pytest.mark.integration

Ranking = list[tuple[str, float]]


def ranking(components: Components, query: str) -> Ranking:
    hits = retrieve_hits(components, "manuals", query, 4, mode="dense")
    return [(h.passage.chunk_id, h.passage.score) for h in hits]


def query_vector(components: Components, query: str) -> list[float]:
    """The query's embedding by the runtime of the copy serving ``manuals`` now."""
    with components.serving("manuals", embeds=True) as copy:
        return components.embedders.query_embedding(query, copy)


def record(components: Components, collection: str = "manuals") -> dict[str, object]:
    found = components.backend.identity(components.qdrant_name(collection))
    assert found is not None
    return found


def cosine(a: list[float], b: list[float]) -> float:
    return float(np.dot(a, b) / (np.linalg.norm(a) * np.linalg.norm(b)))


class Built:
    """A data folder whose ``manuals`` torch embedded, with what torch answered."""

    def __init__(self, folder: Path, rankings: dict[str, Ranking], vectors: dict) -> None:
        self.folder, self.rankings, self.vectors = folder, rankings, vectors

    def copy(self, tmp_path: Path) -> Path:
        """A copy of the data folder to change."""
        return copy_data(self.folder, tmp_path / "data")


@pytest.fixture(scope="module")
def torch_built(tmp_path_factory: pytest.TempPathFactory) -> Built:
    root = tmp_path_factory.mktemp("runtimes")
    docs = written(root / "docs")
    folder = root / "data"
    components = build_components(make_settings(folder, embed_runtime="torch"))
    try:
        report = Indexer(components, "manuals").ingest_paths([docs])
        assert report.failed == []
        rankings = {q: ranking(components, q) for q in QUERIES}
        vectors = {q: query_vector(components, q) for q in QUERIES}
        assert record(components)["runtime"] == "torch"
    finally:
        components.close()
    return Built(folder, rankings, vectors)


def test_an_fp32_collection_is_served_by_fp32_when_the_default_is_int8(
    tmp_path: Path, torch_built: Built
) -> None:
    settings = make_settings(torch_built.copy(tmp_path))
    assert settings.embed_runtime == "auto"
    components = build_components(settings)
    try:
        # only what the folder's collection needs was loaded at start: no int8 beside it
        assert components.embedders.loaded_runtimes() == ["onnx"]
        assert components.runtime_for("manuals") == "onnx"
        embedder = components.embedder_for("manuals")
        assert isinstance(embedder, OnnxEmbedding)
        assert Path(embedder.onnx_file).name == "model.onnx"
        for query in QUERIES:  # English and Japanese
            vector = query_vector(components, query)
            assert cosine(vector, torch_built.vectors[query]) > 0.9999
            now = ranking(components, query)
            assert [c for c, _ in now] == [c for c, _ in torch_built.rankings[query]]
            for (_, after), (_, before) in zip(now, torch_built.rankings[query], strict=True):
                assert after == pytest.approx(before, abs=1e-4)
        # a document added to it is embedded by fp32 too, and the record stays
        extra = tmp_path / "more"
        extra.mkdir()
        (extra / "filter.md").write_text("# フィルター\n\nフィルターは毎週交換する。\n", "utf-8")
        assert Indexer(components, "manuals").ingest_paths([extra]).failed == []
        assert components.embedders.loaded_runtimes() == ["onnx"]
        assert record(components)["runtime"] == "torch"
        # a new collection in the same folder gets the default, loaded only now
        Indexer(components, "fresh").ingest_paths([extra])
        assert record(components, "fresh")["runtime"] == INT8
        assert components.embedders.loaded_runtimes() == ["onnx", INT8]
        assert components.runtime_for("fresh") == INT8
    finally:
        components.close()


def test_a_collection_recorded_before_runtimes_is_taken_as_fp32(
    tmp_path: Path, torch_built: Built
) -> None:
    folder = torch_built.copy(tmp_path)
    components = build_components(make_settings(folder), lazy_embedder=True)
    shard = components.backend.folder(components.qdrant_name("manuals"))
    components.close()
    written = json.loads((shard / "kura-embedder.json").read_text())
    del written["runtime"]  # as kura wrote it before runtimes were recorded
    (shard / "kura-embedder.json").write_text(json.dumps(written))
    components = build_components(make_settings(folder))
    try:
        assert components.runtime_for("manuals") == "onnx"
        query = QUERIES[2]
        assert [c for c, _ in ranking(components, query)] == [
            c for c, _ in torch_built.rankings[query]
        ]
        assert components.embedders.loaded_runtimes() == ["onnx"]
    finally:
        components.close()


def test_an_explicit_runtime_of_another_family_gets_the_409(
    tmp_path: Path, torch_built: Built
) -> None:
    folder = torch_built.copy(tmp_path)
    components = build_components(make_settings(folder, embed_runtime="onnx-int8"))
    try:
        with pytest.raises(EmbedderMismatch, match="onnx-int8"):
            ranking(components, QUERIES[0])
    finally:
        components.close()
    with LiveServer(make_settings(folder, embed_runtime="onnx-int8")) as client:
        # English: a Japanese question is searched by the multilingual vector and keywords,
        # which the dense model's runtime does not concern
        body = {"query": QUERIES[0], "collection": "manuals", "mode": "dense"}
        answer = client.post("/v1/search", json=body)
        assert answer.status_code == 409
        assert answer.json()["error"] == "EmbedderMismatch"
        detail = answer.json()["detail"]
        assert "kura reindex manuals" in detail
        assert "torch" in detail
        assert "onnx-int8" in detail
        keywords = client.post("/v1/search", json={**body, "mode": "sparse"})
        assert keywords.status_code == 200
        assert keywords.json()
    # the other runtime of the same family is the same vectors: served
    with LiveServer(make_settings(folder, embed_runtime="onnx")) as client:
        answer = client.post("/v1/search", json=body)
        assert answer.status_code == 200
        assert answer.json()


def test_reindex_moves_an_fp32_collection_to_int8(tmp_path: Path, torch_built: Built) -> None:
    components = build_components(make_settings(torch_built.copy(tmp_path)))
    try:
        report = reindex(components, "manuals")
        assert report.chunks == len(DOCS)
        assert record(components)["runtime"] == INT8
        assert components.runtime_for("manuals") == INT8
        for query in QUERIES:
            vector = query_vector(components, query)
            # int8 vectors: close to torch's, not the same
            assert 0.97 < cosine(vector, torch_built.vectors[query]) < 0.99999
        top = ranking(components, QUERIES[0])[0][0]
        assert top == torch_built.rankings[QUERIES[0]][0][0]
    finally:
        components.close()


def test_a_collection_of_the_first_int8_recipe_keeps_it_until_reindex(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    docs = written(tmp_path / "docs")
    folder = tmp_path / "data"
    with monkeypatch.context() as yesterday:  # the kura whose int8 default was the first recipe
        yesterday.setattr(identity, "INT8", "onnx-int8")
        components = build_components(make_settings(folder))
        try:
            assert Indexer(components, "manuals").ingest_paths([docs]).failed == []
            assert record(components)["runtime"] == "onnx-int8"
            before = {q: ranking(components, q) for q in QUERIES}
            vectors = {q: query_vector(components, q) for q in QUERIES}
        finally:
            components.close()
    components = build_components(make_settings(folder))
    try:
        # served by the recipe that made it, not by the current one (whose vectors differ)
        assert components.runtime_for("manuals") == "onnx-int8"
        assert components.embedders.loaded_runtimes() == ["onnx-int8"]
        for query in QUERIES:  # English and Japanese
            assert cosine(query_vector(components, query), vectors[query]) > 0.9999
            assert [c for c, _ in ranking(components, query)] == [c for c, _ in before[query]]
        current = components.embedders.of(INT8).get_query_embedding(QUERIES[0])
        assert cosine(current, vectors[QUERIES[0]]) < 0.9999
        # reindex moves it to the current recipe
        assert reindex(components, "manuals").chunks == len(DOCS)
        assert record(components)["runtime"] == INT8
        assert components.runtime_for("manuals") == INT8
        assert ranking(components, QUERIES[0])[0][0] == before[QUERIES[0]][0][0]
    finally:
        components.close()
