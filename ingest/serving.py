"""The copy that serves a collection while one search runs on it, and the searches still on a
copy that `kura reindex` swapped out.

A collection is served by one Qdrant collection at a time (a copy), and each copy is embedded
by its own runtime: `kura reindex` builds a new copy (fp32 to int8, or another model) and
switches the name over while the server searches. A search that looked the name up twice,
once for the runtime that embeds its query and once for the store it queries, could take one
from each copy when the switch falls between: a query vector of one model searched among
another's points (silently worse results, or Qdrant refusing a vector of another length). So
a search takes the copy once (``Components.serving``): its name, its store and its runtime
together, and holds it until done; the replaced copy is closed and deleted only once no
search of this process holds it (``Leases``).
"""

from __future__ import annotations

import threading
from collections import Counter
from dataclasses import dataclass

from ingest.stores import KuraStore


@dataclass(frozen=True)
class Serving:
    """The copy serving a collection when a search began: the Qdrant collection, its store,
    and the runtime that embeds queries for it (None: Ollama; known only when ``checked``)."""

    collection: str
    physical: str
    store: KuraStore
    runtime: str | None
    checked: bool  # the copy's embedder was checked against the configured one


class Leases:
    """How many searches of this process hold each copy."""

    def __init__(self) -> None:
        self._changed = threading.Condition()
        self._held: Counter[str] = Counter()

    def take(self, physical: str) -> None:
        """A search holds ``physical`` (taken where the copy is looked up, before any swap)."""
        with self._changed:
            self._held[physical] += 1

    def give_back(self, physical: str) -> None:
        """A search holding ``physical`` is done."""
        with self._changed:
            self._held[physical] -= 1
            self._changed.notify_all()

    def wait_free(self, physical: str) -> None:
        """Return once no search holds ``physical`` (it serves no new one: swapped out)."""
        with self._changed:
            self._changed.wait_for(lambda: not self._held[physical])
