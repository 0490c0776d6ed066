"""The LLM hosts: which are up, how busy each is, and the checks that bring a host back."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Collection
from dataclasses import dataclass
from typing import Any

from app.llm.gate import Gate

logger = logging.getLogger(__name__)

MAX_BACKOFF = 60.0  # seconds between checks of a host that stays down


@dataclass(eq=False)
class Host:
    """One server that runs the model, and what kura knows of it now."""

    url: str
    slots: int  # requests it generates at once (OLLAMA_NUM_PARALLEL)
    in_flight: int = 0
    up: bool = True
    reason: str = ""  # why it was marked down
    # Marked down for hanging: it may still answer the checks that load nothing, so it is up
    # again only once it writes (AnsweringModel._check).
    hung: bool = False
    checked_at: float = 0.0  # when it is checked again (monotonic), while down
    backoff: float = 0.0
    answered: int = 0
    failed: int = 0
    last_picked: float = 0.0

    def load(self) -> float:
        """How busy it is: requests in it per slot."""
        return self.in_flight / self.slots


# What a host check says: None when the host can answer, else why it cannot.
Check = Callable[[Host], str | None]


class HostPool:
    """The hosts of one backend, and the gate's turns kept equal to their slots.

    A question goes to the host with the fewest requests per slot among those up (the least
    recently picked on a tie). A host that fails is marked down: its slots leave the gate, so
    queued questions wait for live hosts only, and a thread checks it again after a back-off
    (``retry_after``, doubled each failed check up to a minute). When every host is down
    each question tries them all, so the error it gets says what is wrong now.
    """

    def __init__(
        self,
        slots: dict[str, int],
        gate: Gate,
        check: Check,
        retry_after: float,
        role: str = "LLM host",
    ):
        """``role``: what the hosts are called in the log ("LLM host", "reranking host")."""
        self.hosts = [Host(url, n) for url, n in slots.items()]
        self.role = role
        self.gate = gate
        self._check = check
        self._retry_after = retry_after
        self._lock = threading.Lock()
        self._wake = threading.Condition(self._lock)
        self._checker: threading.Thread | None = None
        self._closed = False
        gate.resize(self._capacity())

    def _capacity(self) -> int:
        up = [h for h in self.hosts if h.up] or self.hosts
        return sum(h.slots for h in up)

    def pick(self, exclude: Collection[Host] = ()) -> Host | None:
        """The least busy host that is up and not in ``exclude`` (when none is up: one that
        is down), counted in flight there; None when every host was excluded."""
        with self._lock:
            left = [h for h in self.hosts if h not in exclude]
            candidates = [h for h in left if h.up] or left
            if not candidates:
                return None
            host = min(candidates, key=lambda h: (h.load(), h.last_picked))
            host.in_flight += 1
            host.last_picked = time.monotonic()
            return host

    def done(self, host: Host, answered: bool | None) -> None:
        """A request on ``host`` ended: answered, failed, or None (the client left); one
        that answered shows the host is up."""
        with self._lock:
            host.in_flight -= 1
            if answered:
                host.answered += 1
            elif answered is False:
                host.failed += 1
        if answered and not host.up:
            self.mark_up(host)

    def mark_down(self, host: Host, reason: str, hung: bool = False) -> None:
        """``host`` failed: no new questions go to it until a check finds it answering
        (``hung``: it sent nothing for the hang timeout; then, writing)."""
        with self._lock:
            host.reason = reason
            host.hung = host.hung or hung
            if not host.up:
                return
            host.up = False
            host.backoff = self._retry_after
            host.checked_at = time.monotonic() + host.backoff
            capacity = self._capacity()
            if self._checker is None and not self._closed:
                self._checker = threading.Thread(
                    target=self._check_down_hosts, name="kura-llm-hosts", daemon=True
                )
                self._checker.start()
            self._wake.notify_all()
        logger.warning(
            "%s %s is down (%s); checking it again in %gs",
            self.role,
            host.url,
            reason,
            host.backoff,
        )
        self.gate.resize(capacity)

    def mark_up(self, host: Host) -> None:
        """``host`` answers again: its slots go back to the gate (queued questions first)."""
        with self._lock:
            if host.up:
                return
            host.up, host.reason, host.backoff, host.hung = True, "", 0.0, False
            capacity = self._capacity()
        logger.warning("%s %s is up again", self.role, host.url)
        self.gate.resize(capacity)

    def _check_down_hosts(self) -> None:
        """Check each host that is down when its back-off ends; stop when all are up."""
        while True:
            with self._lock:
                down = [h for h in self.hosts if not h.up]
                if self._closed or not down:
                    self._checker = None
                    return
                now = time.monotonic()
                due = [h for h in down if h.checked_at <= now]
                if not due:
                    self._wake.wait(min(h.checked_at for h in down) - now)
                    continue
            for host in due:
                self.check(host)

    def check(self, host: Host) -> str | None:
        """Ask ``host`` whether it can answer, and mark it up or down by what it says."""
        problem = self._check(host)
        if problem is None:
            self.mark_up(host)
            return None
        with self._lock:
            if not host.up:
                host.reason = problem
                host.backoff = min(host.backoff * 2, MAX_BACKOFF)
                host.checked_at = time.monotonic() + host.backoff
                return problem
        self.mark_down(host, problem)
        return problem

    def status(self) -> list[dict[str, Any]]:
        """Each host as /readyz shows it."""
        with self._lock:
            return [
                {
                    "url": h.url,
                    "up": h.up,
                    "in_flight": h.in_flight,
                    "slots": h.slots,
                    "answered": h.answered,
                    "failed": h.failed,
                    **({"detail": h.reason} if h.reason else {}),
                }
                for h in self.hosts
            ]

    def close(self) -> None:
        """Stop checking hosts that are down."""
        with self._lock:
            self._closed = True
            self._wake.notify_all()
            checker = self._checker
        if checker is not None:
            checker.join(timeout=10)
