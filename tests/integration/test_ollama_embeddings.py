"""Embeddings through Ollama's /api/embed (the stand-in over HTTP) and the embedder identity each
collection keeps, on both stores: ingest and search through Ollama, English and Japanese; the
errors of a model not pulled, not embedding, or a host down; a collection made by one embedder
never searched or written with another."""

from __future__ import annotations

import math
from pathlib import Path

import httpx
import pytest

from app.retrieve import retrieve_hits
from ingest.components import Components, build_components
from ingest.embedding import build_embedder
from ingest.embedding.ollama import OllamaEmbedding
from ingest.errors import EmbedderMismatch, EmbedderUnavailable
from ingest.pipeline import Indexer
from tests.support import ollama_collections
from tests.support.ollama_collections import (
    DOCS,
    EMBEDDING_MODELS,
    kura,
    kura_env,
    ollama_settings,
    share,
)
from tests.support.ollama_standin import OllamaStandin, StandinState
from tests.support.server import LiveServer, make_settings

pytestmark = pytest.mark.integration

ollama = ollama_collections.ollama
docs = ollama_collections.docs
store = ollama_collections.store


def cosine(a: list[float], b: list[float]) -> float:
    return sum(x * y for x, y in zip(a, b, strict=True))


# -- the embedder over HTTP --------------------------------------------------------------------


def test_ollama_embedder_batches_prefixes_and_reads_the_model_from_show(
    tmp_path: Path, ollama: OllamaStandin
) -> None:
    embedder = build_embedder(
        ollama_settings(
            tmp_path,
            "edge",
            ollama.url,
            embed_batch_size=4,
            embed_query_prefix="Instruct: find the passage\nQuery: ",
        )
    )
    assert isinstance(embedder, OllamaEmbedding)
    assert embedder.max_length == 4096  # bge-m3 reads 8192; Ollama's default num_ctx binds
    texts = [f"点検 記録 {i}" for i in range(10)]
    vectors = embedder.get_text_embedding_batch(texts)
    assert len(vectors) == 10
    assert {len(v) for v in vectors} == {1024}
    assert all(math.isclose(cosine(v, v), 1.0, rel_tol=1e-6) for v in vectors)
    embeds = [r for r in ollama.state.requests if r["path"] == "/api/embed"]
    assert [len(r["input"]) for r in embeds] == [4, 4, 2]  # batched, not one call per text
    assert all(r["truncate"] is True and r["model"] == "bge-m3" for r in embeds)
    embedder.get_query_embedding("E-417")
    assert ollama.state.requests[-1]["input"] == ["Instruct: find the passage\nQuery: E-417"]
    assert embeds[0]["input"][0] == "点検 記録 0"  # no prefix on documents


def test_similar_japanese_texts_are_near_and_unrelated_ones_far(
    tmp_path: Path, ollama: OllamaStandin
) -> None:
    embedder = build_embedder(ollama_settings(tmp_path, "edge", ollama.url))
    doc = embedder.get_text_embedding(DOCS["hoshu.txt"])
    near = embedder.get_query_embedding("点検記録の保存期間")
    far = embedder.get_query_embedding("coolant pressure")
    assert cosine(doc, near) > 0.3 > cosine(doc, far)


def test_dimensions_cut_the_vectors(tmp_path: Path, ollama: OllamaStandin) -> None:
    embedder = build_embedder(ollama_settings(tmp_path, "edge", ollama.url, embed_dimensions=256))
    vector = embedder.get_query_embedding("点検")
    assert len(vector) == 256
    assert math.isclose(cosine(vector, vector), 1.0, rel_tol=1e-6)


def test_errors_name_the_model_the_host_and_the_fix(tmp_path: Path, ollama: OllamaStandin) -> None:
    with pytest.raises(EmbedderUnavailable, match=r"ollama pull qwen3-embedding"):
        build_embedder(ollama_settings(tmp_path, "edge", ollama.url, model="qwen3-embedding"))
    with pytest.raises(EmbedderUnavailable, match=r"not an embedding model.*completion"):
        build_embedder(ollama_settings(tmp_path, "edge", ollama.url, model="gpt-oss:20b"))
    with pytest.raises(EmbedderUnavailable, match=r"cannot reach Ollama at http://127.0.0.1:9"):
        build_embedder(ollama_settings(tmp_path, "edge", "http://127.0.0.1:9"))
    with pytest.raises(EmbedderUnavailable, match="KURA_EMBED_MODEL"):
        build_embedder(
            ollama_settings(tmp_path, "edge", ollama.url, model="packaged:all-MiniLM-L6-v2")
        )


