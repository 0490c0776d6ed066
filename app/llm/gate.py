"""The queue toward the model: at most so many requests in it at once, a bounded line waiting."""

from __future__ import annotations

import asyncio
import threading
from collections import deque
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from app.errors import Busy


class _Waiter:
    """One request waiting in the gate's queue; a turn is handed to it, never grabbed."""

    def __init__(self, loop: asyncio.AbstractEventLoop | None = None) -> None:
        self.granted = False
        self.event = threading.Event()
        self.loop = loop
        self.future: asyncio.Future[None] | None = loop.create_future() if loop else None

    def grant(self) -> None:
        self.granted = True
        if self.loop is not None and self.future is not None:
            self.loop.call_soon_threadsafe(_resolve, self.future)
        else:
            self.event.set()


def _resolve(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_result(None)


class Gate:
    """At most ``limit`` requests in Ollama at once, at most ``queue`` more waiting.

    Ollama answers one request per model at a time by default; more would only queue inside
    it, invisible and unbounded. Past the queue a request is refused at once (503 with
    Retry-After), and a request that waits longer than ``wait`` seconds gives up the same way.
    A released turn is handed to the first waiter (first come, first served). Waiting holds
    no thread: a coroutine waits on a future, so a client that goes away (its coroutine
    cancelled) just leaves the queue, and a turn handed to it in that instant is passed on.
    """

    def __init__(
        self,
        limit: int,
        queue: int,
        wait: float,
        on_change: Callable[[int, int], None] | None = None,
    ) -> None:
        self.limit, self.queue, self.wait = limit, queue, wait
        self._lock = threading.Lock()
        self._waiters: deque[_Waiter] = deque()
        self.in_flight = 0
        self._on_change = on_change

    @property
    def waiting(self) -> int:
        """Requests in the queue now."""
        return len(self._waiters)

    def ahead(self) -> int | None:
        """How many requests a new one would wait behind now; None when a turn is free (the
        page shows "queued, position n" instead of "writing" while it waits)."""
        with self._lock:
            if self.in_flight < self.limit and not self._waiters:
                return None
            return len(self._waiters)

    def _changed(self) -> None:
        if self._on_change is not None:
            self._on_change(self.waiting, self.in_flight)

    def _enter(self, loop: asyncio.AbstractEventLoop | None) -> _Waiter | None:
        """Under the lock: take a free turn (None), or join the queue (the waiter)."""
        if self.in_flight < self.limit and not self._waiters:
            self.in_flight += 1
            self._changed()
            return None
        if len(self._waiters) >= self.queue:
            raise Busy("the answering model is busy: too many questions waiting", 10)
        waiter = _Waiter(loop)
        self._waiters.append(waiter)
        self._changed()
        return waiter

    def _leave(self, waiter: _Waiter) -> bool:
        """Under the lock: take ``waiter`` out of the queue; True if a turn was already
        handed to it (then it holds one)."""
        if waiter.granted:
            return True
        self._waiters.remove(waiter)
        self._changed()
        return False

    def _release_locked(self) -> None:
        if self._waiters and self.in_flight <= self.limit:
            self._waiters.popleft().grant()  # the turn passes on: in_flight is unchanged
        else:
            self.in_flight -= 1  # or a turn fewer: the limit fell while it was taken
        self._changed()

    def resize(self, limit: int) -> None:
        """A new number of turns (LLM hosts went down or came back): new turns go to the
        first waiters at once; turns above a lower limit end as they are given back."""
        with self._lock:
            self.limit = limit
            while self._waiters and self.in_flight < self.limit:
                self.in_flight += 1
                self._waiters.popleft().grant()
            self._changed()

    def acquire(self) -> None:
        """Take a turn, waiting in the queue; raises Busy when the queue is full or slow."""
        with self._lock:
            waiter = self._enter(None)
        if waiter is None or waiter.event.wait(self.wait):
            return
        with self._lock:
            if self._leave(waiter):
                return
        raise Busy("the answering model is busy: waited too long for a turn", 30)

    async def acquire_async(self) -> None:
        """``acquire`` from a coroutine, holding no thread while it waits. Cancelling the
        coroutine (the client went away while its question was queued) leaves the queue."""
        with self._lock:
            waiter = self._enter(asyncio.get_running_loop())
        if waiter is None:
            return
        assert waiter.future is not None
        try:
            await asyncio.wait_for(asyncio.shield(waiter.future), self.wait)
        except TimeoutError:
            with self._lock:
                if self._leave(waiter):
                    return
            raise Busy("the answering model is busy: waited too long for a turn", 30) from None
        except asyncio.CancelledError:
            with self._lock:
                if self._leave(waiter):
                    self._release_locked()  # handed over as the client left: pass it on
            raise

    def release(self) -> None:
        """Give the turn back (to the first waiter, if any)."""
        with self._lock:
            self._release_locked()

    @contextmanager
    def slot(self) -> Iterator[None]:
        """A turn for the duration of the block."""
        self.acquire()
        try:
            yield
        finally:
            self.release()
