"""The multilingual vector (``multi``) beside the dense model's, with the real models and stores:
meaning across Japanese and English, fused with the others in both stores, and collections made
before it still searched with what they have."""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest
from llama_index.core.vector_stores.types import VectorStoreQuery, VectorStoreQueryMode

from app.relevance import keyword_coverage
from app.retrieve import Retriever
from app.settings import AppSettings
from ingest.components import Components, build_components
from ingest.embedding.multilingual import DIMENSION, build_multilingual_embedder
from ingest.pipeline import Indexer
from ingest.reindex import reindex
from ingest.schema import MULTI_VECTOR
from ingest.sparse import QueryEncoder
from ingest.stores.fusion import LanguageWeights
from ingest.text import detect_language
from tests.support.multilingual_docs import DOCUMENTS, EN_TO_JA, JA_TO_EN, PARAPHRASE
from tests.support.server import make_settings
from tests.support.stores import fake, node, vector

pytestmark = pytest.mark.integration


def build(tmp_path: Path, **settings: object) -> tuple[Components, AppSettings]:
    """Components over the documents above, indexed with the configured models."""
    folder = tmp_path / "documents"
    folder.mkdir(exist_ok=True)
    for name, text in DOCUMENTS.items():
        (folder / name).write_text(text, encoding="utf-8")
    configured = make_settings(tmp_path / "data", **settings)
    components = build_components(configured)
    report = Indexer(components, "mixed").ingest_paths([folder])
    assert report.failed == [], report.failed
    return components, configured


@pytest.fixture(scope="module", params=["edge", "server"])
def indexed(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[Components, Retriever]]:
    """The documents in Qdrant Edge and in qdrant-client's ``:memory:`` server API."""
    url = None if request.param == "edge" else ":memory:"
    components, configured = build(tmp_path_factory.mktemp(request.param), qdrant_url=url)
    yield components, Retriever(components, configured)
    components.close()


def top(retriever: Retriever, question: str, mode: str = "hybrid", k: int = 3) -> list[str]:
    found = retriever.find("mixed", question, k, mode=mode)  # type: ignore[arg-type]
    return [Path(p.source).name for p in found.passages]


def test_the_embedder_ships_in_its_package_and_reads_both_languages() -> None:
    embedder = build_multilingual_embedder(make_settings(Path("unused")))
    assert embedder is not None
    ja, en, other = embedder.get_text_embedding_batch(
        ["在宅勤務は週に何日まで可能ですか", "How many days a week may I work from home?", "冷却水"]
    )
    assert len(ja) == DIMENSION
    dot = lambda a, b: sum(x * y for x, y in zip(a, b, strict=True))  # noqa: E731
    assert dot(ja, ja) == pytest.approx(1.0, abs=1e-4)  # unit length: cosine = dot product
    assert dot(ja, en) > dot(ja, other) + 0.1
    assert build_multilingual_embedder(make_settings(Path("x"), multilingual_model="none")) is None


def test_collections_get_the_multilingual_vector(indexed: tuple[Components, Retriever]) -> None:
    components, retriever = indexed
    assert components.vector_store("mixed").has_multi()
    assert MULTI_VECTOR == "multi"
    # Japanese questions are searched by meaning too now, not by keywords alone.
    assert retriever.effective_mode(PARAPHRASE, "hybrid", "mixed") == "hybrid"
    assert retriever.plan(PARAPHRASE, "hybrid", "mixed") == ("hybrid", False, True)
    assert retriever.plan(EN_TO_JA, "hybrid", "mixed") == ("hybrid", True, True)
    assert retriever.plan(PARAPHRASE, "dense", "mixed") == ("dense", False, True)
    assert retriever.plan(EN_TO_JA, "dense", "mixed") == ("dense", True, False)


def test_a_japanese_paraphrase_finds_its_passage_by_meaning(
    indexed: tuple[Components, Retriever],
) -> None:
    _, retriever = indexed
    assert keyword_coverage(PARAPHRASE, DOCUMENTS["room.txt"]) == 0  # no keyword in common
    assert "room.txt" not in top(retriever, PARAPHRASE, "sparse")
    assert top(retriever, PARAPHRASE, "dense")[0] == "room.txt"
    assert top(retriever, PARAPHRASE, "hybrid")[0] == "room.txt"


def test_an_english_question_finds_a_japanese_passage_and_the_reverse(
    indexed: tuple[Components, Retriever],
) -> None:
    _, retriever = indexed
    assert top(retriever, EN_TO_JA)[0] == "backup.txt"
    assert top(retriever, JA_TO_EN)[0] == "remote.txt"
    # and within the English documents, English questions still find their passage
    assert top(retriever, "How often must the coolant pump be inspected?")[0] == "pump.txt"


