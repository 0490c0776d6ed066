"""kill -9 at the worst moments: readers still see exactly one whole version of every document,
the next start heals the store, and accepted uploads end indexed or failed across restarts.

The kills land deterministically: KURA_TEST_PAUSE_AT stops the real `kura` process at a named
point (embed, write, retire) and the test kills it there with SIGKILL."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from llama_index.core.base.embeddings.base import BaseEmbedding

from ingest.components import Components, build_components
from ingest.embedding import build_embedder
from ingest.pipeline import Indexer, prepare_document
from tests.support.crash import (
    Seen,
    document,
    inspect,
    kill,
    kill_at,
    kura_env,
    read_once,
    start,
    wait_for,
)
from tests.support.embedder import HashEmbedding
from tests.support.server import free_port, make_settings

pytestmark = pytest.mark.integration

BATCH = "4"  # chunks per write step: several steps per document, so a kill can land between


def reader(data_dir: Path) -> Components:
    """Components that only read (sparse search, lists, counts): no model to load."""
    return build_components(make_settings(data_dir), embedder=HashEmbedding())


def look(data_dir: Path, collection: str, queries: dict[str, str]) -> Seen:
    components = reader(data_dir)
    try:
        return inspect(components, collection, queries)
    finally:
        components.close()  # releases the embedded store for the next kura process


@pytest.fixture(scope="module")
def embedder() -> BaseEmbedding:
    """The packaged model, loaded once for this module's in-process work."""
    return build_embedder(make_settings(Path("/nonexistent")))


def local(data_dir: Path, embedder: BaseEmbedding, **settings: object) -> Components:
    return build_components(make_settings(data_dir, **settings), embedder=embedder)


def expected_chunks(
    folder: Path, embedder: BaseEmbedding, *, absolute: bool = False
) -> dict[str, int]:
    """What a clean run writes for each file (parse and chunk only); the CLI names a document
    by its absolute path, an upload by its file name."""
    components = local(folder.parent / "probe", embedder)
    try:
        options = Indexer(components, "probe").options
        return {
            p.name: len(
                prepare_document(p.read_bytes(), str(p) if absolute else p.name, options).chunks
            )
            for p in sorted(folder.iterdir())
            if not p.name.endswith(".pdf")
        }
    finally:
        components.close()


QUERIES = {
    "manual-en.txt": "pump controller coolant fault code",
    "keiyaku-ja.txt": "保守業務 点検",
    "new-en.txt": "pump controller turbine",
}


def test_kura_ingest_killed_anywhere_leaves_one_whole_version(
    tmp_path: Path, embedder: BaseEmbedding
) -> None:
    data_dir, docs = tmp_path / "data", tmp_path / "docs"
    docs.mkdir()
    (docs / "manual-en.txt").write_text(document("en", 10, 1, "HX"), encoding="utf-8")
    (docs / "keiyaku-ja.txt").write_text(document("ja", 8, 1, "空調"), encoding="utf-8")
    args = ["ingest", str(docs), "-c", "crash"]
    env = kura_env(data_dir, store_batch=BATCH)
    components = local(data_dir, embedder)
    try:
        Indexer(components, "crash").ingest_paths([docs])
    finally:
        components.close()
    before = look(data_dir, "crash", QUERIES)
    assert before.violations == []
    v1 = before.versions["manual-en.txt"]

    # the manual changes (edition 2) and a new document arrives
    (docs / "manual-en.txt").write_text(document("en", 12, 2, "HX"), encoding="utf-8")
    (docs / "new-en.txt").write_text(document("en", 9, 1, "turbine"), encoding="utf-8")
    manual = docs / "manual-en.txt"

    # 1. killed while embedding the new edition: nothing of it written yet
    kill_at(["ingest", str(manual), "-c", "crash"], data_dir, "embed", store_batch=BATCH)
    seen = look(data_dir, "crash", QUERIES)
    assert seen.violations == []
    assert seen.versions["manual-en.txt"] == v1
    assert seen.chunks == before.chunks

    # 2. killed half-way through writing a new document: it is not searchable at all
    new = docs / "new-en.txt"
    kill_at(["ingest", str(new), "-c", "crash"], data_dir, "write", store_batch=BATCH)
    seen = look(data_dir, "crash", QUERIES)
    assert seen.violations == []
    assert "new-en.txt" not in seen.versions
    assert seen.stored > sum(seen.chunks.values())  # its first chunks are stored, hidden

    # 3. killed half-way through writing the replacement: the old edition alone, whole
    kill_at(["ingest", str(manual), "-c", "crash"], data_dir, "write", store_batch=BATCH)
    seen = look(data_dir, "crash", QUERIES)
    assert seen.violations == []
    assert seen.versions["manual-en.txt"] == v1
    assert seen.chunks["manual-en.txt"] == before.chunks["manual-en.txt"]
    assert seen.stored > sum(seen.chunks.values())

    # 4. killed after the switch, before the old edition is deleted: the new one alone
    kill_at(["ingest", str(manual), "-c", "crash"], data_dir, "retire", store_batch=BATCH)
    seen = look(data_dir, "crash", QUERIES)
    assert seen.violations == []
    assert seen.versions["manual-en.txt"] != v1
    counts = expected_chunks(docs, embedder, absolute=True)
    assert seen.chunks["manual-en.txt"] == counts["manual-en.txt"]
    assert seen.stored == sum(seen.chunks.values()) + before.chunks["manual-en.txt"]

    # the next run heals, then finishes the job: the counts of a clean run, nothing left over
    rerun = start(args, env)
    assert rerun.wait(timeout=300) == 0, rerun.stdout.read() if rerun.stdout else ""
    output = rerun.stdout.read() if rerun.stdout else ""
    kill(rerun)
    assert "healed 1 document(s) of crash" in output
    after = look(data_dir, "crash", QUERIES)
    assert after.violations == []
    assert after.chunks == counts
    assert after.stored == sum(counts.values())


