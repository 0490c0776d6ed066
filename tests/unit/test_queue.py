"""What the worker adds to the queue (giving a file back, ending dead workers' leases), and the
embedded store's one-writer lock. Claims and leases themselves: tests/unit/test_job_queue.py."""

from __future__ import annotations

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
