"""Collections closed to writes while the server reindexes them, so no write is lost.

A reindex copies the old copy of a collection into a new one and swaps the name over; a write
that reaches the old copy after the last copy pass (a file indexed, a document deleted, its
readers changed) would be dropped with it, or leave the new copy stale: a reader who lost
access still finding a version. So while this server rebuilds a collection, nothing of this
server writes to it: its worker claims no queued file of it (they wait, and are indexed into
the new copy after the swap), and the API's direct writes answer 409 (``CollectionReindexing``).
A write already under way when the reindex is asked for finishes first; the rebuild then
starts. Writers in other processes (`kura worker` on a Qdrant server) are not held here: the
reindex's copy loop re-copies the versions they add (ingest/reindex.py).
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Protocol, TypeVar

from ingest.errors import KuraError


class Write(Protocol):
    """Something to write into a collection."""

    @property
    def collection(self) -> str: ...


W = TypeVar("W", bound=Write)
RETRY_AFTER = 30  # seconds: a small collection's rebuild; a large one answers 409 again


class CollectionReindexing(KuraError):
    """The collection is being reindexed; a write to it now would be lost (409)."""

    def __init__(self, collection: str) -> None:
        super().__init__(f"collection {collection} is being reindexed; try again when it is done")
        self.retry_after = RETRY_AFTER


class WriteGate:
    """Which collections are closed to writes, and which are being written to now."""

    def __init__(self) -> None:
        self._changed = threading.Condition()
        self._closed: set[str] = set()
        self._writing: Counter[str] = Counter()

    def close(self, collection: str) -> None:
        """Close ``collection`` to new writes and wait for the ones under way to finish."""
        with self._changed:
            self._closed.add(collection)
            self._changed.wait_for(lambda: not self._writing[collection])

    def open(self, collection: str) -> None:
        """Let writes reach ``collection`` again (its reindex swapped or gave up)."""
        with self._changed:
            self._closed.discard(collection)
            self._changed.notify_all()

    def is_closed(self, collection: str) -> bool:
        """Whether ``collection`` is being reindexed now."""
        with self._changed:
            return collection in self._closed

    @contextmanager
    def writing(self, collection: str) -> Iterator[None]:
        """Hold ``collection`` open while the block writes to it; CollectionReindexing when
        it is closed."""
        with self._changed:
            if collection in self._closed:
                raise CollectionReindexing(collection)
            self._writing[collection] += 1
        try:
            yield
        finally:
            self.done(collection)

    def claim(self, take: Callable[[frozenset[str]], W | None]) -> W | None:
        """What ``take``, given the closed collections, takes for writing (a queued file),
        counted as a write until ``done``. One step under the lock: a reindex asked for
        meanwhile waits for it to end."""
        with self._changed:
            taken = take(frozenset(self._closed))
            if taken is not None:
                self._writing[taken.collection] += 1
            return taken

    def done(self, collection: str) -> None:
        """A write ``claim`` counted has ended."""
        with self._changed:
            self._writing[collection] -= 1
            self._changed.notify_all()
