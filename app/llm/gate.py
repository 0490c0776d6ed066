"""The queue toward the model: at most so many requests in it at once, a bounded line waiting."""

from __future__ import annotations

import asyncio
import threading
from collections import deque
from collections.abc import AsyncGenerator, Callable, Iterator
from contextlib import aclosing, contextmanager

from app.errors import Busy


class _Waiter:
    """One request waiting in the gate's queue; a turn is handed to it, never grabbed. The
    gate tells it its place in line (1: next) as the line moves, so it never has to look."""

    def __init__(self, place: int, loop: asyncio.AbstractEventLoop | None = None) -> None:
        self.granted = False
        self.place = place
        self.event = threading.Event()
        self.loop = loop
        # A coroutine's: a turn handed over or a new place, either wakes it.
        self.stirred = asyncio.Event()

    def _stir(self) -> None:
        if self.loop is not None:
            self.loop.call_soon_threadsafe(self.stirred.set)
        else:
            self.event.set()

    def grant(self) -> None:
        self.granted = True
        self._stir()

    def move(self, place: int) -> None:
        """Its new place in line; a thread that waits (no coroutine) is not woken for it."""
        if place != self.place:
            self.place = place
            if self.loop is not None:
                self._stir()


class Gate:
    """At most ``limit`` requests in Ollama at once, at most ``queue`` more waiting.

    Ollama answers one request per model at a time by default; more would only queue inside
    it, invisible and unbounded. Past the queue a request is refused at once (503 with
    Retry-After), and a request that waits longer than ``wait`` seconds gives up the same way.
    A released turn is handed to the first waiter (first come, first served), and every
    waiter behind it is told its new place, so a queued question can show its place in line
    as it counts down. Waiting holds no thread: a coroutine waits on an event the gate sets,
    so a client that goes away (its coroutine cancelled) just leaves the queue, and a turn
    handed to it in that instant is passed on.
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

    def _changed(self) -> None:
        for place, waiter in enumerate(self._waiters, 1):
            waiter.move(place)
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
        waiter = _Waiter(len(self._waiters) + 1, loop)
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

    async def take_turn(self) -> AsyncGenerator[int, None]:
        """Take a turn from a coroutine, holding no thread while it waits: yields the place in
        line (1: next) on joining the queue and again each time it changes, and ends holding
        the turn (at once when one is free). The gate wakes it, nothing polls. Closing it or
        cancelling the coroutine (the client went away while its question was queued) leaves
        the queue; a turn handed over in that instant is passed on."""
        loop = asyncio.get_running_loop()
        with self._lock:
            waiter = self._enter(loop)
        if waiter is None:
            return
        deadline, told = loop.time() + self.wait, 0
        try:
            while not waiter.granted:
                if waiter.place != told:
                    told = waiter.place
                    yield told
                    continue  # the turn may have come while the caller was away
                waiter.stirred.clear()  # a stir set after the checks above runs after this
                async with asyncio.timeout_at(deadline):
                    await waiter.stirred.wait()
        except TimeoutError:
            with self._lock:
                if self._leave(waiter):
                    return
            raise Busy("the answering model is busy: waited too long for a turn", 30) from None
        except BaseException:  # cancelled, or closed while it waited
            with self._lock:
                if self._leave(waiter):
                    self._release_locked()  # handed over as the client left: pass it on
            raise

    async def acquire_async(self) -> None:
        """``take_turn`` for a caller that does not show the place in line."""
        async with aclosing(self.take_turn()) as places:
            async for _ in places:
                pass

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
