"""Parsing in worker processes under a time and a memory limit: no file can take ingestion down.

Each document is detected, parsed and chunked (``prepare_document``) in a worker process and
its result pickled back, unchanged. The parent watches the busy worker: past
``KURA_PARSE_TIMEOUT`` seconds, or past ``KURA_PARSE_MEMORY_MB`` of resident memory (its OCR
subprocesses included), it kills the worker's process group, reports the file as failed with
that reason, and the next file gets a fresh worker. A worker also runs under an address-space
limit (``RLIMIT_AS``), a backstop for one allocation faster than the watch (a multi-GB bitmap).

Why processes: a thread stuck in a parser's slow corner cannot be stopped, a bomb's memory
cannot be taken back from a thread, and PDFium, tesseract and libmagic are not thread-safe; a
process is the boundary for all three. The server only waits on a pipe meanwhile.

Why the fork server: forking the server itself (threads, torch's pools) is unsafe, and a freshly
spawned interpreter spends 10-30 s importing the parsers. The fork server is a fresh,
single-threaded process that imports them once; workers fork from it in milliseconds.

Why not pebble's ProcessPool: it kills on time but not on memory, and does not say which
process runs which task, so a memory kill could not be told apart from a crash.

Linux only (``/proc`` and process groups), like the rest of kura's deployment. This module is
the parent's side; the worker's loop is ``ingest.worker_child``.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import multiprocessing
import os
import queue
import signal
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from multiprocessing.context import ForkServerContext
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ingest.errors import CorruptDocument, DocumentError, OverLimit
from ingest.prepare import Prepared, PrepareOptions
from ingest.worker_child import _serve

if TYPE_CHECKING:
    from ingest.settings import IndexSettings

logger = logging.getLogger(__name__)

MIB = 1 << 20
# Imported once by the fork server, so every worker starts with the parsers loaded.
_PRELOAD = [
    "ingest.worker",
    "ingest.pdf",
    "unstructured.file_utils.filetype",
    "unstructured.partition.docx",
    "unstructured.partition.pptx",
    "unstructured.partition.xlsx",
    "unstructured.partition.html",
    "unstructured.partition.md",
    "unstructured.partition.text",
    "unstructured.partition.email",
]
_POLL_SECONDS = 0.05  # how often a busy worker's clock and memory are checked
# The address-space cap: this many times the memory limit above what a worker had mapped when
# it started (virtual size runs ahead of resident memory; the resident watch is the real limit).
_ADDRESS_SPACE_FACTOR = 2
_START_SECONDS = 120.0  # a new worker's first set-up (tokenizer, spaCy pipeline), not the file's
# A worker is replaced after this many files, or after a file that took half its memory limit:
# memory a parser freed is seldom given back to the system, and the limit counts it.
_RECYCLE_AFTER = 200
_PAGE = os.sysconf("SC_PAGE_SIZE")


@dataclass(frozen=True)
class ParseLimits:
    """What one file may cost its worker process."""

    seconds: float
    memory_mb: int

    @classmethod
    def from_settings(cls, settings: IndexSettings) -> ParseLimits:
        """The limits ``settings`` set (KURA_PARSE_TIMEOUT, KURA_PARSE_MEMORY_MB)."""
        return cls(settings.parse_timeout, settings.parse_memory_mb)

    @property
    def memory_bytes(self) -> int:
        """The memory limit in bytes."""
        return self.memory_mb * MIB


@dataclass
class ParseStats:
    """What reading one file cost (filled in by ``ParsePool.prepare`` when asked)."""

    seconds: float = 0.0
    peak_mb: float = 0.0  # the worker's peak resident memory during the file
    killed: bool = False


@functools.cache
def _context() -> ForkServerContext:
    context = multiprocessing.get_context("forkserver")
    # Ignored if the fork server already runs: workers then import the parsers themselves.
    context.set_forkserver_preload(_PRELOAD)
    return context


class _Worker:
    """One parsing process and the parent's end of its pipe."""

    def __init__(self, limits: ParseLimits) -> None:
        context = _context()
        self.conn, child_end = context.Pipe()
        allowance = _ADDRESS_SPACE_FACTOR * limits.memory_bytes
        self.process = context.Process(
            target=_serve, args=(child_end, allowance), name="kura-parse", daemon=True
        )
        self.process.start()
        child_end.close()
        self.files = 0
        self.retire = False

    @property
    def alive(self) -> bool:
        return self.process.exitcode is None and not self.conn.closed

    def prepare(
        self,
        task: tuple[bytes, str, PrepareOptions, str | None],
        limits: ParseLimits,
        stats: ParseStats,
    ) -> Prepared:
        source = task[1]
        self.files += 1
        try:
            self.conn.send(task)
        except OSError as exc:
            self.kill()
            raise CorruptDocument(source, "the parsing worker stopped before reading it") from exc
        # The clock starts when the worker starts on the file (after its first set-up).
        self._receive(source, _START_SECONDS, limits, stats, setting_up=True)
        started = time.monotonic()
        kind, payload, peak = self._receive(source, limits.seconds, limits, stats)
        stats.seconds = time.monotonic() - started
        stats.peak_mb = max(stats.peak_mb, peak / MIB)
        if kind == "ok":
            self.retire = self.files >= _RECYCLE_AFTER or peak > limits.memory_bytes / 2
            return payload
        if kind == "memory":
            self.retire = True
            raise _memory_error(source, limits)
        if kind == "error":
            raise payload
        raise CorruptDocument(source, "internal error while parsing (see the server log)")

    def _receive(
        self,
        source: str,
        seconds: float,
        limits: ParseLimits,
        stats: ParseStats,
        *,
        setting_up: bool = False,
    ) -> Any:
        started = time.monotonic()
        while True:
            if self.conn.poll(_POLL_SECONDS):
                try:
                    return self.conn.recv()
                except (EOFError, OSError):
                    break  # died mid-answer
            if self.process.exitcode is not None:
                break
            resident = _resident_bytes(self.process.pid or 0)
            stats.peak_mb = max(stats.peak_mb, resident / MIB)
            if resident > limits.memory_bytes:
                self.kill()
                stats.killed = True
                raise _memory_error(source, limits)
            if time.monotonic() - started > seconds:
                self.kill()
                stats.killed = True
                if setting_up:
                    raise CorruptDocument(source, "the parsing worker did not start in time")
                raise OverLimit(
                    source,
                    f"took longer than {seconds:g} s to read (KURA_PARSE_TIMEOUT); "
                    "the parser was stopped",
                )
        self.kill()
        stats.killed = True
        raise CorruptDocument(source, f"the parser crashed on it ({self._how_it_ended()})")

    def _how_it_ended(self) -> str:
        code = self.process.exitcode
        if code is not None and code < 0:
            try:
                return f"signal {signal.Signals(-code).name}"
            except ValueError:
                return f"signal {-code}"
        return f"exit code {code}"

    def kill(self) -> None:
        """Kill the worker and whatever it started (its own process group)."""
        pid = self.process.pid
        if pid is not None and self.process.exitcode is None:
            try:
                os.killpg(pid, signal.SIGKILL)
            except OSError:
                self.process.kill()  # not yet its own group leader
        self.process.join(5)
        self.conn.close()

    def stop(self) -> None:
        """Ask the worker to exit after its current file; kill it if it does not."""
        if self.alive:
            with contextlib.suppress(OSError):
                self.conn.send(None)
            self.process.join(2)
        self.kill()


