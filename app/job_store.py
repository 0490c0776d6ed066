"""Upload jobs and their files in kura's state database: what was accepted, and how it ended.

An accepted upload is recorded here (all its files, in one transaction) before the API answers
202, so it survives any number of restarts; the runner (``app.jobs``) reads the queued files
back and records each outcome. Finished jobs are kept for status queries, the oldest forgotten.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any, ClassVar, Literal

from pydantic import BaseModel, Field

from ingest.pipeline import VersionSpec
from ingest.state import StateStore

_KEPT_JOBS = 1000  # finished jobs remembered for status queries
# A file whose worker lost its lease this many times (killed, out of memory, cut off) fails
# instead of being handed out again.
MAX_ATTEMPTS = 3


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


class JobStore(StateStore):
    """Upload jobs and their files, in kura's state database."""

    SCHEMA: ClassVar[str] = """
    CREATE TABLE IF NOT EXISTS jobs (
        id TEXT PRIMARY KEY,
        collection TEXT NOT NULL,
        user TEXT NOT NULL,
        status TEXT NOT NULL,
        created_at TEXT NOT NULL
    );
    CREATE TABLE IF NOT EXISTS job_files (
        job_id TEXT NOT NULL,
        position INTEGER NOT NULL,
        source TEXT NOT NULL,
        path TEXT NOT NULL,
        groups TEXT,
        spec TEXT,
        status TEXT NOT NULL DEFAULT 'queued',
        chunks INTEGER NOT NULL DEFAULT 0,
        reason TEXT,
        document_id TEXT,
        note TEXT,
        uploader_groups TEXT,
        attempts INTEGER NOT NULL DEFAULT 0,
        worker TEXT,
        lease_until REAL,
        PRIMARY KEY (job_id, position)
    );
    """

    def __init__(self, path: Path) -> None:
        super().__init__(path)
        with self._lock:
            columns = {row["name"] for row in self._conn.execute("PRAGMA table_info(job_files)")}
            if "worker" not in columns:  # a kura.db from before the shared queue
                self._conn.execute("ALTER TABLE job_files ADD COLUMN worker TEXT")
                self._conn.execute("ALTER TABLE job_files ADD COLUMN lease_until REAL")

    def _write(self, statements: list[tuple[str, tuple[Any, ...]]]) -> None:
        with self._lock:
            self._conn.execute("BEGIN IMMEDIATE")
            try:
                for sql, args in statements:
                    self._conn.execute(sql, args)
            except BaseException:
                self._conn.execute("ROLLBACK")
                raise
            self._conn.execute("COMMIT")

    def create(self, job: Job, uploads: list[Upload]) -> None:
        """Record a job and its files, all or nothing; forget the oldest finished jobs."""
        statements: list[tuple[str, tuple[Any, ...]]] = [
            (
                "INSERT INTO jobs VALUES (?, ?, ?, ?, ?)",
                (job.id, job.collection, job.user, job.status, job.created_at),
            )
        ]
        for position, upload in enumerate(uploads):
            statements.append(
                (
                    "INSERT INTO job_files (job_id, position, source, path, groups, spec, "
                    "uploader_groups) VALUES (?, ?, ?, ?, ?, ?, ?)",
                    (
                        job.id,
                        position,
                        upload.name,
                        str(upload.path),
                        _json(upload.groups),
                        _spec_json(upload.spec),
                        _json(upload.uploader_groups),
                    ),
                )
            )
        old = "SELECT id FROM jobs WHERE status = 'done' ORDER BY created_at DESC LIMIT -1 OFFSET ?"
        statements.append(
            (f"DELETE FROM job_files WHERE job_id IN ({old})", (_KEPT_JOBS,)),
        )
        statements.append((f"DELETE FROM jobs WHERE id IN ({old})", (_KEPT_JOBS,)))
        self._write(statements)

    def get(self, job_id: str) -> Job | None:
        """A job with its files' status."""
        with self._lock:
            row = self._conn.execute("SELECT * FROM jobs WHERE id = ?", (job_id,)).fetchone()
            files = self._conn.execute(
                "SELECT * FROM job_files WHERE job_id = ? ORDER BY position", (job_id,)
            ).fetchall()
        if row is None:
            return None
        return Job(
            id=row["id"],
            collection=row["collection"],
            user=row["user"],
            status=row["status"],
            created_at=row["created_at"],
            files=[
                JobFile(
                    source=f["source"],
                    status=f["status"],
                    chunks=f["chunks"],
                    reason=f["reason"],
                    document_id=f["document_id"],
                    note=f["note"],
                )
                for f in files
            ],
        )

    def claim(self, worker: str, lease_s: float) -> ClaimedFile | None:
        """Hand the oldest queued file of any job to ``worker`` until ``lease_s`` from now;
        None when nothing is queued. Files whose lease ran out are queued again first (or
        fail, after ``MAX_ATTEMPTS`` lost leases)."""
        now = time.time()
        with self.transaction() as db:  # BEGIN IMMEDIATE: one claimer at a time
            _expire(db, now)
            row = db.execute(
                "SELECT f.*, j.collection, j.user FROM job_files f JOIN jobs j ON j.id = f.job_id "
                "WHERE f.status = 'queued' ORDER BY j.created_at, f.job_id, f.position LIMIT 1"
            ).fetchone()
            if row is None:
                return None
            lease_until = now + lease_s
            db.execute(
                "UPDATE job_files SET status = 'running', worker = ?, lease_until = ? "
                "WHERE job_id = ? AND position = ?",
                (worker, lease_until, row["job_id"], row["position"]),
            )
            db.execute(
                "UPDATE jobs SET status = 'running' WHERE id = ? AND status = 'queued'",
                (row["job_id"],),
            )
        return ClaimedFile(
            job_id=row["job_id"],
            position=row["position"],
            collection=row["collection"],
            user=row["user"],
            upload=_upload(row),
            attempts=row["attempts"],
            worker=worker,
            lease_until=lease_until,
        )

    def renew(self, job_id: str, position: int, worker: str, lease_s: float) -> bool:
        """Extend ``worker``'s lease on a file to ``lease_s`` from now; False when the file is
        no longer its own (the lease ran out and went to another worker, or it finished)."""
        with self.transaction() as db:
            cursor = db.execute(
                "UPDATE job_files SET lease_until = ? "
                "WHERE job_id = ? AND position = ? AND worker = ? AND status = 'running'",
                (time.time() + lease_s, job_id, position, worker),
            )
        return cursor.rowcount == 1

    def queued_files(self, job_id: str) -> list[tuple[int, Upload, int]]:
        """The job's files still to index: (position, upload, attempts made before)."""
        with self._lock:
            rows = self._conn.execute(
                "SELECT * FROM job_files WHERE job_id = ? AND status = 'queued' ORDER BY position",
                (job_id,),
            ).fetchall()
        return [(row["position"], _upload(row), row["attempts"]) for row in rows]

    def unfinished(self) -> list[str]:
        """Jobs not done, oldest first."""
        with self._lock:
            rows = self._conn.execute(
                "SELECT id FROM jobs WHERE status != 'done' ORDER BY created_at"
            ).fetchall()
        return [row["id"] for row in rows]

    def set_status(self, job_id: str, status: str) -> None:
        """Set a job's status."""
        self._write([("UPDATE jobs SET status = ? WHERE id = ?", (status, job_id))])

    def started(self, job_id: str, position: int) -> None:
        """Count an attempt at a file (before it begins: a crash in it still counts)."""
        self._write(
            [
                (
                    "UPDATE job_files SET attempts = attempts + 1 "
                    "WHERE job_id = ? AND position = ?",
                    (job_id, position),
                )
            ]
        )

    def finished(
        self, job_id: str, position: int, entry: JobFile, worker: str | None = None
    ) -> bool:
        """Record a file's outcome. With ``worker``: only while that worker holds the file's
        lease (False otherwise: another worker has it now), and the job is done once none of
        its files is left queued or running."""
        values = (entry.status, entry.chunks, entry.reason, entry.document_id, entry.note)
        update = (
            "UPDATE job_files SET status = ?, chunks = ?, reason = ?, document_id = ?, note = ?, "
            "worker = NULL, lease_until = NULL WHERE job_id = ? AND position = ?"
        )
        with self.transaction() as db:
            if worker is None:
                db.execute(update, (*values, job_id, position))
                return True
            cursor = db.execute(
                update + " AND worker = ? AND status = 'running'",
                (*values, job_id, position, worker),
            )
            if cursor.rowcount != 1:
                return False
            db.execute(_DONE_WHEN_NOTHING_LEFT)
        return True


