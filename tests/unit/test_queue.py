"""What the worker adds to the queue (giving a file back, ending dead workers' leases), and the
embedded store's one-writer lock. Claims and leases themselves: tests/unit/test_job_queue.py."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest

from app.job_store import Job, JobFile, JobStore, Upload
from ingest.settings import IndexSettings
from ingest.writer_lock import StoreInUse, hold

pytestmark = pytest.mark.unit


def queue(store: JobStore, tmp_path: Path, collection: str, *names: str) -> str:
    """A job of ``names`` (files that exist) into ``collection``; returns its id."""
    uploads = []
    for name in names:
        path = tmp_path / f"{len(list(tmp_path.iterdir()))}-{name}"
        path.write_text(name, encoding="utf-8")
        uploads.append(Upload(name, path))
    job = Job(
        id=f"job-{time.monotonic_ns()}",
        collection=collection,
        user="tanaka",
        files=[JobFile(source=n) for n in names],
    )
    store.create(job, uploads)
    return job.id


@pytest.fixture
def store(tmp_path: Path) -> JobStore:
    return JobStore(tmp_path / "kura.db")


def test_a_file_given_back_is_claimable_at_once_and_its_attempt_not_counted(
    store: JobStore, tmp_path: Path
) -> None:
    files = tmp_path / "files"
    files.mkdir()
    job_id = queue(store, files, "manuals", "手順書.txt")
    claimed = store.claim("w1", 600)
    assert claimed is not None
    assert store.claim("w2", 600) is None  # leased
    assert store.release(claimed.job_id, claimed.position, "w2") is False  # not w2's to give
    assert store.release(claimed.job_id, claimed.position, "w1") is True
    job = store.get(job_id)
    assert job is not None
    assert job.files[0].status == "queued"
    again = store.claim("w2", 600)
    assert again is not None
    assert again.upload.name == "手順書.txt"
    assert again.attempts == 0
    # w1 no longer holds it: it can neither renew nor record
    assert store.renew(again.job_id, again.position, "w1", 600) is False
    assert store.finished(again.job_id, 0, JobFile(source="手順書.txt"), "w1") is False


def test_expire_all_ends_the_leases_of_dead_workers_with_the_attempt_counted(
    store: JobStore, tmp_path: Path
) -> None:
    files = tmp_path / "files"
    files.mkdir()
    queue(store, files, "manuals", "契約書.txt", "b.txt")
    assert store.claim("dead", 600) is not None
    assert store.expire_all() == 1
    claimed = store.claim("w", 600)
    assert claimed is not None
    assert claimed.position == 0
    assert claimed.attempts == 1


def test_the_embedded_store_takes_one_writer_and_names_it(tmp_path: Path) -> None:
    settings = IndexSettings(_env_file=None, data_dir=tmp_path)  # type: ignore[call-arg]
    lock = hold(settings, "serve")
    assert lock is not None
    try:
        with pytest.raises(StoreInUse) as refused:
            hold(settings, "worker")
        assert refused.value.holder is not None
        assert refused.value.holder.role == "serve"
        assert "kura serve (pid" in str(refused.value)
    finally:
        lock.release()
    again = hold(settings, "worker")  # released: free again
    assert again is not None
    again.release()
    server = IndexSettings(_env_file=None, data_dir=tmp_path, qdrant_url="http://q:6333")  # type: ignore[call-arg]
    assert hold(server, "worker") is None  # a Qdrant server takes any number of writers


def _count_elsewhere(path: Path) -> int:
    """Rows of ``jobs`` as another process sees them."""
    code = (
        "import sqlite3, sys; c = sqlite3.connect(sys.argv[1]); "
        "print(c.execute('SELECT count(*) FROM jobs').fetchone()[0]); c.close()"
    )
    done = subprocess.run(
        [sys.executable, "-c", code, str(path)], capture_output=True, text=True, check=True
    )
    return int(done.stdout)


def test_a_second_store_in_one_process_keeps_the_first_ones_writes_visible_to_others(
    tmp_path: Path,
) -> None:
    # A worker holds the job store and the registry on one kura.db; `kura ingest` and `kura
    # keys` open it from other processes. Opening a second store once closed a descriptor of
    # the file, which drops every POSIX lock the process holds on it (SQLite's among them):
    # the next process to close the database deleted the WAL under the first store, and its
    # later commits went to an unlinked file, lost to every other process.
    path = tmp_path / "kura.db"
    files = tmp_path / "files"
    files.mkdir()
    with JobStore(path) as jobs:
        queue(jobs, files, "manuals", "一.txt")
        with JobStore(path):  # e.g. the registry, opened later in the same process
            assert _count_elsewhere(path) == 1
            queue(jobs, files, "manuals", "二.txt")
            assert _count_elsewhere(path) == 2
            queue(jobs, files, "manuals", "三.txt")
            assert _count_elsewhere(path) == 3