@pytest.mark.parametrize("version", ["0.12.6", "0.32.15"])
def test_a_chat_model_refused_mid_way_is_named_as_not_embedding(version: str) -> None:
    """The /api/show check can be passed (an Ollama that lists no capabilities); the refusal
    /api/embed gives after loading the model (500 or 501, by version) still reads clearly."""
    state = StandinState.like(version, embedding_models=dict(EMBEDDING_MODELS))
    with OllamaStandin(state) as server:
        embedder = OllamaEmbedding(model_name="gpt-oss:20b", host=server.url)
        with pytest.raises(EmbedderUnavailable, match=r"'gpt-oss:20b' .* not an embedding model"):
            embedder.get_text_embedding("点検")


def test_a_host_that_goes_down_mid_way_is_a_clear_error(tmp_path: Path) -> None:
    with OllamaStandin(StandinState(embedding_models=dict(EMBEDDING_MODELS))) as server:
        embedder = build_embedder(ollama_settings(tmp_path, "edge", server.url))
    with pytest.raises(EmbedderUnavailable, match="cannot reach Ollama"):
        embedder.get_text_embedding("点検")


# -- ingest and search through Ollama, and the identity ---------------------------------------


def ingest(components: Components, docs: Path, collection: str = "manuals") -> None:
    report = Indexer(components, collection).ingest_paths([docs])
    assert report.failed == []
    assert report.chunks == len(DOCS)


def test_ingest_and_search_through_ollama_in_both_languages(
    tmp_path: Path, ollama: OllamaStandin, docs: Path, store: str
) -> None:
    components = build_components(ollama_settings(tmp_path, store, ollama.url))
    try:
        ingest(components, docs)
        for question, source in [
            ("点検記録は何年保存しますか", "hoshu.txt"),
            ("what does fault E-417 mean", "pump.txt"),
        ]:
            for mode in ("dense", "hybrid"):
                hits = retrieve_hits(components, "manuals", question, 1, mode=mode)
                assert Path(hits[0].payload.source).name == source, (question, mode)
        record = components.backend.identity(components.qdrant_name("manuals"))
        assert record == {"backend": "ollama", "model": "bge-m3", "dimension": 1024}
    finally:
        components.close()


def test_another_embedder_is_refused_for_search_and_writes_but_keywords_work(
    tmp_path: Path, ollama: OllamaStandin, docs: Path, store: str
) -> None:
    first = build_components(ollama_settings(tmp_path, store, ollama.url))
    ingest(first, docs)
    if store == "edge":
        first.close()  # one process opens an Edge shard at a time
    other = build_components(ollama_settings(tmp_path, store, ollama.url, model="nomic-embed-text"))
    if store == "server":
        share(other, first)
    try:
        with pytest.raises(EmbedderMismatch) as refused:
            retrieve_hits(other, "manuals", "点検記録", 3, mode="hybrid")
        message = str(refused.value)
        assert "'manuals'" in message
        assert "kura reindex manuals" in message
        assert "ollama bge-m3 (1024 dimensions)" in message
        assert "ollama nomic-embed-text (768 dimensions)" in message
        with pytest.raises(EmbedderMismatch):
            other.vector_store("manuals", create=True)  # writing
        keywords = retrieve_hits(other, "manuals", "点検記録", 3, mode="sparse")
        assert Path(keywords[0].payload.source).name == "hoshu.txt"
        # another collection is the new embedder's own
        ingest(other, docs, "fresh")
        assert retrieve_hits(other, "fresh", "点検記録", 1, mode="dense")
    finally:
        other.close()
        if store == "server":
            first.close()


