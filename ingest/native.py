"""One guarded owner for each native library that must not be entered from two threads at once.

kura serves questions from a thread pool while its upload worker parses and embeds on another
thread, so every native library is reached from several threads. The audit of each one is in
docs/architecture.md ("Native libraries and threads"); tests/support/native_load.py loads each from
several threads through kura's own code. Of them, only PDFium needs a lock of kura's:

PDFium (pypdfium2) is not thread-safe at all, not even for different documents: two threads
inside it corrupt its memory (a segfault or a heap abort, no traceback). Every call into it goes
through :func:`pdfium`, and so does the closing of pages and documents: pypdfium2 closes them
in finalizers, which run on whatever thread drops the last reference, so kura closes them
explicitly while the lock is held. The lock is re-entrant: a guarded function may call another.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager

PDFIUM_LOCK = threading.RLock()


@contextmanager
def pdfium() -> Iterator[None]:
    """Hold PDFium for the calls (and closes) inside the block."""
    with PDFIUM_LOCK:
        yield