def test_kura_serve_killed_during_an_upload_job_finishes_it_after_restart(
    tmp_path: Path, embedder: BaseEmbedding
) -> None:
    data_dir, docs = tmp_path / "data", tmp_path / "docs"
    docs.mkdir()
    files = {
        "1-short-en.txt": document("en", 2, 1, "valve"),  # one write step: done before the kill
        "2-manual-en.txt": document("en", 12, 2, "HX"),  # replaces edition 1; killed mid-way
        "3-keiyaku-ja.txt": document("ja", 6, 1, "空調"),
        "4-broken.pdf": "%PDF-1.4 this is not a PDF",
    }
    for name, text in files.items():
        (docs / name).write_text(text, encoding="utf-8")
    components = local(data_dir, embedder)
    try:  # edition 1 of the manual, indexed before
        old = document("en", 10, 1, "HX").encode()
        Indexer(components, "uploads").ingest_bytes(old, "2-manual-en.txt")
    finally:
        components.close()
    queries = {
        "1-short-en.txt": "valve coolant",
        "2-manual-en.txt": "pump controller HX",
        "3-keiyaku-ja.txt": "保守業務",
    }
    before = look(data_dir, "uploads", queries)
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    serve = ["serve", "--port", str(port)]
    env = kura_env(data_dir, store_batch=BATCH, auth="off")

    server = start(serve, {**env, "KURA_TEST_PAUSE_AT": "write"})
    try:
        wait_for(lambda: _up(url), "kura serve to answer", proc=server)
        upload = [("files", (name, (docs / name).read_bytes())) for name in files]
        response = httpx.post(f"{url}/v1/collections/uploads/documents", files=upload, timeout=60)
        assert response.status_code == 202, response.text
        job_id = response.json()["job_id"]
        assert len(response.json()["accepted"]) == 4
        wait_for((data_dir / "paused-write").exists, "the pause at write", proc=server)
    finally:
        kill(server)

    # before any restart: the old manual whole, the short file indexed, nothing half-there
    seen = look(data_dir, "uploads", queries)
    assert seen.violations == []
    assert seen.versions["2-manual-en.txt"] == before.versions["2-manual-en.txt"]
    assert seen.chunks["2-manual-en.txt"] == before.chunks["2-manual-en.txt"]
    assert "1-short-en.txt" in seen.versions
    assert "3-keiyaku-ja.txt" not in seen.versions

    server = start(serve, env)
    try:
        wait_for(lambda: _up(url), "kura serve to answer again", proc=server)
        job = _finished(url, job_id, server)
        documents = httpx.get(f"{url}/v1/collections/uploads/documents", timeout=30).json()
    finally:
        kill(server)
    statuses = {f["source"]: (f["status"], f["reason"]) for f in job["files"]}
    assert statuses["1-short-en.txt"][0] == "indexed"
    assert statuses["2-manual-en.txt"][0] == "indexed"
    assert statuses["3-keiyaku-ja.txt"][0] == "indexed"
    assert statuses["4-broken.pdf"][0] == "failed"
    assert statuses["4-broken.pdf"][1]
    counts = expected_chunks(docs, embedder)
    listed = {d["source"]: d for d in documents["documents"]}
    for name in ("1-short-en.txt", "2-manual-en.txt", "3-keiyaku-ja.txt"):
        assert listed[name]["status"] == "indexed"
        assert listed[name]["chunks"] == counts[name]
        assert len(listed[name]["versions"]) == 1
    assert listed["4-broken.pdf"]["status"] == "failed"
    after = look(data_dir, "uploads", queries)
    assert after.violations == []
    assert after.chunks == counts
    assert after.stored == sum(counts.values())


