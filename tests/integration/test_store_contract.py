"""One contract for both vector stores: Qdrant Edge (embedded) and qdrant-client's in-process
mode, which mimics a Qdrant server's API. Whatever kura does to a store is checked here:
``TestStoreContract`` runs against both and calls every method of ``KuraStore``
(ingest/stores/protocol.py); a test below fails when a method of the protocol goes untested."""

from __future__ import annotations

import inspect
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import qdrant_edge as qe
from llama_index.core.schema import TextNode
from llama_index.core.vector_stores.types import (
    FilterCondition,
    FilterOperator,
    MetadataFilter,
    MetadataFilters,
    VectorStoreQuery,
    VectorStoreQueryMode,
)

from ingest.components import Components
from ingest.embedding.multilingual import DIMENSION as MULTI_DIMENSION
from ingest.schema import chunk_id
from ingest.stores import KuraStore
from ingest.stores.fusion import LanguageWeights
from tests.support.stores import fake, node, vector

pytestmark = pytest.mark.integration


@pytest.fixture(params=["edge", "server"])
def components(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Components]:
    built = fake(tmp_path, qdrant_url=None if request.param == "edge" else ":memory:")
    yield built
    built.close()


JA = [
    "第1条 保守業務の範囲は、空調装置の点検及び部品交換とする。",
    "第2条 受託者は、作業の結果を書面で委託者に報告しなければならない。",
]


def ja_node(doc: str, index: int, text: str, *, seed: int) -> TextNode:
    """A chunk of a Japanese contract."""
    n = node(doc, "a", index, page=1, lang="ja", seed=seed)
    n.text = text
    return n


def f(key: str, value, op: FilterOperator = FilterOperator.EQ) -> MetadataFilter:
    return MetadataFilter(key=key, value=value, operator=op)


@pytest.fixture
def store(components: Components):
    store = components.vector_store("contract", create=True)
    nodes = [node("d1", "a", i, page=i + 1, lang="en", seed=i) for i in range(5)]
    nodes += [node("d2", "a", i, page=10 + i, lang="ja", seed=100 + i) for i in range(3)]
    store.add(nodes)
    return store


def seen(store) -> dict[str, set[str]]:
    """Versions of each document that every kind of read shows, checked to agree."""
    query = store.query(VectorStoreQuery(query_embedding=vector(0), similarity_top_k=50))
    by_query = {(n.metadata["document_id"], n.metadata["document_version"]) for n in query.nodes}
    by_scroll = {
        (n.metadata["document_id"], n.metadata["document_version"]) for n in store.get_nodes()
    }
    by_payload = {(p["document_id"], p["document_version"]) for p in store.payloads()}
    assert by_query == by_scroll == by_payload
    assert store.count() == len(store.get_nodes())
    versions: dict[str, set[str]] = {}
    for doc, version in by_scroll:
        versions.setdefault(doc, set()).add(version)
    return versions


def dead_writer(store, doc: str, pending: tuple[str, ...], retired: tuple[str, ...]) -> None:
    """What a process killed mid-way leaves: its record, naming a writer long gone."""
    from ingest.visibility import DocumentState

    store._put_state(DocumentState(doc, pending, retired, "elsewhere:1:1", 0.0))
    store._bump()


