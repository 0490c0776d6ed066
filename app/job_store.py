"""Upload jobs and their files in kura's state database: what was accepted, and how it ended.

An accepted upload is recorded here (all its files, in one transaction) before the API answers
202, so it survives any number of restarts; the runner (``app.jobs``) reads the queued files
back and records each outcome. Finished jobs are kept for status queries, the oldest forgotten.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, Field
from sqlalchemy import Float, bindparam, delete, insert, or_, select, update

from app.job_claims import MAX_ATTEMPTS as MAX_ATTEMPTS
from app.job_claims import (
    clock,
    done_when_nothing_left,
    expire,
    held,
    one_claimer_at_a_time,
    same_document_running,
    same_document_waiting,
)
from ingest.database.tables import job_files as _files
from ingest.database.tables import jobs as _jobs
from ingest.pipeline import VersionSpec
from ingest.state import StateStore

_KEPT_JOBS = 1000  # finished jobs remembered for status queries
# The longest wait between two retries of a file whose embedding host is unreachable.
MAX_BACKOFF = 300.0


class JobFile(BaseModel):
    """One file of an upload job."""

    source: str
    status: Literal["queued", "running", "indexed", "unchanged", "failed"] = "queued"
    chunks: int = 0
    reason: str | None = None
    document_id: str | None = None
    note: str | None = Field(
        None, description="e.g. that the readers of every version of the document changed."
    )
    # The reason as admins read it (naming the embedding host); never sent as it is:
    # app.services.uploads shows it to admins in place of ``reason``.
    detail: str | None = Field(None, exclude=True)


class Job(BaseModel):
    """An upload being indexed."""

    id: str
    collection: str
    user: str
    status: Literal["queued", "running", "done"] = "queued"
    created_at: str = Field(default_factory=lambda: datetime.now(UTC).isoformat())
    files: list[JobFile] = Field(default_factory=list)


@dataclass
class Upload:
    """A saved upload waiting to be indexed."""

    name: str  # the document's source name
    path: Path  # its saved bytes
    groups: tuple[str, ...] | None = None  # who may read it, as the upload said
    spec: VersionSpec | None = None
    # What the uploader may read (None: no access control): only such documents may be
    # replaced or given a new version by this upload.
    uploader_groups: list[str] | None = None

    @property
    def submitted(self) -> bool:
        """Queued by `kura ingest` beside a running server: named by its absolute path and
        read in place (an upload's name never holds a '/')."""
        return self.name.startswith("/")


@dataclass(frozen=True)
class ClaimedFile:
    """A queued file handed to one worker until ``lease_until`` (epoch seconds)."""

    job_id: str
    position: int
    collection: str
    user: str
    upload: Upload
    attempts: int  # leases lost on it before (a worker stopped while indexing it)
    worker: str
    lease_until: float


def _json(values: tuple[str, ...] | list[str] | None) -> str | None:
    return json.dumps(list(values)) if values is not None else None


def _spec_json(spec: VersionSpec | None) -> str | None:
    if spec is None:
        return None
    effective = spec.effective.isoformat() if spec.effective else None
    return json.dumps({"label": spec.label, "effective": effective, "of": spec.document_id})


def _spec(text: str | None) -> VersionSpec | None:
    if not text:
        return None
    data = json.loads(text)
    effective = date.fromisoformat(data["effective"]) if data["effective"] else None
    return VersionSpec(data["label"], effective, data["of"])


def _oldest(skip: frozenset[str]) -> Any:
    """The oldest file a worker may claim at ``:now``, of no collection in ``skip``."""
    at = bindparam("now", type_=Float)
    return (
        select(_files, _jobs.c.collection, _jobs.c.user)
        .join(_jobs, _jobs.c.id == _files.c.job_id)
        .where(
            _files.c.status == "queued",
            _jobs.c.collection.not_in(sorted(skip)),
            or_(_files.c.retry_at.is_(None), _files.c.retry_at <= at),
            ~same_document_running(),
            ~same_document_waiting(at),
        )
        .order_by(_jobs.c.created_at, _files.c.job_id, _files.c.position)
        .limit(1)
        # PostgreSQL: a file another claimer has locked is skipped, not waited for.
        # SQLite renders no FOR UPDATE: BEGIN IMMEDIATE already lets one claimer in.
        .with_for_update(skip_locked=True, of=_files)
    )


class JobStore(StateStore):
    """Upload jobs and their files, in kura's state database: the queue every worker shares."""

    def create(self, job: Job, uploads: list[Upload]) -> None:
        """Record a job and its files, all or nothing; forget the oldest finished jobs."""
        old = (
            select(_jobs.c.id)
            .where(_jobs.c.status == "done")
            .order_by(_jobs.c.created_at.desc())
            .offset(_KEPT_JOBS)
        )
        with self.transaction() as db:
            db.execute(
                insert(_jobs).values(
                    id=job.id,
                    collection=job.collection,
                    user=job.user,
                    status=job.status,
                    created_at=job.created_at,
                )
            )
            if uploads:
                db.execute(
                    insert(_files),
                    [
                        {
                            "job_id": job.id,
                            "position": position,
                            "source": upload.name,
                            "path": str(upload.path),
                            "groups": _json(upload.groups),
                            "spec": _spec_json(upload.spec),
                            "uploader_groups": _json(upload.uploader_groups),
                        }
                        for position, upload in enumerate(uploads)
                    ],
                )
            forgotten = db.execute(old).scalars().all()
            if forgotten:
                db.execute(delete(_files).where(_files.c.job_id.in_(forgotten)))
                db.execute(delete(_jobs).where(_jobs.c.id.in_(forgotten)))

    def get(self, job_id: str) -> Job | None:
        """A job with its files' status."""
        with self.reading() as db:
            now = clock(db)
            row = db.execute(select(_jobs).where(_jobs.c.id == job_id)).first()
            files = db.execute(
                select(_files).where(_files.c.job_id == job_id).order_by(_files.c.position)
            ).all()
        if row is None:
            return None
        return Job(
            id=row.id,
            collection=row.collection,
            user=row.user,
            status=row.status,
            created_at=row.created_at,
            files=[_job_file(f, now) for f in files],
        )

    def claim(
        self, worker: str, lease_s: float, skip: frozenset[str] = frozenset()
    ) -> ClaimedFile | None:
        """Hand the oldest queued file of any job to ``worker`` until ``lease_s`` from now;
        None when nothing is queued. Files whose lease ran out are queued again first (or
        fail, after ``MAX_ATTEMPTS`` lost leases); a file waiting for its embedding host is
        not handed out before its ``retry_at``, nor one of a collection in ``skip`` (being
        reindexed by this server) at all."""
        # Built outside the transaction, as before: on SQLite a second claimer polls for the
        # write lock, and a claimer that took it again at once would starve it (a claim built
        # inside the lock, or built once, made test_two_processes_never_claim_the_same_file fail).
        oldest = _oldest(skip)
        with self.transaction() as db:
            one_claimer_at_a_time(db)
            now = clock(db)
            expire(db, now)
            row = db.execute(oldest, {"now": now}).first()
            if row is None:
                return None
            lease_until = now + lease_s
            db.execute(
                update(_files)
                .where(_files.c.job_id == row.job_id, _files.c.position == row.position)
                .values(status="running", worker=worker, lease_until=lease_until)
            )
            db.execute(
                update(_jobs)
                .where(_jobs.c.id == row.job_id, _jobs.c.status == "queued")
                .values(status="running")
            )
        return ClaimedFile(
            job_id=row.job_id,
            position=row.position,
            collection=row.collection,
            user=row.user,
            upload=_upload(row),
            attempts=row.attempts,
            worker=worker,
            lease_until=lease_until,
        )

    def renew(self, job_id: str, position: int, worker: str, lease_s: float) -> bool:
        """Extend ``worker``'s lease on a file to ``lease_s`` from now; False when the file is
        no longer its own (the lease ran out and went to another worker, or it finished)."""
        with self.transaction() as db:
            cursor = db.execute(
                held(job_id, position, worker).values(lease_until=clock(db) + lease_s)
            )
        return cursor.rowcount == 1

    def release(self, job_id: str, position: int, worker: str) -> bool:
        """Give a file ``worker`` holds back to the queue at once, no attempt counted (its
        worker was asked to stop before it could finish the file); False if not its own."""
        with self.transaction() as db:
            cursor = db.execute(
                held(job_id, position, worker).values(
                    status="queued", worker=None, lease_until=None
                )
            )
        return cursor.rowcount == 1

    def postpone(
        self,
        job_id: str,
        position: int,
        worker: str,
        reason: tuple[str, str],
        first_wait: float,
        give_up_after: float,
    ) -> float | None:
        """Queue a file ``worker`` holds again, not to be claimed for a while: its embedding
        host is unreachable. ``reason``: what everyone reads, and what admins read. Each wait
        is as long as the file has waited so far (at least ``first_wait``, at most
        MAX_BACKOFF); returns it in seconds. None, the file left as it was: it has waited
        ``give_up_after`` seconds already (its worker then fails it), or is not ``worker``'s."""
        public, detail = reason
        with self.transaction() as db:
            now = clock(db)
            since = db.execute(
                select(_files.c.waiting_since).where(
                    _files.c.job_id == job_id, _files.c.position == position
                )
            ).scalar()
            since = now if since is None else since
            waited = now - since
            if waited >= give_up_after:
                return None
            # the last retry falls on the deadline, not past it
            wait = min(max(first_wait, waited), MAX_BACKOFF, since + give_up_after - now)
            cursor = db.execute(
                held(job_id, position, worker).values(
                    status="queued",
                    worker=None,
                    lease_until=None,
                    retry_at=now + wait,
                    waiting_since=since,
                    reason=public,
                    detail=detail,
                )
            )
        return wait if cursor.rowcount == 1 else None

    def expire_all(self) -> int:
        """End every lease now (their holders are known to be dead: a worker that holds the
        embedded store alone); the next claim queues their files again, or fails them after
        MAX_ATTEMPTS. Returns how many."""
        with self.transaction() as db:
            cursor = db.execute(
                update(_files).where(_files.c.status == "running").values(lease_until=0)
            )
        return cursor.rowcount

    def unfinished(self) -> list[str]:
        """Jobs not done, oldest first."""
        with self.reading() as db:
            rows = db.execute(
                select(_jobs.c.id).where(_jobs.c.status != "done").order_by(_jobs.c.created_at)
            )
            return list(rows.scalars())

    def finished(self, job_id: str, position: int, entry: JobFile, worker: str) -> bool:
        """Record a file's outcome, only while ``worker`` holds the file's lease (False
        otherwise: another worker has it now); the job is done once none of its files is left
        queued or running."""
        outcome = {
            "status": entry.status,
            "chunks": entry.chunks,
            "reason": entry.reason,
            "document_id": entry.document_id,
            "note": entry.note,
            "detail": entry.detail,
            "worker": None,
            "lease_until": None,
            "retry_at": None,
            "waiting_since": None,
        }
        with self.transaction() as db:
            if db.execute(held(job_id, position, worker).values(**outcome)).rowcount != 1:
                return False
            db.execute(done_when_nothing_left())
        return True


def _job_file(row: Any, now: float) -> JobFile:
    """A file's row as the API shows it; a file waiting for its embedding host says when it
    is retried (its reason and detail say why)."""
    reason, detail = row.reason, row.detail
    if row.retry_at is not None and row.status in ("queued", "running"):
        left = math.ceil(row.retry_at - now)
        when = f"retrying in {left} s" if left > 0 and row.status == "queued" else "retrying now"
        reason = f"{reason}; {when}"
        detail = f"{detail}; {when}" if detail else None
    return JobFile(
        source=row.source,
        status=row.status,
        chunks=row.chunks,
        reason=reason,
        document_id=row.document_id,
        note=row.note,
        detail=detail,
    )


def _upload(row: Any) -> Upload:
    return Upload(
        row.source,
        Path(row.path),
        tuple(json.loads(row.groups)) if row.groups is not None else None,
        _spec(row.spec),
        json.loads(row.uploader_groups) if row.uploader_groups is not None else None,
    )
