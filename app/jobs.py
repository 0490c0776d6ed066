"""Uploads indexed in the background, one job at a time, each with a status to poll.

The API saves the uploaded bytes first (under ``<data_dir>/uploads``, so nothing uploaded is
lost and citations can be checked against it), records the job and its files in kura's state
database, and only then answers 202 with the job id: an accepted upload survives any number
of restarts. A single worker thread parses, embeds and writes; the embedded store takes one
writer, and a second parse would only halve the speed of the first on a small machine. At
start, unfinished jobs resume where they stopped (the store has healed the half-written
document first), and every accepted file ends indexed or failed with a reason.
"""

from __future__ import annotations

import logging
import threading
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace

from app.job_store import Job, JobFile, JobStore, Upload
from app.observability import Metrics
from app.write_access import Target, target_for_name, visible_document
from ingest.components import Components
from ingest.pipeline import FileResult, Indexer, Status, VersionSpec, heal
from ingest.schema import document_id

logger = logging.getLogger(__name__)

# A file whose indexing stopped the service this many times (killed, out of memory) fails
# instead of being tried again at every start.
MAX_ATTEMPTS = 3


@dataclass
class JobRunner:
    """Runs upload jobs on one worker thread; their status lives in the state database."""

    components: Components
    store: JobStore
    metrics: Metrics | None = None
    _pool: ThreadPoolExecutor = field(
        default_factory=lambda: ThreadPoolExecutor(1, thread_name_prefix="kura-ingest")
    )
    _stopping: threading.Event = field(default_factory=threading.Event)

    def submit(self, collection: str, user: str, uploads: list[Upload]) -> Job:
        """Record ``uploads`` for indexing into ``collection`` and queue them; returns the job."""
        job = Job(
            id=uuid.uuid4().hex,
            collection=collection,
            user=user,
            files=[JobFile(source=u.name) for u in uploads],
        )
        self.store.create(job, uploads)
        self._pool.submit(self._run, job.id)
        return job

    def resume(self) -> list[str]:
        """Heal the store, then run the jobs a stopped service left unfinished, on the worker
        thread (the API answers meanwhile: readers see whole versions only, healed or not);
        returns their ids."""
        self._pool.submit(self._heal)
        unfinished = self.store.unfinished()
        for job_id in unfinished:
            logger.warning("resuming upload job %s", job_id)
            self._pool.submit(self._run, job_id)
        return unfinished

    def _heal(self) -> None:
        try:
            for name, healed in heal(self.components).items():
                logger.warning("healed %d document(s) of collection %s", len(healed), name)
        except Exception:
            # The store may be down at start (readiness says so); the next start heals.
            logger.exception("could not heal the store at start")

    def get(self, job_id: str) -> Job | None:
        """A job by id."""
        return self.store.get(job_id)

    def _run(self, job_id: str) -> None:
        job = self.store.get(job_id)
        if job is None:
            return
        self.store.set_status(job_id, "running")
        indexed = False
        for position, upload, attempts in self.store.queued_files(job_id):
            if self._stopping.is_set():
                return  # the rest stays queued for the next start
            entry = self._file(job.collection, upload, attempts)
            if entry is None:
                self.store.started(job_id, position)
                result, note = self._index(job.collection, upload)
                entry = JobFile(
                    source=upload.name,
                    status=result.status.value,
                    chunks=result.chunks,
                    reason=result.reason,
                    document_id=result.document_id,
                    note=note,
                )
                if attempts and result.status is Status.UNCHANGED:
                    # indexed by the run that stopped before it could say so
                    entry.status, entry.chunks = "indexed", self._chunks(job.collection, result)
            self.store.finished(job_id, position, entry)
            indexed = indexed or entry.status == "indexed"
            if self.metrics is not None and entry.status in ("indexed", "unchanged", "failed"):
                self.metrics.count_ingest(entry.status, entry.chunks)
        if indexed:
            self.components.vector_store(job.collection).optimize()
        self.store.set_status(job_id, "done")

    def _file(self, collection: str, upload: Upload, attempts: int) -> JobFile | None:
        """The outcome of a file that cannot be tried (again), or None to index it."""
        reason = None
        if attempts >= MAX_ATTEMPTS:
            reason = f"indexing it stopped the service {attempts} times"
        elif not upload.path.is_file():
            reason = "the uploaded file is gone from the uploads folder"
        if reason is None:
            return None
        doc_id = upload.spec.document_id if upload.spec and upload.spec.document_id else None
        # listed only to those who could have read it, as every failure is
        readers = Indexer(self.components, collection, groups=upload.groups).groups_for(upload.name)
        self.components.registry.record_failure(
            collection, upload.name, doc_id or document_id(collection, upload.name), reason, readers
        )
        return JobFile(source=upload.name, status="failed", reason=reason)

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

    def _chunks(self, collection: str, result: FileResult) -> int:
        if result.document_id is None:
            return 0
        versions = Indexer(self.components, collection).versions(result.document_id)
        return versions[-1].chunks if versions else 0

    def close(self) -> None:
        """Finish the file being indexed; the rest stay queued for the next start."""
        self._stopping.set()
        self._pool.shutdown(wait=True, cancel_futures=True)
        self.store.close()


def _target(components: Components, collection: str, upload: Upload) -> Target | None:
    """The document ``upload`` writes to; None when it names one the uploader may not read."""
    groups = upload.uploader_groups
    if upload.spec is not None and upload.spec.document_id:
        return visible_document(components, collection, upload.spec.document_id, groups)
    return target_for_name(components, collection, upload.name, groups)