# A claimed job is done once none of its files is left queued or running.
_DONE_WHEN_NOTHING_LEFT = (
    "UPDATE jobs SET status = 'done' WHERE status = 'running' AND NOT EXISTS ("
    "SELECT 1 FROM job_files f WHERE f.job_id = jobs.id AND f.status IN ('queued', 'running'))"
)


def _upload(row: Any) -> Upload:
    return Upload(
        row["source"],
        Path(row["path"]),
        tuple(json.loads(row["groups"])) if row["groups"] is not None else None,
        _spec(row["spec"]),
        json.loads(row["uploader_groups"]) if row["uploader_groups"] is not None else None,
    )


def _expire(db: Any, now: float) -> None:
    """Queue again the files whose worker's lease ran out, or fail them after MAX_ATTEMPTS."""
    db.execute(
        "UPDATE job_files SET status = 'failed', worker = NULL, lease_until = NULL, "
        "attempts = attempts + 1, reason = ? "
        "WHERE status = 'running' AND lease_until < ? AND attempts + 1 >= ?",
        (
            f"its worker stopped while indexing it {MAX_ATTEMPTS} times (lease expired)",
            now,
            MAX_ATTEMPTS,
        ),
    )
    db.execute(
        "UPDATE job_files SET status = 'queued', worker = NULL, lease_until = NULL, "
        "attempts = attempts + 1 WHERE status = 'running' AND lease_until < ?",
        (now,),
    )
    db.execute(_DONE_WHEN_NOTHING_LEFT)
