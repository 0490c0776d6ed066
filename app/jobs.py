"""Uploads indexed in the background by the server's own worker; each job has a status to poll.

The API saves the uploaded bytes first (under ``<data_dir>/uploads``, so nothing uploaded is
lost and citations can be checked against it), records the job and its files in kura's state
database (the queue), and only then answers 202 with the job id: an accepted upload survives
any number of restarts. A thread of the server runs the worker loop (``app.worker``), the same
loop `kura worker` runs alone: it claims queued files one at a time, whoever queued them (an
upload here, `kura ingest` beside the server), and every accepted file ends indexed or failed
with a reason. One thread: a second parse would only halve the speed of the first on a small
machine; more indexing power is more `kura worker` processes on a Qdrant server.
"""

from __future__ import annotations

import logging
import threading
import uuid
from dataclasses import dataclass, field

from app.job_store import Job, JobFile, JobStore, Upload
from app.observability import Metrics
from app.worker import Worker
from app.write_gate import WriteGate
from ingest.components import Components
from ingest.writer_lock import StoreInUse, WriterLock, hold

logger = logging.getLogger(__name__)


@dataclass
class JobRunner:
    """Queues upload jobs and runs the worker loop on a thread of the server."""

    components: Components
    store: JobStore
    metrics: Metrics | None = None
    url: str | None = None  # the server's, named in the writer lock (`kura reindex` calls it)
    gate: WriteGate = field(default_factory=WriteGate)  # closed while reindexed: files wait
    worker: Worker = field(init=False)
    _thread: threading.Thread | None = None

    def __post_init__(self) -> None:
        settings = self.components.settings
        self.worker = Worker(
            self.components,
            self.store,
            lease_s=settings.worker_lease,
            poll_s=settings.worker_poll,
            metrics=self.metrics,
            gate=self.gate,
        )

    def submit(self, collection: str, user: str, uploads: list[Upload]) -> Job:
        """Record ``uploads`` for indexing into ``collection`` and queue them; returns the job."""
        job = Job(
            id=uuid.uuid4().hex,
            collection=collection,
            user=user,
            # nothing to index (every file refused): done as it is recorded
            status="queued" if uploads else "done",
            files=[JobFile(source=u.name) for u in uploads],
        )
        self.store.create(job, uploads)
        self.worker.wake()
        return job

    def resume(self) -> list[str]:
        """Start the worker thread: it heals the store, then indexes what is queued, the jobs
        a stopped service left unfinished first (the API answers meanwhile: readers see whole
        versions only, healed or not); returns the unfinished jobs' ids."""
        unfinished = self.store.unfinished()
        for job_id in unfinished:
            logger.warning("resuming upload job %s", job_id)
        self._thread = threading.Thread(target=self._work, name="kura-ingest", daemon=True)
        self._thread.start()
        return unfinished

    def _work(self) -> None:
        lock = self._hold()
        if self.worker.stopping.is_set():
            return
        try:
            if lock is not None:
                # This process alone writes the embedded store: any lease is a dead one's.
                freed = self.store.expire_all()
                if freed:
                    logger.warning("%d file(s) of a stopped worker go back to the queue", freed)
            self.worker.run()
        except Exception:
            logger.exception("the upload worker stopped")
        finally:
            if lock is not None:
                lock.release()

    def _hold(self) -> WriterLock | None:
        """The embedded store's writer lock, waited for while another process (a `kura
        ingest` run) holds it; None on a Qdrant server, or when stopped meanwhile."""
        told = False
        while not self.worker.stopping.is_set():
            try:
                return hold(self.components.settings, "serve", self.url)
            except StoreInUse as exc:
                if not told:
                    logger.warning("uploads wait: %s", exc)
                    told = True
            self.worker.stopping.wait(self.worker.poll_s)
        return None

    def get(self, job_id: str) -> Job | None:
        """A job by id; its queued files say so when they wait for a reindex to end."""
        job = self.store.get(job_id)
        if job is not None and self.gate.is_closed(job.collection):
            waiting = f"waiting: collection {job.collection} is being reindexed"
            for entry in job.files:
                if entry.status == "queued" and entry.reason is None:
                    entry.reason = waiting
        return job

    def close(self) -> None:
        """Finish the file being indexed; the rest stay queued for the next start."""
        self.worker.stop()
        if self._thread is not None:
            self._thread.join()
        self.store.close()
