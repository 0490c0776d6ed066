"""Which queued file a worker may take, and when: the SQL conditions of the shared queue
(leases, files of one document one at a time, waits for the embedding host), on SQLite and
PostgreSQL alike. ``app.job_store`` runs them."""

from __future__ import annotations

import time
from typing import Any

from sqlalchemy import Connection, Float, Update, bindparam, select, text, update

from ingest.database.tables import job_files as _files
from ingest.database.tables import jobs as _jobs

# A file whose worker lost its lease this many times (killed, out of memory, cut off) fails
# instead of being handed out again.
MAX_ATTEMPTS = 3


def held(job_id: str, position: int, worker: str) -> Update:
    """An UPDATE of a file that only applies while ``worker`` holds its lease."""
    return update(_files).where(
        _files.c.job_id == job_id,
        _files.c.position == position,
        _files.c.worker == worker,
        _files.c.status == "running",
    )


def _same_document(name: str, *conditions: Any) -> Any:
    """Another upload of the same file name into the same collection (a version of the same
    document) whose file meets ``conditions``."""
    files, jobs = _files.alias(f"{name}_file"), _jobs.alias(f"{name}_job")
    return (
        select(files.c.job_id)
        .join(jobs, jobs.c.id == files.c.job_id)
        .where(
            *(condition(files) for condition in conditions),
            files.c.source == _files.c.source,
            jobs.c.collection == _jobs.c.collection,
        )
        .exists()
    )


def same_document_running() -> Any:
    """Another version of the document is being indexed: two workers writing versions of one
    document side by side would race."""
    return _same_document("running", lambda files: files.c.status == "running")


def same_document_waiting(now: Any) -> Any:
    """An earlier version of the document waits for its embedding host: a later one indexed
    meanwhile would be replaced by it, older content last."""
    return _same_document(
        "waiting",
        lambda files: files.c.status == "queued",
        lambda files: files.c.retry_at > now,
    )


def one_claimer_at_a_time(db: Connection) -> None:
    """On PostgreSQL, claims take turns (a lock held to the end of the transaction): a claimer
    must see the files the one before it just marked running, or two could take two versions
    of one document. A claim lasts milliseconds; SKIP LOCKED still keeps readers unblocked.
    SQLite's BEGIN IMMEDIATE already lets one claimer in at a time."""
    if db.dialect.name == "postgresql":
        db.execute(text("SELECT pg_advisory_xact_lock(hashtext('kura.job_files.claim'))"))


def clock(db: Connection) -> float:
    """Now, in epoch seconds: PostgreSQL's clock, which every worker on every machine shares."""
    if db.dialect.name == "postgresql":
        return float(db.execute(text("SELECT extract(epoch FROM clock_timestamp())")).scalar_one())
    return time.time()  # SQLite: every claimer runs on this machine


def done_when_nothing_left() -> Update:
    """A claimed job is done once none of its files is left queued or running."""
    left = (
        select(_files.c.job_id)
        .where(_files.c.job_id == _jobs.c.id, _files.c.status.in_(("queued", "running")))
        .exists()
    )
    return update(_jobs).where(_jobs.c.status == "running", ~left).values(status="done")


def _expiry() -> tuple[Update, Update, Update]:
    """expire's statements, built once: every claim runs them while it holds the write lock."""
    expired = (_files.c.status == "running", _files.c.lease_until < bindparam("now", type_=Float))
    released = {"worker": None, "lease_until": None, "attempts": _files.c.attempts + 1}
    fail = (
        update(_files)
        .where(*expired, _files.c.attempts + 1 >= MAX_ATTEMPTS)
        .values(
            status="failed",
            reason=f"its worker stopped while indexing it {MAX_ATTEMPTS} times (lease expired)",
            **released,
        )
    )
    requeue = update(_files).where(*expired).values(status="queued", **released)
    return fail, requeue, done_when_nothing_left()


_EXPIRY = _expiry()


def expire(db: Connection, now: float) -> None:
    """Queue again the files whose worker's lease ran out, or fail them after MAX_ATTEMPTS."""
    fail, requeue, done = _EXPIRY
    db.execute(fail, {"now": now})
    db.execute(requeue, {"now": now})
    db.execute(done)