class TestStoreContract:
    """Every method of KuraStore, on Qdrant Edge and on the server API (``:memory:``)."""

    def test_collection_lifecycle(self, components: Components) -> None:
        assert not components.collection_exists("fresh")
        components.vector_store("fresh", create=True)
        assert components.collection_exists("fresh")
        assert "1 collections" in components.ping() or "collections" in components.ping()

    def test_query_returns_nearest_with_payload_and_text(self, store) -> None:
        result = store.query(VectorStoreQuery(query_embedding=vector(3), similarity_top_k=3))
        assert result.nodes[0].metadata["chunk_index"] == 3
        assert result.nodes[0].metadata["document_id"] == "d1"
        assert result.nodes[0].get_content() == "d1 va chunk 3 本文"
        assert result.similarities[0] == pytest.approx(1.0, abs=1e-4)
        assert result.similarities == sorted(result.similarities, reverse=True)
        assert len(result.nodes) == 3

    @pytest.mark.parametrize(
        ("filters", "expected"),
        [
            ([f("document_id", "d2")], {("d2", 0), ("d2", 1), ("d2", 2)}),
            ([f("language", "ja", FilterOperator.NE)], {("d1", i) for i in range(5)}),
            (
                [f("page_start", 2, FilterOperator.GTE), f("page_start", 4, FilterOperator.LTE)],
                {("d1", 1), ("d1", 2), ("d1", 3)},
            ),
            (
                [f("chunk_index", [0, 4], FilterOperator.IN), f("document_id", "d1")],
                {("d1", 0), ("d1", 4)},
            ),
            (
                [f("allowed_groups", ["legal"], FilterOperator.IN), f("document_id", "d2")],
                {("d2", 0), ("d2", 1), ("d2", 2)},
            ),
            ([f("allowed_groups", ["sales"], FilterOperator.IN)], set()),
        ],
    )
    def test_filters_apply_inside_the_query(self, store, filters, expected) -> None:
        result = store.query(
            VectorStoreQuery(
                query_embedding=vector(0),
                similarity_top_k=20,
                filters=MetadataFilters(filters=filters),
            )
        )
        found = {(n.metadata["document_id"], n.metadata["chunk_index"]) for n in result.nodes}
        assert found == expected
        assert store.count(MetadataFilters(filters=filters)) == len(expected)

    def test_or_filters(self, store) -> None:
        filters = MetadataFilters(
            filters=[f("chunk_index", 0), f("page_start", 12)], condition=FilterCondition.OR
        )
        found = {
            (n.metadata["document_id"], n.metadata["chunk_index"])
            for n in store.get_nodes(filters=filters)
        }
        assert found == {("d1", 0), ("d2", 0), ("d2", 2)}

    def test_replace_version_then_delete_document(self, store) -> None:
        store.add([node("d1", "b", i, page=1, lang="en", seed=50 + i) for i in range(2)])
        old = MetadataFilters(
            filters=[f("document_id", "d1"), f("document_version", "b", FilterOperator.NE)]
        )
        assert store.count(old) == 5
        store.delete_nodes(filters=old)
        d1 = store.get_nodes(filters=MetadataFilters(filters=[f("document_id", "d1")]))
        assert {n.metadata["document_version"] for n in d1} == {"b"}
        assert len(d1) == 2
        assert store.count() == 5
        store.delete_nodes(filters=MetadataFilters(filters=[f("document_id", "d1")]))
        assert store.count(MetadataFilters(filters=[f("document_id", "d1")])) == 0
        assert store.count() == 3

    def test_upsert_same_ids_does_not_duplicate(self, store) -> None:
        before = store.count()
        store.add([node("d2", "a", i, page=10 + i, lang="ja", seed=100 + i) for i in range(3)])
        assert store.count() == before

    def test_get_nodes_by_id_and_limit(self, store) -> None:
        wanted = [chunk_id("d1", "a", 2), chunk_id("d2", "a", 1)]
        got = store.get_nodes(node_ids=wanted)
        assert sorted(n.node_id for n in got) == sorted(wanted)
        assert len(store.get_nodes(limit=4)) == 4

    def test_keyword_and_hybrid_search_find_japanese_text(self, store) -> None:
        store.add([ja_node("k", 0, JA[0], seed=200), ja_node("k", 1, JA[1], seed=201)])
        for mode in (VectorStoreQueryMode.SPARSE, VectorStoreQueryMode.HYBRID):
            result = store.query(
                VectorStoreQuery(
                    query_embedding=vector(200),
                    query_str="空調装置の点検",
                    similarity_top_k=2,
                    mode=mode,
                    filters=MetadataFilters(filters=[f("document_id", "k")]),
                )
            )
            assert [n.get_content() for n in result.nodes][:1] == [JA[0]], mode
            assert len(result.ids) == len(result.similarities) == len(result.nodes)
        nothing = VectorStoreQuery(
            query_str="。", similarity_top_k=2, mode=VectorStoreQueryMode.SPARSE
        )
        assert store.query(nothing).nodes == []

    def test_delete_nodes_by_id(self, store) -> None:
        store.delete_nodes(node_ids=[chunk_id("d1", "a", 0), chunk_id("d2", "a", 2)])
        assert store.count() == 6
        assert store.get_nodes(node_ids=[chunk_id("d1", "a", 0)]) == []

    def test_payloads_hold_the_asked_fields_and_never_vectors(self, store) -> None:
        every = store.payloads(MetadataFilters(filters=[f("document_id", "d2")]))
        assert len(every) == 3
        assert {"document_id", "chunk_index", "_node_content"} <= set(every[0])
        assert not {"vector", "dense", "sparse", "embedding"} & set(every[0])
        some = store.payloads(fields=["document_id", "language"])
        assert len(some) == 8
        assert {tuple(sorted(p)) for p in some} == {("document_id", "language")}
        assert sorted(p["language"] for p in some).count("ja") == 3

    def test_set_payload_changes_top_level_fields_hidden_chunks_too(self, store) -> None:
        store.begin_version("d2", "b")
        store.add([node("d2", "b", 0, page=1, lang="ja", seed=60)])
        store.set_payload(
            MetadataFilters(filters=[f("document_id", "d2")]), {"allowed_groups": ["経理"]}
        )
        readers = MetadataFilters(filters=[f("allowed_groups", ["経理"], FilterOperator.IN)])
        assert store.count(readers) == 3
        store.commit_version("d2", "b", ["a"])
        assert store.count(readers) == 1  # the hidden chunk of version b was changed too
        (changed,) = store.get_nodes(filters=readers)
        # llama-index's copy of the metadata inside _node_content is not rewritten
        assert changed.metadata["allowed_groups"] == ["legal", "all"]

    def test_keep_alive_refreshes_the_writers_lease(self, store) -> None:
        from ingest.visibility import DocumentState, writer_id

        store.begin_version("d1", "b")
        store._put_state(DocumentState("d1", ("b",), (), writer_id(), 0.0))
        store.keep_alive("d1", "b")
        (state,) = store.states()
        assert (state.pending, state.writer) == (("b",), writer_id())
        assert state.updated_at > 0.0

    def test_switch_then_finish_a_version(self, store) -> None:
        assert not store.switch_version("d2", "a", [])  # nothing hidden, nothing to retire
        assert store.states() == []
        store.begin_version("d1", "b")
        store.add([node("d1", "b", i, page=1, lang="en", seed=70 + i) for i in range(2)])
        assert store.switch_version("d1", "b", ["a"])
        assert seen(store) == {"d1": {"b"}, "d2": {"a"}}
        assert store.count_all() == 10  # version a hidden, not yet deleted
        store.finish_version("d1")
        assert store.count_all() == 5
        assert store.states() == []

    def test_optimize_and_close_leave_a_working_store(self, store) -> None:
        assert isinstance(store.optimize(), bool)
        top = store.query(VectorStoreQuery(query_embedding=vector(102), similarity_top_k=1))
        assert top.nodes[0].metadata["chunk_index"] == 2
        store.close()
        assert store.count() == 8  # reopened on first use (Edge) or the shared client (server)

    # -- whole versions only (ingest/visibility.py) ----------------------------------------

    def test_a_version_is_invisible_until_committed_and_the_old_one_goes_at_once(
        self, store
    ) -> None:
        assert seen(store) == {"d1": {"a"}, "d2": {"a"}}
        store.begin_version("d1", "b")
        store.add([node("d1", "b", i, page=1, lang="en", seed=i) for i in range(3)])
        # written, not committed: readers still see only the old version, by every read
        assert seen(store) == {"d1": {"a"}, "d2": {"a"}}
        assert store.count(MetadataFilters(filters=[f("document_id", "d1")])) == 5
        assert store.count_all() == 11
        store.commit_version("d1", "b", ["a"])
        assert seen(store) == {"d1": {"b"}, "d2": {"a"}}
        assert store.count_all() == 6  # the old version deleted, the record gone
        assert store.states() == []

    def test_a_new_document_half_written_is_invisible(self, store) -> None:
        store.begin_version("d3", "a")
        store.add([node("d3", "a", 0, page=1, lang="ja", seed=7)])
        assert "d3" not in seen(store)
        assert store.get_nodes(node_ids=[chunk_id("d3", "a", 0)]) == []
        store.commit_version("d3", "a", [])
        assert seen(store)["d3"] == {"a"}
        assert len(store.get_nodes(node_ids=[chunk_id("d3", "a", 0)])) == 1

    def test_after_a_crash_readers_see_one_whole_version_and_the_next_start_heals(
        self, store
    ) -> None:
        # killed while writing d1's new version b
        store.begin_version("d1", "b")
        store.add([node("d1", "b", i, page=1, lang="en", seed=i) for i in range(2)])
        dead_writer(store, "d1", ("b",), ())
        # killed after switching d2 to version b, before deleting version a
        store.add([node("d2", "b", i, page=1, lang="ja", seed=30 + i) for i in range(4)])
        dead_writer(store, "d2", (), ("a",))
        assert seen(store) == {"d1": {"a"}, "d2": {"b"}}
        assert store.count_all() == 5 + 2 + 3 + 4
        assert sorted(store.heal()) == ["d1", "d2"]
        assert seen(store) == {"d1": {"a"}, "d2": {"b"}}
        assert store.count_all() == 5 + 4
        assert store.states() == []

    def test_healing_leaves_a_running_writer_alone(self, store) -> None:
        store.begin_version("d1", "b")  # this process: alive
        assert store.heal() == []
        assert [s.document_id for s in store.states()] == ["d1"]
        store.abort_version("d1")
        assert store.states() == []
        assert seen(store) == {"d1": {"a"}, "d2": {"a"}}

    def test_a_read_that_a_writer_overtakes_is_run_again(self, store) -> None:
        store.begin_version("d1", "b")
        store.add([node("d1", "b", i, page=1, lang="en", seed=i) for i in range(2)])
        runs = []

        def read(hidden):
            runs.append(list(hidden))
            if len(runs) == 1:
                # the writer switches and deletes while this read is under way
                store.commit_version("d1", "b", ["a"])
            return hidden

        assert store.visible_read(read) == []
        assert runs == [[("d1", "b")], []]

    def test_the_multilingual_vector_alone_fused_and_in_hybrid(self, components) -> None:
        store = components.vector_store("multi", create=True)
        assert store.has_multi()
        store.add(
            [node("m", "a", i, page=1, lang="ja", seed=i) for i in range(4)],
            multi_embeddings=[multi_vector(50 + i) for i in range(4)],
        )

        def ranked(query: VectorStoreQuery, **kwargs) -> list[int]:
            return [n.metadata["chunk_index"] for n in store.query(query, **kwargs).nodes]

        alone = VectorStoreQuery(query_embedding=None, similarity_top_k=2)
        result = store.query(alone, multi_embedding=multi_vector(52))
        assert result.nodes[0].metadata["chunk_index"] == 2
        assert result.similarities[0] == pytest.approx(1.0, abs=1e-4)  # a cosine, not fused
        dense = VectorStoreQuery(query_embedding=vector(1), similarity_top_k=1)
        assert ranked(dense) == [1]
        # each vector names its own nearest chunk: fused, both lead
        fused = VectorStoreQuery(query_embedding=vector(0), similarity_top_k=2)
        assert sorted(ranked(fused, multi_embedding=multi_vector(53))) == [0, 3]
        hybrid = VectorStoreQuery(
            query_embedding=None,
            query_str="m va chunk 本文",
            similarity_top_k=4,
            mode=VectorStoreQueryMode.HYBRID,
        )
        assert ranked(hybrid, multi_embedding=multi_vector(51))[0] == 1
        with pytest.raises(ValueError, match="needs a query embedding"):
            store.query(VectorStoreQuery(query_embedding=None, similarity_top_k=1))

    def test_fusion_weighs_each_ranking_by_the_passages_language(self, components) -> None:
        """The dense model (reading English) points at a Japanese chunk, the multilingual
        vector at another: by language, the multilingual vector decides, the same on both
        stores; counted alike, the dense model's noise wins."""
        store = components.vector_store("weights", create=True)
        langs = ["ja", "ja", "en"]
        store.add(
            [node("w", "a", i, page=1, lang=lang, seed=i) for i, lang in enumerate(langs)],
            multi_embeddings=[multi_vector(50 + i) for i in range(3)],
        )
        near_1 = np.array(multi_vector(51)) + 0.6 * np.array(multi_vector(50))  # then 0
        query = VectorStoreQuery(query_embedding=vector(0), similarity_top_k=3)
        multi = (near_1 / np.linalg.norm(near_1)).tolist()

        def ranked(weights: LanguageWeights | None) -> tuple[list[int], list[float]]:
            found = store.query(query, multi_embedding=multi, weights=weights)
            return [n.metadata["chunk_index"] for n in found.nodes], found.similarities

        english = LanguageWeights.of("Which chunk answers this English question?", "en")
        order, scores = ranked(english)
        assert order == [1, 0, 2]
        assert scores == sorted(scores, reverse=True)
        assert scores[0] > scores[1] + 0.1
        assert ranked(None)[0][0] == 0
        # a multilingual dense model reads Japanese: its ranking counts there again
        assert ranked(LanguageWeights.of("Which chunk?", "*"))[0][0] == 0

    @pytest.mark.parametrize(
        ("quoted", "question", "asked_in_its_language"),
        [
            (
                "Edit the configuration file, then restart the service.",
                "設定ファイルの編集",
                "edit the configuration file",
            ),
            (
                "設定ファイルを編集してから、サービスを再起動します。",
                "edit the settings file",
                "設定ファイルの編集",
            ),
        ],
    )
    def test_translated_keywords_search_documents_in_their_language_only(
        self, components, quoted: str, question: str, asked_in_its_language: str
    ) -> None:
        """A question's words in the other language (設定 -> configuration, ...; settings ->
        設定) are searched among documents in that language only: the same sentence quoted
        in a document of the question's language gains nothing from them, on both stores."""
        store = components.vector_store("translated", create=True)
        language = "ja" if question.isascii() else "en"  # the quoted sentence's
        chunks = []
        for doc in ("ja", "en"):
            chunk = node(doc, "a", 0, page=1, lang=language, seed=1)
            chunk.text = quoted
            chunk.metadata["document_language"] = doc
            chunks.append(chunk)
        store.add(chunks, multi_embeddings=[multi_vector(1), multi_vector(1)])

        def found(text: str) -> tuple[list[str], list[float]]:
            query = VectorStoreQuery(
                query_embedding=vector(1),
                query_str=text,
                similarity_top_k=2,
                mode=VectorStoreQueryMode.HYBRID,
            )
            weights = LanguageWeights.of(text, "en")
            result = store.query(query, multi_embedding=multi_vector(1), weights=weights)
            return [n.metadata["document_id"] for n in result.nodes], result.similarities

        order, scores = found(question)
        assert order[0] == language  # the document in the quoted sentence's language
        assert scores[0] > scores[1] + 0.1
        # asked in the sentence's own language, its own keywords (and meaning) tie them
        tied = found(asked_in_its_language)[1]
        assert tied[0] == pytest.approx(tied[1])

    def test_records_never_show_in_reads(self, store) -> None:
        dead_writer(store, "d9", ("x",), ())
        assert store.count() == 8
        assert len(store.get_nodes()) == 8
        assert all("kura_record" not in p for p in store.payloads())
        assert store.count(MetadataFilters(filters=[f("document_id", "d9")])) == 0