def test_a_collection_without_a_record_is_taken_as_made_by_a_local_model(
    tmp_path: Path, ollama: OllamaStandin, docs: Path, store: str
) -> None:
    """Collections made before identities were recorded: a local model of the stored length."""
    from tests.support.embedder import HashEmbedding

    base = make_settings(tmp_path / "data", qdrant_url=None if store == "edge" else ":memory:")
    local = build_components(base, embedder=HashEmbedding())
    ingest(local, docs)
    name = local.qdrant_name("manuals")
    if store == "edge":
        (local.backend.folder(name) / "kura-embedder.json").unlink()  # as an old one
    else:
        local.backend.client.update_collection(name, metadata={"kura_embedder": None})
    assert local.backend.identity(name) is None
    if store == "edge":
        local.close()
        local = build_components(base, embedder=HashEmbedding())
    else:
        local = share(build_components(base, embedder=HashEmbedding()), local)
    ollama_side = build_components(ollama_settings(tmp_path, store, ollama.url))
    if store == "server":
        share(ollama_side, local)
    try:
        with pytest.raises(EmbedderMismatch, match="made before kura recorded embedders"):
            retrieve_hits(ollama_side, "manuals", "点検", 1, mode="dense")
        # the local model of the same length is accepted, and from then on recorded
        if store == "edge":
            ollama_side.close()
        assert retrieve_hits(local, "manuals", "点検記録", 1, mode="dense")
        assert local.backend.identity(name) == {
            "backend": "local",
            "model": "packaged:all-MiniLM-L6-v2",
            "dimension": 384,
            "runtime": "onnx",  # torch made the unrecorded ones: fp32, served by ONNX Runtime
        }
    finally:
        local.close()
        if store == "server":
            ollama_side.close()


def test_the_api_answers_409_naming_the_fix(
    tmp_path: Path, ollama: OllamaStandin, docs: Path
) -> None:
    first = build_components(ollama_settings(tmp_path, "edge", ollama.url))
    ingest(first, docs)
    first.close()
    served = ollama_settings(tmp_path, "edge", ollama.url, model="nomic-embed-text")
    with LiveServer(served) as client:
        body = {"query": "点検記録", "collection": "manuals", "mode": "hybrid"}
        answer = client.post("/v1/search", json=body)
        assert answer.status_code == 409
        assert "kura reindex manuals" in answer.json()["detail"]
        assert answer.json()["error"] == "EmbedderMismatch"
        keywords = client.post("/v1/search", json={**body, "mode": "sparse"})
        assert keywords.status_code == 200
        assert keywords.json()


def test_an_upload_into_a_collection_of_another_embedder_is_refused_with_409(
    tmp_path: Path, ollama: OllamaStandin, docs: Path
) -> None:
    """Refused before anything is kept or queued, naming the fix; a collection of the
    configured embedder still takes the same files."""
    first = build_components(ollama_settings(tmp_path, "edge", ollama.url))
    ingest(first, docs)
    first.close()
    served = ollama_settings(tmp_path, "edge", ollama.url, model="nomic-embed-text")
    files = [
        ("files", ("点検手順.txt", "新しい点検手順は来月から適用する。".encode())),
        ("files", ("pump-check.txt", b"Check the pump pressure every Monday.")),
    ]
    with LiveServer(served) as client:
        refused = client.post("/v1/collections/manuals/documents", files=files)
        assert refused.status_code == 409, refused.text
        assert refused.json()["error"] == "EmbedderMismatch"
        assert "kura reindex manuals" in refused.json()["detail"]
        assert not (tmp_path / "data" / "uploads" / "manuals").exists()  # nothing kept
        created = client.post("/v1/collections", json={"name": "fresh"})
        assert created.status_code == 201, created.text
        accepted = client.post("/v1/collections/fresh/documents", files=files)
        assert accepted.status_code == 202, accepted.text
        assert accepted.json()["accepted"] == ["点検手順.txt", "pump-check.txt"]


def test_kura_ingest_handed_to_a_server_of_another_embedder_names_the_fix(
    tmp_path: Path, ollama: OllamaStandin, docs: Path
) -> None:
    """Beside a running server `kura ingest` queues its files to the server's worker: each
    fails with the mismatch and its fix, not with an internal error."""
    first = build_components(ollama_settings(tmp_path, "edge", ollama.url))
    ingest(first, docs)
    first.close()
    (docs / "新しい手順.txt").write_text("新しい点検手順は来月から適用する。", encoding="utf-8")
    (docs / "weekly.txt").write_text("Check the pump pressure every Monday.", encoding="utf-8")
    served = ollama_settings(tmp_path, "edge", ollama.url, model="nomic-embed-text")
    with LiveServer(served):
        ingested = kura(
            ["ingest", str(docs), "-c", "manuals"],
            kura_env(tmp_path, ollama.url, "nomic-embed-text"),
        )
    output = ingested.stdout + ingested.stderr
    assert "queued to its worker" in output  # the hand-over, not a direct run
    assert ingested.returncode != 0, output
    for name in ("新しい手順.txt", "weekly.txt"):
        [line] = [line for line in output.splitlines() if name in line and "failed" in line]
        assert "kura reindex manuals" in line
    assert "internal error" not in output
    assert "Traceback" not in output