def test_english_keywords_and_minilm_do_not_outvote_the_multilingual_vector(
    indexed: tuple[Components, Retriever], monkeypatch: pytest.MonkeyPatch
) -> None:
    """An English question over Japanese text: BM25 finds its English words in the wrong
    Japanese passage, MiniLM (which cannot read Japanese) prefers an English one; fusion by
    language still puts the answer first, where equal weights did not."""
    components, retriever = indexed
    assert top(retriever, EN_TO_JA, "sparse")[0] == "badges.txt"
    assert detect_language(DOCUMENTS[top(retriever, EN_TO_JA, "dense")[0]]) == "en"
    assert top(retriever, EN_TO_JA, k=1) == ["backup.txt"]

    def first(weights: LanguageWeights | None) -> str:
        request = VectorStoreQuery(
            query_embedding=components.embedders.query_embedding(EN_TO_JA),
            query_str=EN_TO_JA,
            similarity_top_k=1,
            hybrid_top_k=1,
            mode=VectorStoreQueryMode.HYBRID,
        )
        multi = components.embedders.multi_query_embedding(EN_TO_JA)
        found = components.vector_store("mixed").query(
            request, multi_embedding=multi, weights=weights
        )
        return Path(found.nodes[0].metadata["source"]).name

    assert first(LanguageWeights.of(EN_TO_JA, "en")) == "backup.txt"  # what find() asked
    # its words in Japanese, a ranking among the Japanese documents, find it even when every
    # ranking counts alike ...
    assert first(None) == "backup.txt"
    # ... without them, BM25 and MiniLM outvote it unless fusion weighs by language
    monkeypatch.setattr(QueryEncoder, "translated", lambda self, text: None)
    assert first(None) == "badges.txt"
    assert first(LanguageWeights.of(EN_TO_JA, "en")) == "backup.txt"


def test_fusion_still_finds_exact_codes_by_keywords(indexed: tuple[Components, Retriever]) -> None:
    _, retriever = indexed
    assert top(retriever, "5,000 hours")[0] == "pump.txt"
    assert top(retriever, "健康保険")[0] == "onboarding.txt"


def test_a_collection_made_before_the_multilingual_vector_still_searches(
    tmp_path: Path,
) -> None:
    old, _ = build(tmp_path, multilingual_model="none")
    assert not old.vector_store("mixed").has_multi()
    old.close()
    components = build_components(make_settings(tmp_path / "data"))  # multilingual on now
    try:
        retriever = Retriever(components, make_settings(tmp_path / "data"))
        assert components.embedders.multilingual is not None
        assert not components.vector_store("mixed").has_multi()
        # as before the vector existed: Japanese by keywords, English by both sides
        assert retriever.effective_mode(JA_TO_EN, "hybrid", "mixed") == "sparse"
        assert top(retriever, "健康保険の手続き")[0] == "onboarding.txt"
        assert top(retriever, "How often must the coolant pump be inspected?")[0] == "pump.txt"
        assert top(retriever, PARAPHRASE, "dense")  # the dense model alone, as asked
        # and documents added later are written without the vector the collection lacks
        extra = tmp_path / "later"
        extra.mkdir()
        (extra / "parking.txt").write_text("駐車場は来客用に三台分を確保しています。")
        assert Indexer(components, "mixed").ingest_paths([extra]).failed == []
        assert top(retriever, "来客用の駐車場")[0] == "parking.txt"
    finally:
        components.close()


def test_turned_off_japanese_is_searched_by_keywords_as_before(tmp_path: Path) -> None:
    components, configured = build(tmp_path, multilingual_model="none")
    try:
        retriever = Retriever(components, configured)
        assert components.embedders.multilingual is None
        assert not components.vector_store("mixed").has_multi()
        assert retriever.effective_mode(PARAPHRASE, "hybrid", "mixed") == "sparse"
        assert retriever.plan(EN_TO_JA, "hybrid", "mixed") == ("hybrid", True, False)
    finally:
        components.close()


def test_request_threads_share_the_model_and_get_the_same_vectors() -> None:
    """Query embeddings come from the API's worker threads: same vectors as one at a time, and
    the process-wide BLAS thread count is never touched (see the embedder's loader)."""
    embedder = build_multilingual_embedder(make_settings(Path("unused")))
    assert embedder is not None
    texts = [*DOCUMENTS.values(), PARAPHRASE, EN_TO_JA, JA_TO_EN] * 3
    alone = [embedder.get_query_embedding(t) for t in texts]
    assert embedder.model._model._threadpool is None  # type: ignore[attr-defined]
    with ThreadPoolExecutor(max_workers=4) as pool:
        together = list(pool.map(embedder.get_query_embedding, texts))
    assert together == alone


def multi_vector(seed: int) -> list[float]:
    """A random unit vector of the multilingual model's dimension."""
    v = np.random.default_rng(seed).standard_normal(DIMENSION)
    return (v / np.linalg.norm(v)).tolist()


@pytest.mark.parametrize("url", [None, ":memory:"])
def test_a_collection_without_the_multilingual_vector_ignores_it(
    tmp_path: Path, url: str | None
) -> None:
    """Collections made before the ``multi`` vector (or with it turned off) take writes and
    searches that carry one: the vector is dropped, the rest is searched."""
    built = fake(tmp_path, qdrant_url=url, multilingual_model="none")
    try:
        store = built.vector_store("old", create=True)
        assert not store.has_multi()
        store.add(
            [node("o", "a", i, page=1, lang="en", seed=i) for i in range(3)],
            multi_embeddings=[multi_vector(i) for i in range(3)],
        )
        assert store.count() == 3
        query = VectorStoreQuery(query_embedding=vector(2), similarity_top_k=1)
        result = store.query(query, multi_embedding=multi_vector(0))
        assert result.nodes[0].metadata["chunk_index"] == 2  # by the dense vector alone
        assert result.similarities[0] == pytest.approx(1.0, abs=1e-4)
    finally:
        built.close()


def test_reindex_gives_an_old_collection_the_multilingual_vector(tmp_path: Path) -> None:
    old, _ = build(tmp_path, multilingual_model="none")
    old.close()
    components = build_components(make_settings(tmp_path / "data"))
    try:
        reindex(components, "mixed")
        assert components.vector_store("mixed").has_multi()
        retriever = Retriever(components, make_settings(tmp_path / "data"))
        assert top(retriever, PARAPHRASE)[0] == "room.txt"  # by meaning, no keyword shared
    finally:
        components.close()