@dataclass
class ParsePool:
    """Worker processes that prepare documents, each file under ``limits``.

    ``prepare`` may be called from several threads; at most ``workers`` files are read at a
    time. Workers start on first use and are replaced after a kill.
    """

    limits: ParseLimits
    workers: int = 1
    # Told of every file read: its source, what it cost, and the failure reason if any.
    observer: Callable[[str, ParseStats, str | None], None] | None = None
    _idle: queue.LifoQueue[_Worker | None] = field(default_factory=queue.LifoQueue)
    _live: set[_Worker] = field(default_factory=set)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _executor: ThreadPoolExecutor | None = None
    _closed: bool = False

    def __post_init__(self) -> None:
        for _ in range(self.workers):
            self._idle.put(None)

    def prepare(
        self,
        data: bytes,
        source: str,
        options: PrepareOptions,
        version: str | None = None,
        stats: ParseStats | None = None,
    ) -> Prepared:
        """Detect, parse and chunk one document in a worker; raises DocumentError (OverLimit
        when the worker was stopped) naming ``source``."""
        measured = stats if stats is not None else ParseStats()
        worker = self._idle.get()
        try:
            if worker is None or not worker.alive:
                worker = self._start()
            prepared = worker.prepare((data, source, options, version), self.limits, measured)
        except DocumentError as exc:
            if measured.killed:
                logger.warning("parsing worker stopped on %s: %s", source, exc.reason)
            if self.observer is not None:
                self.observer(source, measured, exc.reason)
            raise
        finally:
            self._idle.put(self._keep(worker))
        if self.observer is not None:
            self.observer(source, measured, None)
        logger.debug(
            "parsed %s in a worker: %.2fs, peak %.0f MB", source, measured.seconds, measured.peak_mb
        )
        return prepared

    def submit(
        self, data: bytes, source: str, options: PrepareOptions, version: str | None = None
    ) -> Future[Prepared]:
        """``prepare`` in the background, up to ``workers`` files at once."""
        with self._lock:
            if self._executor is None:
                self._executor = ThreadPoolExecutor(self.workers, thread_name_prefix="kura-parse")
            return self._executor.submit(self.prepare, data, source, options, version)

    def _start(self) -> _Worker:
        with self._lock:
            if self._closed:
                raise RuntimeError("the parsing pool is closed")
            worker = _Worker(self.limits)
            self._live.add(worker)
            return worker

    def _keep(self, worker: _Worker | None) -> _Worker | None:
        if worker is not None and (worker.retire or not worker.alive or self._closed):
            worker.stop()
            with self._lock:
                self._live.discard(worker)
            return None
        return worker

    def close(self) -> None:
        """Stop every worker (a file being read is abandoned)."""
        with self._lock:
            self._closed = True
            executor, self._executor = self._executor, None
            live, self._live = list(self._live), set()
        for worker in live:
            worker.kill()
        if executor is not None:
            executor.shutdown(wait=True, cancel_futures=True)

    def __enter__(self) -> ParsePool:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _memory_error(source: str, limits: ParseLimits) -> OverLimit:
    return OverLimit(
        source,
        f"needed more than {limits.memory_mb} MB of memory to read (KURA_PARSE_MEMORY_MB); "
        "the parser was stopped",
    )


def _resident_bytes(pid: int) -> int:
    """Resident memory of ``pid`` and of the processes it started (OCR runs tesseract)."""
    return sum(_statm_resident(p) for p in _family(pid))


def _family(pid: int, depth: int = 3) -> Iterator[int]:
    yield pid
    if depth == 0:
        return
    try:
        children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    except OSError:
        return
    for child in children:
        yield from _family(int(child), depth - 1)


def _statm_resident(pid: int) -> int:
    try:
        return int(Path(f"/proc/{pid}/statm").read_text().split()[1]) * _PAGE
    except (OSError, IndexError, ValueError):
        return 0
