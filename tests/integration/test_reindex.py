"""`kura reindex` on both stores, with the Ollama stand-in over HTTP: a collection made by one
embedder is rebuilt with another into a new Qdrant collection and swapped in when whole; search
answers from the old copy until then; a stopped rebuild leaves the old copy serving."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from app.retrieve import retrieve_hits
from app.settings import AppSettings
from ingest.components import Components, build_components
from ingest.errors import EmbedderMismatch
from ingest.pipeline import Indexer
from ingest.reindex import reindex
from tests.support import ollama_collections
from tests.support.embedder import HashEmbedding
from tests.support.ollama_collections import DOCS, kura, kura_env, ollama_settings, share
from tests.support.ollama_standin import OllamaStandin
from tests.support.server import make_settings

pytestmark = pytest.mark.integration

ollama = ollama_collections.ollama
docs = ollama_collections.docs
store = ollama_collections.store


def settings(tmp_path: Path, store: str, host: str, model: str, **extra: object) -> AppSettings:
    """Ollama embedding settings that write two points at a time (a copy of several steps)."""
    return ollama_settings(tmp_path, store, host, model, store_batch=2, **extra)


def top(components: Components, question: str, mode: str = "dense") -> str:
    hits = retrieve_hits(components, "manuals", question, 1, mode=mode)  # type: ignore[arg-type]
    return Path(hits[0].payload.source).name


def fields(components: Components) -> dict[tuple[str, int], dict[str, object]]:
    """Every chunk's top-level payload fields but llama-index's serialised node."""
    return {
        (p["document_id"], p["chunk_index"]): {k: v for k, v in p.items() if k != "_node_content"}
        for p in components.vector_store("manuals").payloads()
    }


def made_with_bge(tmp_path: Path, store: str, ollama: OllamaStandin, docs: Path) -> Components:
    """The collection "manuals" embedded by bge-m3, with a document's readers changed after
    writing (a top-level field the copy must keep)."""
    components = build_components(settings(tmp_path, store, ollama.url, "bge-m3"))
    report = Indexer(components, "manuals", groups=("legal",)).ingest_paths([docs])
    assert report.chunks == len(DOCS)
    return components


def test_reindex_rebuilds_with_the_new_embedder_and_swaps(
    tmp_path: Path, ollama: OllamaStandin, docs: Path, store: str
) -> None:
    old = made_with_bge(tmp_path, store, ollama, docs)
    before = fields(old)
    ids = {n.node_id for n in old.vector_store("manuals").get_nodes()}
    if store == "edge":
        old.close()
    new = build_components(settings(tmp_path, store, ollama.url, "nomic-embed-text"))
    if store == "server":
        share(new, old)
    try:
        with pytest.raises(EmbedderMismatch):
            top(new, "点検記録の保存")
        report = reindex(new, "manuals")
        assert (report.replaced, report.serving) == ("kura_manuals", "kura_manuals__1")
        assert (report.documents, report.chunks) == (len(DOCS), len(DOCS))
        assert top(new, "点検記録の保存") == "hoshu.txt"
        assert top(new, "fault E-417 coolant", "hybrid") == "pump.txt"
        assert top(new, "委託者に報告", "sparse") == "keiyaku.txt"
        name = new.qdrant_name("manuals")
        assert new.backend.identity(name) == {
            "backend": "ollama",
            "model": "nomic-embed-text",
            "dimension": 768,
        }
        assert new.backend.dimension(name) == 768
        assert new.collections() == ["manuals"]  # the copy serves under the collection's name
        # the same chunks under the same ids, every field kept (readers, versions, text)
        assert fields(new) == before
        assert {n.node_id for n in new.vector_store("manuals").get_nodes()} == ids
        assert {p["allowed_groups"][0] for p in before.values()} == {"legal"}
        # again: the next generation, the previous one dropped
        assert reindex(new, "manuals").serving == "kura_manuals__2"
        assert new.backend.physical(name) == "kura_manuals__2"
        assert not new.backend.exists("kura_manuals__1")
        assert new.collections() == ["manuals"]
        assert top(new, "点検記録の保存") == "hoshu.txt"
        # dropping the collection drops the copy that serves it
        assert new.drop_collection("manuals")
        assert new.collections() == []
        assert not new.backend.exists("kura_manuals__2")
    finally:
        new.close()
        if store == "server":
            old.close()


def test_a_collection_made_by_the_local_model_moves_to_ollama(
    tmp_path: Path, ollama: OllamaStandin, docs: Path, store: str
) -> None:
    base = make_settings(tmp_path / "data", qdrant_url=None if store == "edge" else ":memory:")
    local = build_components(base, embedder=HashEmbedding())
    Indexer(local, "manuals").ingest_paths([docs])
    if store == "edge":
        local.close()
    moved = build_components(settings(tmp_path, store, ollama.url, "bge-m3"))
    if store == "server":
        share(moved, local)
    try:
        reindex(moved, "manuals")
        assert top(moved, "点検記録の保存") == "hoshu.txt"
        assert moved.backend.dimension(moved.qdrant_name("manuals")) == 1024
    finally:
        moved.close()
        if store == "server":
            local.close()


def test_search_answers_from_the_old_copy_while_the_new_one_is_built(
    tmp_path: Path, ollama: OllamaStandin, docs: Path
) -> None:
    """kura serve keeps the old embedder's settings and answers (hybrid) from the old copy
    while `kura reindex` (another process, the new embedder) builds the new one; after the
    swap the server refuses, by name, until it is restarted with the new settings. Never a
    wrong result, never a missing collection. (A Qdrant server: two processes share it.)"""
    serving = made_with_bge(tmp_path, "server", ollama, docs)
    # behind an alias already (a collection made before aliases is converted by its first
    # reindex, when the name stops being a collection of its own: see the README)
    assert reindex(serving, "manuals").serving == "kura_manuals__1"
    rebuilding = share(
        build_components(settings(tmp_path, "server", ollama.url, "nomic-embed-text")), serving
    )
    during: list[str] = []
    stop = threading.Event()
    seen: list[str] = []
    errors: list[BaseException] = []

    def keep_searching() -> None:
        while not stop.is_set():
            try:
                seen.append(top(serving, "点検記録の保存", "hybrid"))
            except EmbedderMismatch:
                seen.append("mismatch")
            except Exception as exc:  # noqa: BLE001  (any other failure is a dark moment)
                errors.append(exc)
                return

    searcher = threading.Thread(target=keep_searching)
    searcher.start()
    try:
        reindex(
            rebuilding,
            "manuals",
            on_version=lambda done, total: during.append(top(serving, "点検記録の保存", "hybrid")),
        )
    finally:
        stop.set()
        searcher.join()
    try:
        assert errors == []
        assert during == ["hoshu.txt"] * len(DOCS)  # every step of the copy: the old answers
        assert seen
        assert set(seen) <= {"hoshu.txt", "mismatch"}
        first_refusal = seen.index("mismatch") if "mismatch" in seen else len(seen)
        assert set(seen[first_refusal:]) <= {"mismatch"}  # once swapped, never the old again
        with pytest.raises(EmbedderMismatch, match="kura reindex manuals"):
            top(serving, "点検記録の保存")
        assert top(rebuilding, "点検記録の保存") == "hoshu.txt"
    finally:
        rebuilding.close()


def test_on_edge_search_in_the_same_process_never_goes_dark(
    tmp_path: Path, ollama: OllamaStandin, docs: Path
) -> None:
    """On Edge one process holds the shards: keyword search answers all through the rebuild,
    search by meaning is refused until the swap, then answers."""
    made_with_bge(tmp_path, "edge", ollama, docs).close()
    components = build_components(settings(tmp_path, "edge", ollama.url, "nomic-embed-text"))
    during: list[tuple[str, str]] = []

    def search(done: int, total: int) -> None:
        try:
            dense = top(components, "点検記録の保存")
        except EmbedderMismatch:
            dense = "mismatch"
        during.append((top(components, "点検記録", "sparse"), dense))

    try:
        reindex(components, "manuals", on_version=search)
        assert during == [("hoshu.txt", "mismatch")] * len(DOCS)
        assert top(components, "点検記録の保存") == "hoshu.txt"
    finally:
        components.close()


class Stopped(Exception):
    """The reindex stopped mid-way (a kill, an outage)."""


def test_a_stopped_reindex_leaves_the_old_copy_serving_and_a_rerun_finishes(
    tmp_path: Path, ollama: OllamaStandin, docs: Path, store: str
) -> None:
    old = made_with_bge(tmp_path, store, ollama, docs)
    if store == "edge":
        old.close()
    new = build_components(settings(tmp_path, store, ollama.url, "nomic-embed-text"))
    if store == "server":
        share(new, old)

    def stop(done: int, total: int) -> None:
        if done == 2:
            raise Stopped

    try:
        with pytest.raises(Stopped):
            reindex(new, "manuals", on_version=stop)
        name = new.qdrant_name("manuals")
        assert new.backend.physical(name) == name
        assert new.backend.identity(name)["model"] == "bge-m3"  # type: ignore[index]
        assert not new.backend.exists("kura_manuals__1")
        assert top(new, "点検記録", "sparse") == "hoshu.txt"
        # a kill leaves the unfinished copy behind: unseen, and dropped by the next run
        leftover = new.backend.create("kura_manuals__1", lambda: 8)
        leftover.close()
        assert new.collections() == ["manuals"]
        report = reindex(new, "manuals")
        assert report.serving == "kura_manuals__1"
        assert report.chunks == len(DOCS)
        assert new.backend.dimension(name) == 768
        assert top(new, "点検記録の保存") == "hoshu.txt"
    finally:
        new.close()
        if store == "server":
            old.close()


def test_kura_reindex_command(tmp_path: Path, ollama: OllamaStandin, docs: Path) -> None:
    made_with_bge(tmp_path, "edge", ollama, docs).close()
    env = kura_env(tmp_path, ollama.url, "nomic-embed-text")
    done = kura(["reindex", "manuals"], env)
    assert done.returncode == 0, done.stderr
    assert "4 chunks of 4 document versions" in done.stderr
    assert "ollama nomic-embed-text (768 dimensions)" in done.stderr
    assert "kura_manuals__1" in done.stderr
    found = kura(["search", "点検記録の保存", "-c", "manuals", "--mode", "dense", "--json"], env)
    assert found.returncode == 0, found.stderr
    assert "hoshu.txt" in found.stdout
    missing = kura(["reindex", "nothing"], env)
    assert missing.returncode == 1
    assert "'nothing' does not exist" in missing.stderr


def test_a_backup_after_a_reindex_restores_the_collection_by_its_name(
    tmp_path: Path, ollama: OllamaStandin, docs: Path
) -> None:
    from ingest.backup import backup, restore

    made_with_bge(tmp_path, "edge", ollama, docs).close()
    moved = settings(tmp_path, "edge", ollama.url, "nomic-embed-text")
    components = build_components(moved)
    try:
        reindex(components, "manuals")
    finally:
        components.close()
    archive = tmp_path / "backup.tar.gz"
    assert backup(moved, archive)
    restored = moved.model_copy(update={"data_dir": tmp_path / "restored"})
    restore(restored, archive)
    components = build_components(restored)
    try:
        assert components.collections() == ["manuals"]
        name = components.qdrant_name("manuals")
        assert components.backend.physical(name) == name
        assert components.backend.identity(name)["model"] == "nomic-embed-text"  # type: ignore[index]
        assert top(components, "点検記録の保存") == "hoshu.txt"
    finally:
        components.close()
