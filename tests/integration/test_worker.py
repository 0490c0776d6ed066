"""`kura worker` and the shared queue, with real processes: a worker killed mid-file leaves the
file to the next one, never half-indexed nor doubled; a worker beside `kura serve` on the
embedded store refuses; `kura ingest` beside `kura serve` hands its files to the server."""

from __future__ import annotations

import signal
import sqlite3
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
from llama_index.core.base.embeddings.base import BaseEmbedding
from qdrant_client import QdrantClient

from app.job_store import Job, JobFile, JobStore, Upload
from app.worker import Worker
from ingest.components import build_components
from ingest.embedding import build_embedder
from ingest.pipeline import Indexer, prepare_document
from ingest.schema import ensure_collection
from tests.support.crash import document, inspect, kill, kura_env, start, wait_for
from tests.support.embedder import HashEmbedding
from tests.support.qdrant_standin import QdrantStandin
from tests.support.server import free_port, make_settings
from tests.support.stores import fake
from tests.support.workers import WorkerProcess, job_of, queue_job

pytestmark = pytest.mark.integration

BATCH = "4"  # chunks per write step: several steps per document, so a kill lands between


@pytest.fixture(scope="module")
def embedder() -> BaseEmbedding:
    """The packaged model, loaded once for this module's expected counts."""
    return build_embedder(make_settings(Path("/nonexistent")))


def expected(files: dict[str, Path], embedder: BaseEmbedding, tmp: Path) -> dict[str, int]:
    """What a clean run writes for each document (parse and chunk only), by source name."""
    components = build_components(make_settings(tmp), embedder=embedder)
    try:
        options = Indexer(components, "probe").options
        return {
            name: len(prepare_document(path.read_bytes(), name, options).chunks)
            for name, path in files.items()
        }
    finally:
        components.close()


def seen(data_dir: Path, collection: str, queries: dict[str, str], **settings: object):  # type: ignore[no-untyped-def]
    components = build_components(make_settings(data_dir, **settings), embedder=HashEmbedding())
    try:
        return inspect(components, collection, queries)
    finally:
        components.close()  # releases the embedded store for the next kura process


def test_a_worker_killed_mid_file_leaves_it_to_the_next_worker_whole_and_once(
    tmp_path: Path, embedder: BaseEmbedding
) -> None:
    data_dir, docs = tmp_path / "data", tmp_path / "docs"
    docs.mkdir()
    files = {
        "1-取扱説明書-en.txt": document("en", 12, 1, "HX"),  # killed half-way through writing
        "2-契約書.txt": document("ja", 6, 1, "空調"),
    }
    paths = {}
    for name, text in files.items():
        paths[name] = docs / name
        paths[name].write_text(text, encoding="utf-8")
    with JobStore(data_dir / "kura.db") as store:  # an upload, as the API records it
        job = Job(
            id="job-1",
            collection="uploads",
            user="tanaka",
            files=[JobFile(source=n) for n in files],
        )
        store.create(job, [Upload(n, p) for n, p in paths.items()])
    queries = {"1-取扱説明書-en.txt": "pump controller HX", "2-契約書.txt": "保守業務"}
    env = kura_env(data_dir, store_batch=BATCH, worker_lease="3", worker_poll="0.2")

    first = start(["worker"], {**env, "KURA_TEST_PAUSE_AT": "write"})
    try:
        wait_for((data_dir / "paused-write").exists, "the pause at write", proc=first)
    finally:
        kill(first)
    (data_dir / "paused-write").unlink()
    cut = seen(data_dir, "uploads", queries)
    assert cut.violations == []
    assert cut.versions == {}  # the half-written document is invisible
    assert cut.stored > 0  # though its first chunks are stored
    assert job_of(data_dir, "job-1").status == "running"

    second = start(["worker"], env)
    try:
        wait_for(lambda: job_of(data_dir, "job-1").status == "done", "the job", proc=second)
        second.send_signal(signal.SIGTERM)  # idle: stops at once, cleanly
        assert second.wait(timeout=60) == 0
        output = second.stdout.read() if second.stdout else ""
    finally:
        kill(second)
    assert "retrying 1-取扱説明書-en.txt of job job-1 (attempt 2)" in output
    assert "stopped" in output
    done = job_of(data_dir, "job-1")
    assert [(f.source, f.status) for f in done.files] == [
        ("1-取扱説明書-en.txt", "indexed"),
        ("2-契約書.txt", "indexed"),
    ]
    counts = expected(paths, embedder, tmp_path / "probe")
    assert {f.source: f.chunks for f in done.files} == counts
    after = seen(data_dir, "uploads", queries)
    assert after.violations == []
    assert after.chunks == counts
    assert after.stored == sum(counts.values())  # what the killed worker wrote is gone


