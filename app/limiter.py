"""Failed authentications counted per client address, so key guessing meets a wall (429)."""

from __future__ import annotations

import math
import threading
import time
from collections import OrderedDict, deque


class FailureLimiter:
    """Failed authentications per client address in a sliding window.

    Past ``limit`` failures within ``window`` seconds, every failed attempt from that address
    is answered 429 until the oldest failure leaves the window. Right keys still pass: many
    people share one address (Open WebUI's server, a NAT, a proxy), and one stale key among
    them must not lock the rest out; guessing gains nothing from it, since keys carry 256
    random bits and the metrics token at least 32 characters. Memory is bounded: at most
    ``max_addresses`` addresses are remembered, the least recently failing forgotten first.
    """

    def __init__(self, limit: int, window: float, max_addresses: int = 10_000) -> None:
        self.limit = limit
        self.window = window
        self.max_addresses = max_addresses
        self._failures: OrderedDict[str, deque[float]] = OrderedDict()
        self._lock = threading.Lock()

    def retry_after(self, address: str) -> int | None:
        """Seconds until ``address`` may try again, or None if it may now."""
        if self.limit <= 0:
            return None
        now = time.monotonic()
        with self._lock:
            failures = self._failures.get(address)
            if failures is None:
                return None
            while failures and failures[0] <= now - self.window:
                failures.popleft()
            if not failures:
                del self._failures[address]
                return None
            if len(failures) < self.limit:
                return None
            return max(1, math.ceil(failures[0] + self.window - now))

    def failed(self, address: str) -> None:
        """Count one failed authentication from ``address``."""
        if self.limit <= 0:
            return
        with self._lock:
            failures = self._failures.pop(address, None) or deque(maxlen=self.limit)
            failures.append(time.monotonic())
            self._failures[address] = failures
            while len(self._failures) > self.max_addresses:
                self._failures.popitem(last=False)
