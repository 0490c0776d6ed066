"""The ingestion worker: claim one queued file, index it while renewing its lease, record how it
ended; then the next. `kura serve` runs this loop on a thread (uploads need no other process)
and `kura worker` runs it alone, as many of them as the store takes.

Kill-safety comes from three things: the lease (a killed worker stops renewing it, and once it
lapses any worker claims the file again, the attempt counted: after 3 the queue fails the
file with the reason), versioned publishing (readers never see a version until it is whole,
ingest/visibility.py), and healing before a retry (what the dead writer left half-written goes
first; live writers' versions are left alone, so healing is safe beside other workers). A file
whose version was published before its worker died is found unchanged and recorded as indexed:
chunk ids derive from (document, version, index), so nothing is written twice.

An embedding host that is down, too slow or answering 5xx is not the file's fault: the file
goes back to the queue with a back-off and a reason saying so (the host named to admins only),
and fails only once it has waited KURA_EMBED_RETRY_FOR.
"""

from __future__ import annotations

import logging
import os
import signal
import socket
import threading
import uuid
from dataclasses import dataclass, field, replace
from types import FrameType

from app.job_store import ClaimedFile, JobFile, JobStore, Upload
from app.observability import Metrics
from app.write_access import Target, target_for_name, visible_document
from app.write_gate import CollectionReindexing, WriteGate
from ingest.components import Components, build_components
from ingest.errors import EmbedderMismatch, EmbedderUnreachable, KuraError
from ingest.pipeline import FileResult, Indexer, Status, VersionSpec, heal_collection
from ingest.schema import document_id
from ingest.settings import IndexSettings
from ingest.writer_lock import StoreInUse, hold

logger = logging.getLogger(__name__)


class GiveBack(BaseException):
    """Raised into the worker to stop at once: the file in hand goes back to the queue.

    A BaseException so that no ``except Exception`` on the way records the file as failed."""


