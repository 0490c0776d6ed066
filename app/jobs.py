"""Uploads indexed in the background, one job at a time, each with a status to poll.

The API saves the uploaded bytes first (under ``<data_dir>/uploads``, so nothing uploaded is
lost and citations can be checked against it) and answers at once with a job id; a single
worker thread parses, embeds and writes. The embedded store takes one writer, and a second
parse would only halve the speed of the first on a small machine.
"""

from __future__ import annotations

import logging
import threading
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, Field

from app.observability import Metrics
from app.write_access import Target, target_for_name, visible_document
from ingest.components import Components
from ingest.pipeline import FileResult, Indexer, Status, VersionSpec

logger = logging.getLogger(__name__)

_KEPT_JOBS = 1000  # finished jobs remembered for status queries


class JobFile(BaseModel):
    """One file of an upload job."""

    source: str
    status: Literal["queued", "indexed", "unchanged", "failed"] = "queued"
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


@dataclass
class JobRunner:
    """Runs upload jobs on one worker thread; keeps their status."""

    components: Components
    metrics: Metrics | None = None
    jobs: dict[str, Job] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _pool: ThreadPoolExecutor = field(
        default_factory=lambda: ThreadPoolExecutor(1, thread_name_prefix="kura-ingest")
    )

    def submit(self, collection: str, user: str, uploads: list[Upload]) -> Job:
        """Queue ``uploads`` for indexing into ``collection``; returns the job."""
        job = Job(
            id=uuid.uuid4().hex,
            collection=collection,
            user=user,
            files=[JobFile(source=u.name) for u in uploads],
        )
        with self._lock:
            self.jobs[job.id] = job
            while len(self.jobs) > _KEPT_JOBS:
                oldest = next(iter(self.jobs))
                if self.jobs[oldest].status != "done":
                    break
                del self.jobs[oldest]
        self._pool.submit(self._run, job, uploads)
        return job

    def get(self, job_id: str) -> Job | None:
        """A job by id."""
        with self._lock:
            job = self.jobs.get(job_id)
            return job.model_copy(deep=True) if job else None

    def _run(self, job: Job, uploads: list[Upload]) -> None:
        job.status = "running"
        try:
            for entry, upload in zip(job.files, uploads, strict=True):
                result, entry.note = self._index(job.collection, upload)
                entry.status = result.status.value
                entry.chunks, entry.reason = result.chunks, result.reason
                entry.document_id = result.document_id
                if self.metrics is not None:
                    self.metrics.count_ingest(result.status.value, result.chunks)
            if any(f.status == "indexed" for f in job.files):
                self.components.vector_store(job.collection).optimize()
        finally:
            job.status = "done"

    def _index(self, collection: str, upload: Upload) -> tuple[FileResult, str | None]:
        try:
            # Decided here, not at upload time: jobs run one at a time, so nothing changes
            # between this choice and the write.
            target = _target(self.components, collection, upload)
            if target is None:
                return FileResult(upload.name, Status.FAILED, reason="no such document"), None
            groups = upload.groups or target.readers
            indexer = Indexer(self.components, collection, groups=groups)
            spec = (
                replace(upload.spec, document_id=target.document_id)
                if upload.spec
                else VersionSpec("", None, target.document_id)
            )
            data = upload.path.read_bytes()
            result = indexer.ingest_bytes(data, upload.name, spec)
        except Exception:
            logger.exception("upload %s could not be indexed", upload.name)
            failed = FileResult(upload.name, Status.FAILED, reason="internal error while indexing")
            return failed, None
        note = None
        changed = groups and target.readers is not None and set(groups) != set(target.readers)
        if result.status is not Status.FAILED and changed:
            # One document, one set of readers: the change reaches every version.
            note = (
                f"readers of every version changed from {', '.join(target.readers or ())} "
                f"to {', '.join(sorted(groups or ()))}"
            )
            logger.info("upload %s changed the readers of its document", upload.name)
        return result, note

    def close(self) -> None:
        """Finish the running job, drop the queued ones."""
        self._pool.shutdown(wait=True, cancel_futures=True)


def _target(components: Components, collection: str, upload: Upload) -> Target | None:
    """The document ``upload`` writes to; None when it names one the uploader may not read."""
    groups = upload.uploader_groups
    if upload.spec is not None and upload.spec.document_id:
        return visible_document(components, collection, upload.spec.document_id, groups)
    return target_for_name(components, collection, upload.name, groups)