def _up(url: str) -> bool:
    try:
        return httpx.get(f"{url}/healthz", timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


def test_kura_ingest_beside_kura_serve_queues_to_it_and_a_worker_refuses(
    tmp_path: Path, embedder: BaseEmbedding
) -> None:
    data_dir, docs = tmp_path / "data", tmp_path / "社内文書"
    docs.mkdir()
    manual, contract = docs / "保守手順書.txt", docs / "業務委託契約書.txt"
    manual.write_text(document("en", 5, 1, "valve"), encoding="utf-8")
    contract.write_text(document("ja", 5, 1, "空調"), encoding="utf-8")
    (docs / "壊れた.pdf").write_text("%PDF-1.4 this is not a PDF", encoding="utf-8")
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    env = kura_env(data_dir, auth="off", worker_poll="0.2")
    server = start(["serve", "--port", str(port)], env)
    try:
        wait_for(lambda: _up(url), "kura serve to answer", proc=server)
        # a second writer on the embedded store is refused, naming the holder and the fix
        worker = start(["worker"], env)
        assert worker.wait(timeout=120) == 1
        refusal = worker.stdout.read() if worker.stdout else ""
        kill(worker)
        assert "kura serve (pid" in refusal
        assert "KURA_QDRANT_URL" in refusal

        ingest = start(["ingest", str(docs), "-c", "manuals"], env)
        assert ingest.wait(timeout=300) == 3  # the broken PDF failed
        said = ingest.stdout.read() if ingest.stdout else ""
        kill(ingest)
        listed = httpx.get(f"{url}/v1/collections/manuals/documents", timeout=30).json()
    finally:
        kill(server)
    assert "holds the embedded store: 3 file(s) queued to its worker" in said
    assert "manuals: 2 indexed" in said
    assert f"failed {docs / '壊れた.pdf'}" in said
    counts = expected({str(manual): manual, str(contract): contract}, embedder, tmp_path / "probe")
    by_source = {d["source"]: d for d in listed["documents"]}
    for source, chunks in counts.items():
        assert by_source[source]["status"] == "indexed"
        assert by_source[source]["chunks"] == chunks
    # the documents are the ones a direct run makes: with the server gone, it finds them
    direct = start(["ingest", str(manual), str(contract), "-c", "manuals"], env)
    assert direct.wait(timeout=300) == 0
    output = direct.stdout.read() if direct.stdout else ""
    kill(direct)
    assert "0 indexed (0 chunks), 2 unchanged" in output


def test_two_workers_drain_one_queue_into_one_shared_store_each_file_once(
    tmp_path: Path, embedder: BaseEmbedding
) -> None:
    # several workers need a store they can all write: a Qdrant server, here the REST
    # stand-in over qdrant-client's local mode (tests/support/qdrant_standin.py)
    data_dir, docs = tmp_path / "data", tmp_path / "docs"
    docs.mkdir()
    texts = {
        "1-pump-en.txt": document("en", 4, 1, "pump"),
        "2-保守契約.txt": document("ja", 4, 1, "空調"),
        "3-valve-en.txt": document("en", 4, 1, "valve"),
        "4-点検契約.txt": document("ja", 4, 1, "昇降機"),
    }
    files = []
    for name, text in texts.items():
        files.append(docs / name)
        files[-1].write_text(text, encoding="utf-8")
    queries = {
        "1-pump-en.txt": "pump controller",
        "2-保守契約.txt": "空調装置",
        "3-valve-en.txt": "valve controller",
        "4-点検契約.txt": "昇降機装置",
    }
    with QdrantStandin() as url:
        env = kura_env(data_dir, qdrant_url=url, worker_poll="0.2")
        workers = [WorkerProcess(env), WorkerProcess(env)]
        try:
            for worker in workers:
                worker.wait_started()
            job_id = queue_job(data_dir, "shared", files)  # both are idle, polling
            wait_for(lambda: job_of(data_dir, job_id).status == "done", "the job", timeout=600)
            codes = [worker.stop() for worker in workers]
        finally:
            for worker in workers:
                worker.kill()
        after = seen(data_dir, "shared", queries, qdrant_url=url)
    assert codes == [0, 0]
    done = job_of(data_dir, job_id)
    assert {f.source: f.status for f in done.files} == dict.fromkeys(texts, "indexed")
    by_worker = [w.indexed() for w in workers]
    assert all(by_worker), by_worker  # both took part
    assert sorted(by_worker[0] + by_worker[1]) == sorted(texts)  # each file by one of them
    counts = expected({f.name: f for f in files}, embedder, tmp_path / "probe")
    assert {f.source: f.chunks for f in done.files} == counts
    assert after.violations == []
    assert after.chunks == counts
    assert after.stored == sum(counts.values())


class _FlakyStore(JobStore):
    """kura.db unreachable for the first claims, as during a PostgreSQL failover."""

    def __init__(self, path: Path) -> None:
        super().__init__(path)
        self.claims = 0

    def claim(  # type: ignore[no-untyped-def]
        self, worker: str, lease_s: float, skip: frozenset[str] = frozenset()
    ):
        self.claims += 1
        if self.claims <= 2:
            raise sqlite3.OperationalError("database is locked")
        return super().claim(worker, lease_s, skip)


def test_a_worker_outlives_a_state_database_that_fails_for_a_moment(tmp_path: Path) -> None:
    components = fake(tmp_path / "data")
    store = _FlakyStore(tmp_path / "data" / "kura.db")
    files = tmp_path / "files"
    files.mkdir()
    worker = Worker(components, store, lease_s=30, poll_s=0.05)
    thread = threading.Thread(target=worker.run)
    thread.start()
    try:
        (files / "障害後.txt").write_text(document("ja", 2, 1, "空調"), encoding="utf-8")
        job_id = queue_job(tmp_path / "data", "manuals", [files / "障害後.txt"])
        deadline = time.monotonic() + 120
        while store.get(job_id).status != "done":  # type: ignore[union-attr]
            assert thread.is_alive()
            assert time.monotonic() < deadline, store.get(job_id)
            time.sleep(0.05)
    finally:
        worker.stop()
        thread.join(timeout=60)
        components.close()
        store.close()
    assert store.claims > 2
    with JobStore(tmp_path / "data" / "kura.db") as again:
        job = again.get(job_id)
    assert job is not None
    assert [(f.source, f.status) for f in job.files] == [("障害後.txt", "indexed")]


class _LateClient(QdrantClient):
    """A worker's client that looked for the collection just before another worker made it."""

    looked = False

    def collection_exists(self, collection_name: str, **kwargs: Any) -> bool:
        if not self.looked:
            self.looked = True
            return False
        return super().collection_exists(collection_name, **kwargs)


def test_two_workers_creating_one_collection_at_once_both_go_on() -> None:
    with QdrantStandin() as url:
        first, late = QdrantClient(url=url), _LateClient(url=url)
        try:
            ensure_collection(first, "kura_共有", 8)
            ensure_collection(late, "kura_共有", 8)  # Qdrant answers 409: made already
            assert late.collection_exists("kura_共有")
            info = late.get_collection("kura_共有")
            assert info.config.params.vectors["dense"].size == 8  # type: ignore[index]
        finally:
            first.close()
            late.close()
