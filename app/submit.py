"""`kura ingest` beside a running `kura serve`: the files go to the server's queue, not the store.

The embedded store takes one writer, and the server is it. Both processes share kura.db (the
same data dir, or one PostgreSQL), so `kura ingest` records a job there, as an upload would, and
the server's worker indexes it; the command waits and reports as a direct run does. Files are
named by their absolute paths and read in place, so their documents are the ones a direct run
makes (a later direct run finds them unchanged).
"""

from __future__ import annotations

import getpass
import time
import uuid
from pathlib import Path

from rich.console import Console
from rich.markup import escape

from app.job_store import Job, JobFile, JobStore, Upload
from ingest.pipeline import VersionSpec
from ingest.settings import IndexSettings
from ingest.writer_lock import Holder, StoreInUse, hold

EXIT_ERROR = 1
EXIT_PARTIAL = 3
_POLL_S = 0.5


def queue_files(
    settings: IndexSettings,
    collection: str,
    files: list[tuple[Path, tuple[str, ...] | None]],
    spec: VersionSpec | None,
) -> Job:
    """Record a job of ``files`` (each with the groups that may read it, None: the collection's
    default) in the queue; returns it."""
    uploads = [Upload(str(path.resolve()), path.resolve(), groups, spec) for path, groups in files]
    job = Job(
        id=uuid.uuid4().hex,
        collection=collection,
        user=f"cli:{getpass.getuser()}",
        status="queued" if uploads else "done",
        files=[JobFile(source=u.name) for u in uploads],
    )
    with JobStore(settings.state_database) as store:
        store.create(job, uploads)
    return job


def wait(settings: IndexSettings, job_id: str) -> Job | None:
    """The job once done; None when the server stopped first (the job stays queued)."""
    with JobStore(settings.state_database) as store:
        while True:
            job = store.get(job_id)
            if job is None or job.status == "done":
                return job
            try:
                lock = hold(settings, "ingest")
            except StoreInUse:
                time.sleep(_POLL_S)
                continue
            if lock is not None:
                lock.release()  # nobody writes the store any more: the server is gone
            return None


def queue_to_server(
    settings: IndexSettings,
    collection: str,
    files: list[tuple[Path, tuple[str, ...] | None]],
    spec: VersionSpec | None,
    holder: Holder | None,
    console: Console,
) -> int:
    """Queue ``files`` to the server holding the store, wait, report; returns the exit code."""
    who = holder.describe() if holder else "a running kura serve"
    started = time.perf_counter()
    job = queue_files(settings, collection, files, spec)
    console.print(
        f"{who} holds the embedded store: {len(files)} file(s) queued to its worker "
        f"as job {job.id} (Ctrl-C stops waiting; the job goes on)"
    )
    try:
        done = wait(settings, job.id)
    except KeyboardInterrupt:
        console.print(f"not waiting; job {job.id} goes on (GET /v1/jobs/{job.id})")
        return 0
    if done is None:
        console.print(
            f"[red]error:[/red] the server stopped before job {job.id} was done; it stays "
            "queued and resumes when kura serve (or kura worker) starts again"
        )
        return EXIT_ERROR
    counts = {s: sum(f.status == s for f in done.files) for s in ("indexed", "unchanged")}
    failed = [f for f in done.files if f.status == "failed"]
    console.print(
        f"[bold]{collection}[/bold]: {counts['indexed']} indexed "
        f"({sum(f.chunks for f in done.files)} chunks), {counts['unchanged']} unchanged, "
        f"{len(failed)} failed, in {time.perf_counter() - started:.1f}s (job {done.id})"
    )
    for f in failed:
        console.print(f"  [red]failed[/red] {escape(f.source)}: {escape(f.reason or '')}")
    return EXIT_PARTIAL if failed else 0
