"""Search: the passages closest to a query that the reader may see, with the collection, the
number of passages and the retrieval mode taken from settings where the caller chose none."""

from __future__ import annotations

import time
from dataclasses import dataclass

from app.observability import Metrics
from app.passages import Passage
from app.retrieve import Retriever, SearchFilters
from app.settings import AppSettings, RetrievalMode


@dataclass(frozen=True)
class Scope:
    """Where to search, how many passages and how: the caller's choice or the setting."""

    collection: str
    top_k: int
    mode: RetrievalMode

    @classmethod
    def of(
        cls,
        settings: AppSettings,
        *,
        collection: str | None = None,
        top_k: int | None = None,
        mode: RetrievalMode | None = None,
    ) -> Scope:
        """The scope of one request; what it left out (None) is the setting's value."""
        # `or`, not `is None`: an empty collection name or `--top-k 0` on the command line
        # has always meant the setting.
        return cls(
            collection=collection or settings.collection,
            top_k=top_k or settings.top_k,
            mode=mode or settings.retrieval_mode,
        )


@dataclass(frozen=True)
class Found:
    """Passages in rank order, the retrieval mode actually used, and the time it took."""

    passages: list[Passage]
    mode: RetrievalMode
    seconds: float


def search_passages(
    retriever: Retriever,
    scope: Scope,
    query: str,
    *,
    filters: SearchFilters | None = None,
    groups: list[str] | None = None,
    metrics: Metrics | None = None,
) -> Found:
    """Search ``scope``'s collection; ``groups`` is the reader's access filter (None: none,
    only when authentication is off or on the command line)."""
    started = time.perf_counter()
    mode = retriever.effective_mode(query, scope.mode, scope.collection)
    passages = retriever.search(
        scope.collection, query, scope.top_k, mode=mode, filters=filters, groups=groups
    )
    if metrics is not None:
        metrics.observe_retrieval(mode, time.perf_counter() - started)
    return Found(passages=passages, mode=mode, seconds=time.perf_counter() - started)
