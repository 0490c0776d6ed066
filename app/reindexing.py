"""`kura reindex` inside the server: one rebuild per collection on a thread, its state to poll.

On the embedded store one process owns the folder, and a serving `kura serve` is it: a
rebuild in another process would have to stop the server, and search with it, for the whole
rebuild. Here the rebuild runs beside the searches of the same process, which go on answering
from the old copy (each copy by its own runtime, ``Components.runtime_for``) until the swap.
While it runs, nothing of this server writes to the collection (``app.write_gate``): what
would reach the old copy after its last copy pass would be lost with it.
A server that stops stops the rebuild after the document version being copied: the reindex
module then drops the unfinished copy and the old one goes on serving (ingest/reindex.py).
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass, field
from typing import Literal

from pydantic import BaseModel

from app.write_gate import WriteGate
from ingest.components import Components
from ingest.errors import CollectionNotFound, KuraError
from ingest.reindex import reindex

logger = logging.getLogger(__name__)

INTERNAL = "the reindex failed on an internal error; the server's log says why"


class ReindexStatus(BaseModel):
    """Where a collection's reindex stands: running (document versions copied of those
    visible), done (with what it did), or failed (why; the old copy goes on serving)."""

    collection: str
    status: Literal["running", "done", "failed"]
    done: int = 0
    total: int | None = None  # unknown until the first version is copied
    chunks: int | None = None
    documents: int | None = None
    seconds: float | None = None
    serving: str | None = None  # the Qdrant collection that serves once done
    embedder: str | None = None  # the identity it was embedded with, once done
    reason: str | None = None


class ReindexRunning(Exception):
    """A reindex of this collection is running already (409)."""


class Stopped(Exception):
    """The server is stopping: the rebuild gives up, leaving the old copy serving."""


@dataclass
class Reindexer:
    """Runs the server's reindexes, one at a time per collection, and keeps their last state."""

    components: Components
    gate: WriteGate = field(default_factory=WriteGate)  # shared with the server's worker
    _states: dict[str, ReindexStatus] = field(default_factory=dict)
    _threads: dict[str, threading.Thread] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _stopping: threading.Event = field(default_factory=threading.Event)

    def start(self, collection: str) -> ReindexStatus:
        """Start rebuilding ``collection``; ReindexRunning when it is being rebuilt already,
        CollectionNotFound when there is no such collection."""
        if not self.components.collection_exists(collection):
            raise CollectionNotFound(collection)
        with self._lock:
            if self._stopping.is_set():
                raise ReindexRunning(f"the server is stopping; {collection} was not reindexed")
            state = self._states.get(collection)
            if state is not None and state.status == "running":
                raise ReindexRunning(f"a reindex of {collection} is running already")
            state = ReindexStatus(collection=collection, status="running")
            self._states[collection] = state
            thread = threading.Thread(
                target=self._run, args=(collection,), name=f"kura-reindex-{collection}"
            )
            self._threads[collection] = thread
        thread.start()
        return state.model_copy()

    def status(self, collection: str) -> ReindexStatus | None:
        """The state of the last reindex of ``collection`` since the server started."""
        with self._lock:
            state = self._states.get(collection)
            return None if state is None else state.model_copy()

    def _run(self, collection: str) -> None:
        def progress(done: int, total: int) -> None:
            self._update(collection, done=done, total=total)
            if self._stopping.is_set():
                raise Stopped  # between two versions: the copy is dropped whole

        self.gate.close(collection)  # a file being indexed into it finishes first
        try:
            report = reindex(self.components, collection, on_version=progress)
        except Stopped:
            self._update(collection, status="failed", reason="the server stopped first")
        except KuraError as exc:
            self._update(collection, status="failed", reason=str(exc))
        except Exception:
            logger.exception("the reindex of %s failed", collection)
            self._update(collection, status="failed", reason=INTERNAL)
        else:
            self._update(
                collection,
                status="done",
                chunks=report.chunks,
                documents=report.documents,
                seconds=round(report.seconds, 3),
                serving=report.serving,
                embedder=self.components.identity.describe(),
            )
        finally:
            self.gate.open(collection)  # its waiting files go to the copy that serves now

    def _update(self, collection: str, **changes: object) -> None:
        with self._lock:
            state = self._states[collection]
            self._states[collection] = state.model_copy(update=changes)

    def close(self) -> None:
        """Stop the rebuilds after the version each is copying; the old copies go on serving."""
        self._stopping.set()
        with self._lock:
            threads = list(self._threads.values())
        for thread in threads:
            thread.join()
