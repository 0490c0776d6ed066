"""The shared job queue on SQLite and PostgreSQL: claim, renew, lost leases, and two
processes claiming at once."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from app.job_store import MAX_ATTEMPTS, Job, JobFile, JobStore, Upload

pytestmark = pytest.mark.integration  # a real PostgreSQL server


@pytest.fixture
def store(state_db: Path | str) -> Iterator[JobStore]:
    with JobStore(state_db) as jobs:
        yield jobs


def add_job(store: JobStore, job_id: str, names: list[str], created_at: str) -> None:
    uploads = [Upload(name, Path(f"/uploads/{job_id}/{name}"), ("法務",)) for name in names]
    job = Job(id=job_id, collection="契約書", user="tanaka", created_at=created_at)
    store.create(job, uploads)


def test_claim_takes_the_oldest_queued_file_of_any_job(store: JobStore) -> None:
    add_job(store, "new", ["新しい.pdf"], "2026-11-02T00:00:00+00:00")
    add_job(store, "old", ["秘密保持契約.pdf", "業務委託契約.docx"], "2026-11-01T00:00:00+00:00")
    first = store.claim("worker-a", 60)
    second = store.claim("worker-b", 60)
    third = store.claim("worker-a", 60)
    assert first is not None
    assert second is not None
    assert third is not None
    assert [(c.job_id, c.position) for c in (first, second, third)] == [
        ("old", 0),
        ("old", 1),
        ("new", 0),
    ]
    assert first.upload.name == "秘密保持契約.pdf"
    assert first.upload.groups == ("法務",)
    assert (first.collection, first.user, first.worker) == ("契約書", "tanaka", "worker-a")
    assert first.lease_until > time.time() + 30
    assert store.claim("worker-c", 60) is None  # all three are running
    job = store.get("old")
    assert job is not None
    assert job.status == "running"
    assert [f.status for f in job.files] == ["running", "running"]


def test_an_empty_queue_gives_nothing(store: JobStore) -> None:
    assert store.claim("worker-a", 60) is None


def test_only_the_holder_renews_and_records(store: JobStore) -> None:
    add_job(store, "j", ["規程.md"], "2026-11-01T00:00:00+00:00")
    claimed = store.claim("worker-a", 60)
    assert claimed is not None
    assert store.renew("j", 0, "worker-a", 120)
    assert not store.renew("j", 0, "worker-b", 120)
    indexed = JobFile(source="規程.md", status="indexed", chunks=3)
    assert not store.finished("j", 0, indexed, worker="worker-b")
    assert store.finished("j", 0, indexed, worker="worker-a")
    assert not store.renew("j", 0, "worker-a", 120)  # finished: nothing left to hold
    job = store.get("j")
    assert job is not None
    assert job.status == "done"
    assert (job.files[0].status, job.files[0].chunks) == ("indexed", 3)


def test_a_lost_lease_queues_the_file_again_then_fails_it(store: JobStore) -> None:
    add_job(store, "j", ["壊れる.pdf"], "2026-11-01T00:00:00+00:00")
    for attempt in range(MAX_ATTEMPTS):
        claimed = store.claim(f"worker-{attempt}", 0.05)
        assert claimed is not None, attempt
        assert claimed.attempts == attempt
        time.sleep(0.1)  # the worker died: its lease runs out
    assert store.claim("worker-x", 60) is None  # lost three times: failed, not handed out
    job = store.get("j")
    assert job is not None
    assert job.status == "done"
    [failed] = job.files
    assert failed.status == "failed"
    assert failed.reason is not None
    assert "lease expired" in failed.reason
    # the worker that lost it cannot record an outcome any more
    late = JobFile(source="壊れる.pdf", status="indexed", chunks=1)
    assert not store.finished("j", 0, late, worker="worker-2")


def test_a_worker_that_lost_its_lease_cannot_renew_after_another_took_it(
    store: JobStore,
) -> None:
    add_job(store, "j", ["議事録.txt"], "2026-11-01T00:00:00+00:00")
    assert store.claim("slow", 0.05) is not None
    time.sleep(0.1)
    taken = store.claim("fast", 60)
    assert taken is not None
    assert taken.attempts == 1
    assert not store.renew("j", 0, "slow", 60)
    assert store.renew("j", 0, "fast", 60)


CLAIMER = """
import json, sys, time
from pathlib import Path
from app.job_store import JobStore
target = sys.argv[1]
store = JobStore(target if "://" in target else Path(target))
print("ready", flush=True)
sys.stdin.readline()  # both start claiming at once
got = []
while (claimed := store.claim(sys.argv[2], 300)) is not None:
    got.append([claimed.job_id, claimed.position])
    time.sleep(0.005)  # a worker works between claims: without it, SQLite (no fair lock
    # queue) lets one claimer retake the lock at once, and on a busy machine drain it all
store.close()
print(json.dumps(got))
"""


def test_two_processes_never_claim_the_same_file(state_db: Path | str) -> None:
    with JobStore(state_db) as store:
        for j in range(4):
            # distinct names: two versions of one document are never claimed side by side
            names = [f"文書{j}-{n}.txt" for n in range(15)]
            add_job(store, f"job{j}", names, f"2026-11-0{j + 1}")
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", CLAIMER, str(state_db), f"worker-{w}"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        for w in range(2)
    ]
    for proc in procs:  # both imported and connected
        assert proc.stdout is not None
        assert proc.stdout.readline().strip() == "ready"
    for proc in procs:
        assert proc.stdin is not None
        proc.stdin.write("go\n")
        proc.stdin.flush()
    results = [json.loads(p.communicate(timeout=120)[0]) for p in procs]
    assert all(p.returncode == 0 for p in procs)
    claimed = [tuple(item) for result in results for item in result]
    assert len(claimed) == 60
    assert len(set(claimed)) == 60  # nobody got a file twice
    assert all(results), "both processes claimed files"


def test_a_document_is_never_indexed_by_two_workers_at_once(store: JobStore) -> None:
    # Two uploads of one file name into one collection are versions of one document: two
    # workers indexing them side by side would race on its versions. The second waits.
    add_job(store, "first", ["就業規則.pdf"], "2026-11-01T00:00:00+00:00")
    add_job(store, "second", ["就業規則.pdf", "別表.xlsx"], "2026-11-02T00:00:00+00:00")
    first = store.claim("worker-a", 60)
    other = store.claim("worker-b", 60)
    assert first is not None
    assert other is not None
    assert (first.job_id, first.upload.name) == ("first", "就業規則.pdf")
    assert (other.job_id, other.upload.name) == ("second", "別表.xlsx")
    assert store.claim("worker-c", 60) is None  # 就業規則.pdf's second version waits
    indexed = JobFile(source="就業規則.pdf", status="indexed", chunks=2)
    assert store.finished("first", 0, indexed, worker="worker-a")
    later = store.claim("worker-c", 60)
    assert later is not None
    assert (later.job_id, later.position) == ("second", 0)