def test_the_cli_says_what_is_wrong_and_exits_1(
    tmp_path: Path, ollama: OllamaStandin, docs: Path
) -> None:
    first = build_components(ollama_settings(tmp_path, "edge", ollama.url))
    ingest(first, docs)
    first.close()
    env = kura_env(tmp_path, ollama.url, "nomic-embed-text")
    searched = kura(["search", "点検記録", "-c", "manuals", "--mode", "hybrid"], env)
    assert searched.returncode == 1, searched.stderr
    assert "kura reindex manuals" in searched.stderr
    (docs / "new.txt").write_text("新しい点検手順は来月から適用する。", encoding="utf-8")
    ingested = kura(["ingest", str(docs), "-c", "manuals"], env)
    assert ingested.returncode == 1, ingested.stderr
    assert "kura reindex manuals" in ingested.stderr
    assert "Traceback" not in ingested.stderr
    # a folder sync writes too (the new file) and deletes nothing once refused
    (docs / "pump.txt").unlink()
    synced = kura(["ingest", str(docs), "-c", "manuals", "--sync"], env)
    assert synced.returncode == 1, synced.stderr
    assert "kura reindex manuals" in synced.stderr
    assert "removed" not in synced.stdout + synced.stderr
    found = kura(["search", "coolant pressure", "-c", "manuals", "--mode", "sparse"], env)
    assert "pump.txt" in found.stdout, found.stderr


def test_embedding_requests_go_to_the_configured_host_only(
    tmp_path: Path, ollama: OllamaStandin, docs: Path
) -> None:
    components = build_components(ollama_settings(tmp_path, "edge", ollama.url))
    try:
        ingest(components, docs)
    finally:
        components.close()
    paths = {r["path"] for r in ollama.state.requests}
    assert paths == {"/api/show", "/api/embed"}
    assert httpx.get(f"{ollama.url}/api/tags").json()["models"][1]["name"] == "bge-m3"


# -- the stand-in's /api/embed is Ollama's ------------------------------------------------------


@pytest.mark.parametrize(
    ("version", "too_long"),
    [
        ("0.12.6", "input exceeds maximum context length"),
        ("0.32.15", "the input length exceeds the context length"),
    ],
)
def test_the_standin_answers_embed_as_ollama_does(version: str, too_long: str) -> None:
    state = StandinState.like(version, embedding_models={"bge-m3": 1024}, embedding_context=64)
    with OllamaStandin(state) as server:

        def embed(**body: object) -> httpx.Response:
            return httpx.post(f"{server.url}/api/embed", json={"model": "bge-m3", **body})

        long_text = "点検 " * 100  # 200 tokens (one per kanji); the context: 64, less BOS, EOS
        cut = embed(input=[long_text, "short"])
        assert cut.status_code == 200
        assert cut.json()["prompt_eval_count"] == 62 + 1
        head = embed(input="点検 " * 31).json()  # the 62 tokens the model reads
        assert cut.json()["embeddings"][0] == head["embeddings"][0]
        assert head["prompt_eval_count"] == 62
        refused = embed(input=long_text, truncate=False)
        assert (refused.status_code, refused.json()) == (400, {"error": too_long})
        assert embed(input="").json()["embeddings"] == []
        assert embed(input=[1, 2]).json() == {"error": "invalid input type"}
        missing = embed(model="bge-large")
        assert missing.status_code == 404
        assert missing.json() == {"error": 'model "bge-large" not found, try pulling it first'}
        shown = httpx.post(f"{server.url}/api/show", json={"model": "bge-m3"}).json()
        assert shown["capabilities"] == ["embedding"]
        assert shown["model_info"]["bert.embedding_length"] == 1024