# -- the contract itself -------------------------------------------------------------------


def test_the_contract_calls_every_method_of_the_protocol() -> None:
    methods = {name for name in vars(KuraStore) if not name.startswith("_")}
    source = inspect.getsource(TestStoreContract) + inspect.getsource(seen)
    assert sorted(m for m in methods if f".{m}(" not in source) == []


def multi_vector(seed: int) -> list[float]:
    """A random unit vector of the multilingual model's dimension."""
    v = np.random.default_rng(seed).standard_normal(MULTI_DIMENSION)
    return (v / np.linalg.norm(v)).tolist()


def test_an_embedded_collection_made_before_document_language_gets_its_index(
    tmp_path: Path,
) -> None:
    """Chunks ingested into an older collection carry ``document_language``, and the translated
    keywords filter on it: opening the store makes its index, as a new collection has."""
    made = fake(tmp_path)
    store = made.vector_store("older", create=True)
    store.add([node("d", "a", 0, page=1, lang="en", seed=1)])
    store.client.update(qe.UpdateOperation.delete_field_index("document_language"))
    assert "document_language" not in store.client.info().payload_schema  # as made before
    made.close()
    opened = fake(tmp_path)
    try:
        schema = opened.vector_store("older").client.info().payload_schema
        assert "document_language" in schema
    finally:
        opened.close()


def test_both_stores_write_the_same_payload(tmp_path: Path) -> None:
    """A collection reads the same through either store (see ingest/stores/edge.py)."""
    payloads = []
    for url in (None, ":memory:"):
        built = fake(tmp_path / str(url), qdrant_url=url)
        try:
            store = built.vector_store("same", create=True)
            store.add([ja_node("k", 0, JA[0], seed=1)])
            payloads.append(store.payloads())
        finally:
            built.close()
    assert payloads[0] == payloads[1]
    assert JA[0] in payloads[0][0]["_node_content"]
