"""One contract for both vector stores: Qdrant Edge (embedded) and qdrant-client's in-process
mode, which mimics a Qdrant server's API. Whatever kura does to a store is checked here."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from llama_index.core.schema import NodeRelationship, RelatedNodeInfo, TextNode
from llama_index.core.vector_stores.types import (
    FilterCondition,
    FilterOperator,
    MetadataFilter,
    MetadataFilters,
    VectorStoreQuery,
)

from ingest.components import Components, build_components
from ingest.schema import chunk_id
from tests.conftest import make_settings

pytestmark = pytest.mark.integration

DIM = 384


@pytest.fixture(params=["edge", "server"])
def components(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Components]:
    url = None if request.param == "edge" else ":memory:"
    built = build_components(make_settings(tmp_path, qdrant_url=url))
    built.__dict__["dimension"] = DIM  # skip the model probe; vectors here are synthetic
    yield built
    built.close()


def vector(seed: int) -> list[float]:
    v = np.random.default_rng(seed).standard_normal(DIM)
    return (v / np.linalg.norm(v)).tolist()


def node(doc: str, version: str, index: int, *, page: int, lang: str, seed: int) -> TextNode:
    n = TextNode(
        id_=chunk_id(doc, version, index),
        text=f"{doc} v{version} chunk {index} 本文",
        metadata={
            "document_id": doc,
            "document_version": version,
            "chunk_index": index,
            "page_start": page,
            "language": lang,
            "allowed_groups": ["legal", "all"],
        },
        embedding=vector(seed),
    )
    n.relationships[NodeRelationship.SOURCE] = RelatedNodeInfo(node_id=doc)
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


def test_collection_lifecycle(components: Components) -> None:
    assert not components.collection_exists("fresh")
    components.vector_store("fresh", create=True)
    assert components.collection_exists("fresh")
    assert "1 collections" in components.ping() or "collections" in components.ping()


def test_query_returns_nearest_with_payload_and_text(store) -> None:
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
def test_filters_apply_inside_the_query(store, filters, expected) -> None:
    result = store.query(
        VectorStoreQuery(
            query_embedding=vector(0), similarity_top_k=20, filters=MetadataFilters(filters=filters)
        )
    )
    found = {(n.metadata["document_id"], n.metadata["chunk_index"]) for n in result.nodes}
    assert found == expected
    assert store.count(MetadataFilters(filters=filters)) == len(expected)


def test_or_filters(store) -> None:
    filters = MetadataFilters(
        filters=[f("chunk_index", 0), f("page_start", 12)], condition=FilterCondition.OR
    )
    found = {
        (n.metadata["document_id"], n.metadata["chunk_index"])
        for n in store.get_nodes(filters=filters)
    }
    assert found == {("d1", 0), ("d2", 0), ("d2", 2)}


def test_replace_version_then_delete_document(store) -> None:
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


def test_upsert_same_ids_does_not_duplicate(store) -> None:
    before = store.count()
    store.add([node("d2", "a", i, page=10 + i, lang="ja", seed=100 + i) for i in range(3)])
    assert store.count() == before


def test_get_nodes_by_id_and_limit(store) -> None:
    wanted = [chunk_id("d1", "a", 2), chunk_id("d2", "a", 1)]
    got = store.get_nodes(node_ids=wanted)
    assert sorted(n.node_id for n in got) == sorted(wanted)
    assert len(store.get_nodes(limit=4)) == 4


def test_embedded_store_survives_reopen(tmp_path: Path) -> None:
    settings = make_settings(tmp_path)
    first = build_components(settings)
    first.__dict__["dimension"] = DIM
    first.vector_store("persist", create=True).add(
        [node("d", "a", i, page=1, lang="en", seed=i) for i in range(10)]
    )
    first.close()
    second = build_components(settings)
    try:
        assert second.collection_exists("persist")
        store = second.vector_store("persist")
        assert store.count() == 10
        top = store.query(VectorStoreQuery(query_embedding=vector(7), similarity_top_k=1))
        assert top.nodes[0].metadata["chunk_index"] == 7
    finally:
        second.close()


def test_embedded_store_refuses_a_second_process_clearly(tmp_path: Path) -> None:
    import subprocess
    import sys

    settings = make_settings(tmp_path)
    holder = build_components(settings)
    holder.__dict__["dimension"] = DIM
    holder.vector_store("locked", create=True).add([node("d", "a", 0, page=1, lang="en", seed=1)])
    try:
        code = (
            "from tests.conftest import make_settings\n"
            "from ingest.components import build_components\n"
            f"c = build_components(make_settings(__import__('pathlib').Path({str(tmp_path)!r})))\n"
            "c.vector_store('locked').count()"
        )
        result = subprocess.run(
            [sys.executable, "-c", code],
            capture_output=True,
            text=True,
            timeout=120,
            cwd=Path(__file__).parents[2],
        )
        assert result.returncode != 0
        assert "in use by another kura process" in result.stderr
    finally:
        holder.close()


# -- whole versions only (ingest/visibility.py) ----------------------------------------------


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


def test_a_version_is_invisible_until_committed_and_the_old_one_goes_at_once(store) -> None:
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


def test_a_new_document_half_written_is_invisible(store) -> None:
    store.begin_version("d3", "a")
    store.add([node("d3", "a", 0, page=1, lang="ja", seed=7)])
    assert "d3" not in seen(store)
    assert store.get_nodes(node_ids=[chunk_id("d3", "a", 0)]) == []
    store.commit_version("d3", "a", [])
    assert seen(store)["d3"] == {"a"}
    assert len(store.get_nodes(node_ids=[chunk_id("d3", "a", 0)])) == 1


def dead_writer(store, doc: str, pending: tuple[str, ...], retired: tuple[str, ...]) -> None:
    """What a process killed mid-way leaves: its record, naming a writer long gone."""
    from ingest.visibility import DocumentState

    store._put_state(DocumentState(doc, pending, retired, "elsewhere:1:1", 0.0))
    store._bump()


def test_after_a_crash_readers_see_one_whole_version_and_the_next_start_heals(store) -> None:
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


def test_healing_leaves_a_running_writer_alone(store) -> None:
    store.begin_version("d1", "b")  # this process: alive
    assert store.heal() == []
    assert [s.document_id for s in store.states()] == ["d1"]
    store.abort_version("d1")
    assert store.states() == []
    assert seen(store) == {"d1": {"a"}, "d2": {"a"}}


def test_a_read_that_a_writer_overtakes_is_run_again(store) -> None:
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


def test_records_never_show_in_reads(store) -> None:
    dead_writer(store, "d9", ("x",), ())
    assert store.count() == 8
    assert len(store.get_nodes()) == 8
    assert all("kura_record" not in p for p in store.payloads())
    assert store.count(MetadataFilters(filters=[f("document_id", "d9")])) == 0