def worker_name() -> str:
    """A name unique to this worker: host, process, and a random part (several per process)."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


@dataclass
class Worker:
    """Drains the upload queue into the store, one file at a time."""

    components: Components
    store: JobStore
    lease_s: float = 60.0
    poll_s: float = 2.0
    metrics: Metrics | None = None
    # the server's, whose reindexes close collections to writes (`kura worker`: its own)
    gate: WriteGate = field(default_factory=WriteGate)
    name: str = field(default_factory=worker_name)
    stopping: threading.Event = field(default_factory=threading.Event)
    _wake: threading.Event = field(default_factory=threading.Event)

    def run(self) -> None:
        """Heal what stopped writers left, then index queued files until ``stop``."""
        self.heal()
        while not self.stopping.is_set():
            try:
                busy = self.run_once()
            except Exception:
                # kura.db or the store unreachable for a moment: the worker goes on (a file
                # it held is claimed again once its lease lapses)
                logger.exception("worker %s: could not take or record a file", self.name)
                busy = False
            if not busy:
                self._wake.wait(self.poll_s)
                self._wake.clear()

    def wake(self) -> None:
        """Look at the queue now (a job was just submitted here)."""
        self._wake.set()

    def stop(self) -> None:
        """Stop after the file in hand."""
        self.stopping.set()
        self._wake.set()

    def heal(self) -> None:
        """Finish what stopped writers left in the store (live writers' versions stay), each
        collection as a write through the gate. One being reindexed is left alone: healing
        deletes and re-dates in the old copy, whose versions the rebuild may have copied already
        (it compares which versions there are, not their fields): the new copy would miss the
        change. The rebuild heals it itself, under its closed gate, before copying."""
        try:
            for name in self.components.collections():
                try:
                    with self.gate.writing(name):
                        healed = heal_collection(self.components, name)
                except CollectionReindexing:
                    continue
                if healed:
                    logger.warning("healed %d document(s) of collection %s", len(healed), name)
        except Exception:
            # The store may be down (readiness says so); the next retry heals.
            logger.exception("could not heal the store")

    def run_once(self) -> bool:
        """Claim and index one file; False when the queue had none. No file of a collection
        the server is reindexing is claimed: it waits, to be indexed into the new copy."""
        claimed = self.gate.claim(lambda closed: self.store.claim(self.name, self.lease_s, closed))
        if claimed is None:
            return False
        try:
            return self._handle(claimed)
        finally:
            self.gate.done(claimed.collection)

    def _handle(self, claimed: ClaimedFile) -> bool:
        if claimed.attempts:
            logger.warning(
                "retrying %s of job %s (attempt %d)",
                claimed.upload.name,
                claimed.job_id,
                claimed.attempts + 1,
            )
        done = threading.Event()
        renewing = threading.Thread(
            target=self._renew, args=(claimed, done), name="kura-lease", daemon=True
        )
        renewing.start()
        unreachable = None
        try:
            entry = self.process(claimed)
        except GiveBack:
            self.store.release(claimed.job_id, claimed.position, self.name)
            logger.warning("gave %s of job %s back", claimed.upload.name, claimed.job_id)
            raise
        except EmbedderUnreachable as exc:
            unreachable = exc
        finally:
            done.set()
            renewing.join()
        if unreachable is not None:
            gave_up = self._wait_for_embedder(claimed, unreachable)
            if gave_up is None:
                return True
            entry = gave_up
        if not self.store.finished(claimed.job_id, claimed.position, entry, self.name):
            logger.error(
                "%s of job %s was retried by another worker meanwhile: its outcome counts",
                claimed.upload.name,
                claimed.job_id,
            )
            return True
        logger.info(
            "%s %s (%d chunks) of job %s%s",
            entry.status,
            claimed.upload.name,
            entry.chunks,
            claimed.job_id,
            f": {entry.reason}" if entry.reason else "",
        )
        status = entry.status
        if self.metrics is not None and status != "queued" and status != "running":
            self.metrics.count_ingest(status, entry.chunks)
        job = self.store.get(claimed.job_id)
        if (
            job is not None
            and job.status == "done"
            and any(f.status == "indexed" for f in job.files)
        ):
            # the approximate index over what the job wrote (Qdrant Edge only)
            self.components.vector_store(claimed.collection).optimize()
        return True

    def _renew(self, claimed: ClaimedFile, done: threading.Event) -> None:
        # A third of the lease between renewals: two may be missed before another worker
        # could take the file.
        while not done.wait(self.lease_s / 3):
            try:
                if not self.store.renew(claimed.job_id, claimed.position, self.name, self.lease_s):
                    logger.error(
                        "lost the lease on %s of job %s: another worker retries it",
                        claimed.upload.name,
                        claimed.job_id,
                    )
                    return
            except Exception:
                logger.exception("could not renew the lease on %s", claimed.upload.name)

    def process(self, claimed: ClaimedFile) -> JobFile:
        """Index a claimed file; its outcome, failures included (never raises for a file)."""
        upload, collection = claimed.upload, claimed.collection
        entry = self._refused(collection, upload)
        if entry is not None:
            return entry
        if claimed.attempts:
            # the worker before stopped mid-file: what it left half-written goes first
            self.heal()
        result, note = self._index(collection, upload)
        entry = JobFile(
            source=upload.name,
            status=result.status.value,
            chunks=result.chunks,
            reason=result.reason,
            document_id=result.document_id,
            note=note,
        )
        if claimed.attempts and result.status is Status.UNCHANGED:
            # indexed by the worker that stopped before it could say so
            entry.status, entry.chunks = "indexed", self._chunks(collection, result)
        return entry

    def _wait_for_embedder(self, claimed: ClaimedFile, exc: EmbedderUnreachable) -> JobFile | None:
        """Queue the file again for a retry once the embedding host may be back; None. Its
        failure instead, once it has waited KURA_EMBED_RETRY_FOR."""
        settings = self.components.settings
        upload = claimed.upload
        reason = (
            "the embedding host is unreachable",
            f"the embedding host {exc.host} is unreachable ({exc})",
        )
        wait = self.store.postpone(
            claimed.job_id,
            claimed.position,
            self.name,
            reason,
            settings.embed_retry_backoff,
            settings.embed_retry_for,
        )
        if wait is not None:
            logger.warning(
                "%s of job %s waits %.0f s for the embedding host: %s",
                upload.name,
                claimed.job_id,
                wait,
                exc,
            )
            return None
        limit = f"{settings.embed_retry_for:g} s"
        public = (
            f"the embedding service stayed unreachable for {limit}; upload the file again "
            "once it is back (an administrator can see why)"
        )
        logger.error("%s of job %s failed: %s", upload.name, claimed.job_id, exc)
        self._record_failure(claimed.collection, upload, public)
        return JobFile(
            source=upload.name,
            status="failed",
            reason=public,
            detail=f"the embedding host {exc.host} stayed unreachable for {limit} "
            f"(KURA_EMBED_RETRY_FOR): {exc}",
        )

    def _record_failure(self, collection: str, upload: Upload, reason: str) -> None:
        """List the file as failed, only to those who could have read it (as every failure)."""
        doc_id = upload.spec.document_id if upload.spec and upload.spec.document_id else None
        readers = Indexer(self.components, collection, groups=upload.groups).groups_for(upload.name)
        self.components.registry.record_failure(
            collection, upload.name, doc_id or document_id(collection, upload.name), reason, readers
        )

    def _refused(self, collection: str, upload: Upload) -> JobFile | None:
        """The outcome of a file that cannot be indexed, or None to index it. (One whose
        worker stopped MAX_ATTEMPTS times the queue fails itself.)"""
        reason = None
        if not upload.path.is_file():
            reason = (
                "the file is gone"
                if upload.submitted
                else "the uploaded file is gone from the uploads folder"
            )
        if reason is None:
            return None
        self._record_failure(collection, upload, reason)
        return JobFile(source=upload.name, status="failed", reason=reason)

    def _index(self, collection: str, upload: Upload) -> tuple[FileResult, str | None]:
        try:
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
        except EmbedderUnreachable:
            raise  # not the file's fault: it waits for the host (run_once)
        except EmbedderMismatch as exc:
            # the collection needs `kura reindex` (or the embedder set back) first: say so
            logger.error("upload %s could not be indexed: %s", upload.name, exc)
            return FileResult(upload.name, Status.FAILED, reason=str(exc)), None
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


def _target(components: Components, collection: str, upload: Upload) -> Target | None:
    """The document ``upload`` writes to; None when it names one the uploader may not read."""
    groups = upload.uploader_groups
    if upload.spec is not None and upload.spec.document_id:
        found = visible_document(components, collection, upload.spec.document_id, groups)
        if found is None and upload.submitted:
            return Target(upload.spec.document_id)  # the document `kura ingest` would make
        return found
    target = target_for_name(components, collection, upload.name, groups)
    if target.readers is None and upload.submitted:
        # a new document: the id `kura ingest` gives it, so that a later direct run finds it
        return Target(document_id(collection, upload.name))
    return target


def run_worker(settings: IndexSettings) -> int:
    """`kura worker`: drain the queue until SIGTERM or SIGINT (the file in hand is finished
    first; a second signal gives it back to the queue at once). Returns the exit code."""
    try:
        lock = hold(settings, "worker")
    except StoreInUse as exc:
        if exc.holder is not None and exc.holder.role == "serve":
            fix = (
                "it indexes uploads itself, with its own worker. Several workers need a store "
                "they can all write: run Qdrant as a server and set KURA_QDRANT_URL for "
                "kura serve and every kura worker"
            )
        else:
            fix = "wait for it to finish (the embedded store takes one writer)"
        logger.error("%s; %s", exc, fix)
        return 1
    try:
        components = build_components(settings, wait_for_host=True)
    except KuraError as exc:
        logger.error("%s", exc)
        if lock is not None:
            lock.release()
        return 1
    store = JobStore(settings.state_database)
    worker = Worker(components, store, settings.worker_lease, settings.worker_poll)

    def on_signal(signum: int, frame: FrameType | None) -> None:
        if worker.stopping.is_set():
            raise GiveBack
        logger.warning("stopping after the current file (signal again: give it back now)")
        worker.stop()

    previous = {s: signal.signal(s, on_signal) for s in (signal.SIGTERM, signal.SIGINT)}
    logger.info("worker %s started", worker.name)
    try:
        if lock is not None:
            # This process alone writes the embedded store: any lease is a dead one's.
            store.expire_all()
        worker.run()
    except GiveBack:
        pass
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
        components.close()
        store.close()
        if lock is not None:
            lock.release()
    logger.info("worker %s stopped", worker.name)
    return 0


def worker_main() -> int:
    """`kura worker` from the command line: settings from the environment, logs as serve's."""
    from app.observability import configure_logging
    from app.settings import AppSettings

    settings = AppSettings()
    configure_logging(settings.log_level, json=settings.log_json)
    return run_worker(settings)