def _up(url: str) -> bool:
    try:
        return httpx.get(f"{url}/healthz", timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


def _finished(url: str, job_id: str, server) -> dict:  # type: ignore[no-untyped-def]
    job: dict = {}

    def done() -> bool:
        nonlocal job
        response = httpx.get(f"{url}/v1/jobs/{job_id}", timeout=10)
        assert response.status_code == 200, response.text  # the job survived the kill
        job = response.json()
        return job["status"] == "done"

    wait_for(done, f"job {job_id} to finish", proc=server)
    return job


# -- a reader during a replacement, without any crash (issue 21) ------------------------------


@pytest.fixture(params=["edge", "server"])
def live(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Components]:
    url = None if request.param == "edge" else ":memory:"
    built = build_components(make_settings(tmp_path, qdrant_url=url, store_batch=2))
    yield built
    built.close()


QUERY = "pump controller coolant"


def test_a_reader_never_sees_a_replacement_doubled_or_missing(tmp_path: Path) -> None:
    """A search thread beside a writer thread, as in `kura serve` (the embedded store; the
    qdrant-client in-process stand-in for a server is not thread-safe, a server is)."""
    live = build_components(make_settings(tmp_path, store_batch=2))
    try:
        indexer = Indexer(live, "live")
        editions = [document("en", 6, n, "HX").encode() for n in (1, 2, 3)]
        indexer.ingest_bytes(editions[0], "manual-en.txt")
        written = threading.Event()
        failures: list[BaseException] = []

        def replace() -> None:
            try:
                for data in editions[1:]:
                    indexer.ingest_bytes(data, "manual-en.txt")
            except Exception as exc:  # noqa: BLE001  (surfaced by the assertions below)
                failures.append(exc)
            finally:
                written.set()

        writer = threading.Thread(target=replace)
        writer.start()
        reads, editions_seen, wrong = 0, set(), []
        while not written.is_set() or reads == 0:
            versions, problems = read_once(live, "live", QUERY)
            reads += 1
            editions_seen |= versions
            wrong += problems
        writer.join()
    finally:
        live.close()
    assert failures == []
    assert wrong == []
    assert len(editions_seen) >= 2, (reads, editions_seen)  # the reads did span replacements


def test_every_step_of_a_replacement_shows_one_whole_version(
    live: Components, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Readers look after every single write a replacement makes, in both stores."""
    indexer = Indexer(live, "live")
    indexer.ingest_bytes(document("en", 6, 1, "HX").encode(), "manual-en.txt")
    store = type(live.vector_store("live"))
    looks: list[tuple[set[str], list[str]]] = []

    def then_look(method: str) -> None:
        original = getattr(store, method)

        def wrapped(self, *args, **kwargs):  # type: ignore[no-untyped-def]
            result = original(self, *args, **kwargs)
            looks.append(read_once(live, "live", QUERY))
            return result

        monkeypatch.setattr(store, method, wrapped)

    for method in ("add", "_put_record", "_drop_record", "_erase_versions", "set_payload"):
        if hasattr(store, method):
            then_look(method)
    indexer.ingest_bytes(document("en", 6, 2, "HX").encode(), "manual-en.txt")
    monkeypatch.undo()
    assert [problems for _, problems in looks if problems] == []
    assert len(looks) >= 8  # batches written, the switch, the delete, the record
    assert all(len(versions) == 1 for versions, _ in looks)
    assert looks[0][0] != looks[-1][0]


def test_a_labelled_version_cut_off_before_re_dating_is_re_dated_at_the_next_start(
    tmp_path: Path, embedder: BaseEmbedding, monkeypatch: pytest.MonkeyPatch
) -> None:
    from datetime import date

    from ingest.pipeline import VersionSpec, heal, publish
    from ingest.visibility import DocumentState

    components = local(tmp_path, embedder)
    try:
        indexer = Indexer(components, "labels")
        first = indexer.ingest_bytes(
            document("ja", 3, 1, "空調").encode(),
            "keiyaku-ja.txt",
            VersionSpec("2000", date(2000, 1, 1)),
        )

        def crash(doc_id: str) -> None:
            raise RuntimeError("killed before re-dating")

        monkeypatch.setattr(publish, "redate", lambda catalogue, doc_id: crash(doc_id))
        with pytest.raises(RuntimeError):
            indexer.ingest_bytes(
                document("ja", 3, 2, "空調").encode(),
                "keiyaku-ja.txt",
                VersionSpec("2010", date(2010, 1, 1), first.document_id),
            )
        monkeypatch.undo()
        store = components.vector_store("labels")
        (state,) = store.states()  # what the killed writer left
        store._put_state(DocumentState(state.document_id, (), state.retired, "elsewhere:1:1", 0.0))
        today = date.today()
        in_force = [v for v in indexer.versions(first.document_id) if v.in_force_on(today)]
        assert len(in_force) == 2  # both claim today until someone re-dates them

        assert heal(components) == {"labels": [first.document_id]}
        versions = indexer.versions(first.document_id)
        assert [v.label for v in versions if v.in_force_on(today)] == ["2010"]
        assert [v.label for v in versions if v.in_force_on(date(2005, 1, 1))] == ["2000"]
        assert store.states() == []
    finally:
        components.close()
