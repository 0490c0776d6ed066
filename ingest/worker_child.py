"""The parsing worker process's side of ``ingest.worker``: prepare each document sent, answer
with the result or the failure, under the limits the parent set (see ``ingest.worker`` for why
processes, and for the parent's watch)."""

from __future__ import annotations

import contextlib
import logging
import os
import resource
import signal
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

from ingest.errors import DocumentError
from ingest.prepare import PrepareOptions, prepare_document

logger = logging.getLogger(__name__)

_PAGE = os.sysconf("SC_PAGE_SIZE")
_WARM_UP = b"Warm-up. The pump starts.\n"


def _serve(conn: Connection, allowance: int) -> None:
    """A worker's loop: prepare each document sent, answer (kind, payload, peak bytes)."""
    # Its own process group: a kill takes its OCR subprocesses along, and Ctrl-C in a terminal
    # reaches only the parent, which decides.
    os.setpgrp()
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    # A parser crashing on a hostile file would write a core file the size of the worker.
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    _cap_address_space(allowance)
    warm = False
    while True:
        try:
            task = conn.recv()
        except (EOFError, OSError):
            return
        if task is None:
            return
        if not warm:
            _warm_up(task[2])
            warm = True
        conn.send(("started", None, 0))
        _reset_peak()
        try:
            outcome: tuple[str, Any] = ("ok", prepare_document(*task))
        except Exception as exc:  # noqa: BLE001  (every failure becomes an answer)
            outcome = _failure(exc, task[1])
        try:
            conn.send((*outcome, _peak_bytes()))
        except Exception as exc:  # noqa: BLE001  (the answer itself would not pickle)
            kind = "memory" if _caused_by_memory(exc) else "internal"
            conn.send((kind, None, _peak_bytes()))


def _failure(exc: Exception, source: str) -> tuple[str, Any]:
    if _caused_by_memory(exc):
        return "memory", None
    if isinstance(exc, DocumentError):
        return "error", exc
    logger.error("unexpected error preparing %s", source, exc_info=exc)
    return "internal", None


def _caused_by_memory(exc: BaseException | None) -> bool:
    # Parsers wrap what they hit (CorruptDocument from MemoryError): look down the chain.
    seen = 0
    while exc is not None and seen < 20:
        if isinstance(exc, MemoryError):
            return True
        exc = exc.__cause__ or exc.__context__
        seen += 1
    return False


def _warm_up(options: PrepareOptions) -> None:
    # The tokenizer, unstructured's offline spaCy pipeline: loaded once, before the clock runs.
    try:
        prepare_document(_WARM_UP, "warm-up.txt", options)
    except Exception:  # a real file will report the problem
        logger.debug("worker warm-up failed", exc_info=True)


def _cap_address_space(allowance: int) -> None:
    try:
        mapped = int(Path("/proc/self/statm").read_text().split()[0]) * _PAGE
        _soft, hard = resource.getrlimit(resource.RLIMIT_AS)
        limit = mapped + allowance
        if hard != resource.RLIM_INFINITY:
            limit = min(limit, hard)
        resource.setrlimit(resource.RLIMIT_AS, (limit, hard))
    except (OSError, ValueError):
        logger.warning("cannot limit the parsing worker's address space", exc_info=True)


def _reset_peak() -> None:
    with contextlib.suppress(OSError):
        Path("/proc/self/clear_refs").write_text("5")  # resets VmHWM (Linux >= 4.0)


def _peak_bytes() -> int:
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    except (OSError, ValueError):
        pass
    return 0
