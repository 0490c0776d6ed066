"""The store backend chosen once, with the fake embedder: collections created, written, counted,
searched, listed and dropped on both engines in milliseconds (the real model is the integration
tier), and the pieces both stores share."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import qdrant_edge as qe
from llama_index.core.embeddings import MockEmbedding
from llama_index.core.schema import TextNode
from llama_index.core.vector_stores.types import (
    MetadataFilter,
    MetadataFilters,
    VectorStoreQuery,
    VectorStoreQueryMode,
)
from qdrant_client import models

from ingest.components import DEFAULT_MAX_TOKENS, Components, build_components
from ingest.errors import CollectionNotFound
from ingest.schema import chunk_id
from ingest.settings import IndexSettings
from ingest.sparse import encode_queries
from ingest.stores import EmbeddedBackend, ServerBackend, build_backend
from ingest.stores.shared import PAGE, SearchPlan, plan_search, scroll_all, visible_filter
from ingest.visibility import RECORD_FIELD
from tests.support.embedder import DIMENSION, HashEmbedding

pytestmark = pytest.mark.unit

TEXTS = [
    "第1条 保守業務の範囲は、空調装置の点検及び部品交換とする。",
    "第2条 受託者は、点検の結果を書面で委託者に報告しなければならない。",
    "The pump controller logs fault code E-401 when the coolant flow drops.",
]


def settings(tmp_path: Path, url: str | None = None) -> IndexSettings:
    return IndexSettings(_env_file=None, data_dir=tmp_path, qdrant_url=url)  # type: ignore[call-arg]


@pytest.fixture(params=["edge", "memory"])
def components(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Components]:
    url = None if request.param == "edge" else ":memory:"
    built = build_components(settings(tmp_path, url), embedder=HashEmbedding())
    yield built
    built.close()


def nodes(components: Components, document: str = "d1") -> list[TextNode]:
    vectors = components.embedders.default.get_text_embedding_batch(TEXTS)
    return [
        TextNode(
            id_=chunk_id(document, "v1", i),
            text=text,
            metadata={"document_id": document, "document_version": "v1", "chunk_index": i},
            embedding=vector,
        )
        for i, (text, vector) in enumerate(zip(TEXTS, vectors, strict=True))
    ]


def test_the_backend_is_chosen_once_from_settings(tmp_path: Path) -> None:
    embedded = build_backend(settings(tmp_path))
    assert isinstance(embedded, EmbeddedBackend)
    assert embedded.location == tmp_path / "qdrant"
    assert embedded.folder("kura_manuals") == tmp_path / "qdrant" / "kura_manuals"
    server = build_backend(settings(tmp_path, ":memory:"))
    assert isinstance(server, ServerBackend)
    assert server.folder("kura_manuals") is None
    server.close()


def test_a_collection_is_created_written_counted_searched_listed_and_dropped(
    components: Components,
) -> None:
    assert components.collections() == []
    assert not components.collection_exists("manuals")
    store = components.vector_store("manuals", create=True)
    assert components.collection_exists("manuals")
    assert components.collections() == ["manuals"]
    assert "1 collections" in components.ping()
    store.add(list(nodes(components)))
    assert store.count() == 3
    question = "保守業務の点検"
    hybrid = store.query(
        VectorStoreQuery(
            query_embedding=components.embedders.query_embedding(question),
            query_str=question,
            similarity_top_k=2,
            mode=VectorStoreQueryMode.HYBRID,
        )
    )
    assert hybrid.nodes[0].get_content() == TEXTS[0]
    japanese = MetadataFilters(filters=[MetadataFilter(key="chunk_index", value=2)])
    assert store.count(japanese) == 1
    assert components.drop_collection("manuals")
    assert not components.drop_collection("manuals")
    assert components.collections() == []
    assert not components.collection_exists("manuals")
    # dropped and closed: the name can be created again (the embedded shard's lock is free)
    assert components.vector_store("manuals", create=True).count() == 0


def test_only_kura_collections_are_listed(components: Components) -> None:
    components.vector_store("a", create=True)
    foreign = components.backend.create("someone_elses", lambda: DIMENSION)
    foreign.close()
    assert components.collections() == ["a"]


def test_a_store_over_a_missing_collection_is_not_kept(components: Components) -> None:
    reader = components.vector_store("later")
    assert not components.collection_exists("later")
    writer = components.vector_store("later", create=True)
    assert writer is not reader
    assert components.collection_exists("later")
    assert components.vector_store("later") is writer


def test_a_collection_name_is_never_a_path(components: Components) -> None:
    for name in ("../etc", "", "契約書", "a/b"):
        with pytest.raises(CollectionNotFound):
            components.vector_store(name, create=True)


def test_max_tokens_and_dimension_come_from_the_embedder(tmp_path: Path) -> None:
    fake = build_components(settings(tmp_path), embedder=HashEmbedding(max_length=128))
    assert fake.max_tokens == 128
    assert fake.dimension == DIMENSION
    mock = build_components(settings(tmp_path), embedder=MockEmbedding(embed_dim=8))
    assert mock.max_tokens == DEFAULT_MAX_TOKENS  # it states no window
    assert mock.dimension == 8


# -- the fake embedder ---------------------------------------------------------------------


def test_the_fake_embedder_is_deterministic_and_ranks_shared_words_closer() -> None:
    embedder = HashEmbedding()
    first = embedder.get_text_embedding(TEXTS[0])
    assert first == HashEmbedding().get_text_embedding(TEXTS[0])
    assert len(first) == DIMENSION
    assert sum(v * v for v in first) == pytest.approx(1.0)
    query = embedder.get_query_embedding("空調装置の保守")

    def cosine(a: list[float], b: list[float]) -> float:
        return sum(x * y for x, y in zip(a, b, strict=True))

    others = [embedder.get_text_embedding(t) for t in TEXTS[1:]]
    assert all(cosine(query, first) > cosine(query, other) for other in others)
    assert sum(v * v for v in embedder.get_text_embedding("")) == pytest.approx(1.0)


# -- what both stores share ----------------------------------------------------------------


def query(mode: VectorStoreQueryMode, text: str = "保守業務", **extra: object) -> VectorStoreQuery:
    return VectorStoreQuery(
        query_embedding=[0.1, 0.2], query_str=text, similarity_top_k=5, mode=mode, **extra
    )


def test_the_search_plan_of_each_mode() -> None:
    dense = plan_search(query(VectorStoreQueryMode.DEFAULT), None)
    assert dense == SearchPlan(5, dense=[0.1, 0.2])
    sparse = plan_search(query(VectorStoreQueryMode.SPARSE, sparse_top_k=7), encode_queries)
    assert sparse is not None
    assert sparse.dense is None
    assert sparse.limit == 7
    assert sparse.sparse is not None
    assert len(sparse.sparse[0]) == len(sparse.sparse[1]) >= 2  # 保守, 業務
    hybrid = plan_search(query(VectorStoreQueryMode.HYBRID, hybrid_top_k=3), encode_queries)
    assert hybrid is not None
    assert (hybrid.fused, hybrid.limit, hybrid.candidates) == (True, 3, 40)
    assert hybrid.dense == [0.1, 0.2]
    assert hybrid.sparse == sparse.sparse


def test_a_keyword_search_without_terms_searches_nothing_and_hybrid_keeps_the_dense_half() -> None:
    assert plan_search(query(VectorStoreQueryMode.SPARSE, "。、"), encode_queries) is None
    hybrid = plan_search(query(VectorStoreQueryMode.HYBRID, "。、"), encode_queries)
    assert hybrid is not None
    assert hybrid.fused
    assert hybrid.sparse is None


def test_unsupported_searches_are_refused() -> None:
    with pytest.raises(ValueError, match="not supported"):
        plan_search(query(VectorStoreQueryMode.MMR), encode_queries)
    with pytest.raises(ValueError, match="no sparse encoder"):
        plan_search(query(VectorStoreQueryMode.HYBRID), None)


def test_the_visibility_filter_is_the_same_in_both_engines() -> None:
    hidden = [("d1", "v2"), ("d2", "v1")]
    base = models.Filter(must=[models.HasIdCondition(has_id=["x"])])
    server = visible_filter(models, base, hidden)
    assert server.must == [base]
    excluded = server.must_not
    assert isinstance(excluded, list)
    assert excluded[0] == models.FieldCondition(
        key=RECORD_FIELD, match=models.MatchAny(any=["state", "token"])
    )
    assert excluded[1] == models.Filter(
        must=[
            models.FieldCondition(key="document_id", match=models.MatchValue(value="d1")),
            models.FieldCondition(key="document_version", match=models.MatchValue(value="v2")),
        ]
    )
    assert len(excluded) == 3
    assert visible_filter(models, None, []).must is None
    assert isinstance(visible_filter(qe, None, hidden), qe.Filter)


@pytest.mark.parametrize(("limit", "sizes"), [(None, [PAGE, PAGE, PAGE]), (300, [PAGE, 44])])
def test_scrolls_are_read_page_by_page(limit: int | None, sizes: list[int]) -> None:
    points = list(range(2 * PAGE + 88))
    asked: list[int] = []

    def page(offset: int | None, size: int) -> tuple[list[int], int | None]:
        start = offset or 0
        asked.append(size)
        following = start + size if start + size < len(points) else None
        return points[start : start + size], following

    found = scroll_all(page, limit)
    assert asked == sizes
    assert found == points[: limit or len(points)]
