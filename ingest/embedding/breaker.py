"""What kura remembers of an embedding host that failed: a circuit breaker shared by every
request (searches, uploads, /readyz) of one process.

Without it a host that accepts connections but never answers (a hung GPU box, a firewall that
drops packets) makes every search by meaning wait the whole timeout, one after another. No
library in the environment does this: tenacity retries one call, it shares no down state
between callers.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

from ingest.errors import EmbedderUnreachable

logger = logging.getLogger(__name__)


class HostBreaker:
    """The embedding host's state: up, or down since a failure, for ``window`` seconds.

    A call that fails to reach the host (EmbedderUnreachable: down, timed out, 5xx) marks it
    down. While it is down, every call is refused at once with that failure (a search answers
    503 with Retry-After), without touching the host. Once ``window`` seconds have passed, one
    call at a time goes through to check the host (the probe); the others go on being refused
    meanwhile, and no call waits for another. A call that reaches the host, whatever it answers
    (a model not pulled is the host answering), marks it up; one that fails starts a new window.
    """

    def __init__(self, window: float) -> None:
        self.window = window
        self._lock = threading.Lock()
        # what the failure said, and its host: kept as text (the exception holds its frames)
        self._failure: tuple[str, str] | None = None
        self._retry_at = 0.0
        self._probing = False

    @contextmanager
    def attempt(self) -> Iterator[None]:
        """One call to the host (the block): refused at once while the host is known to be
        down and it is not this call's turn to check it (EmbedderUnreachable)."""
        probe = self._admit()
        try:
            yield
        except EmbedderUnreachable as exc:
            self._down(exc, probe)
            raise
        except Exception:
            self._up()  # the host answered, with a refusal kura reports as it is
            raise
        except BaseException:  # cancelled or interrupted: says nothing about the host
            if probe:
                self._end_probe()
            raise
        self._up()

    def _admit(self) -> bool:
        """Whether this call is the probe of a host that is down (False: the host is up);
        raises the remembered failure when it must not call the host now."""
        with self._lock:
            failure = self._failure
            if failure is None:
                return False
            wait = self._retry_at - time.monotonic()
            if wait <= 0 and not self._probing:
                self._probing = True
                return True
        message, host = failure
        when = f"in {math.ceil(wait)} s" if wait > 0 else "now, by another request"
        raise EmbedderUnreachable(f"{message}; kura asks it again {when}", host)

    def _down(self, failure: EmbedderUnreachable, probe: bool) -> None:
        with self._lock:
            was_up = self._failure is None
            self._failure = (str(failure), failure.host)
            self._retry_at = time.monotonic() + self.window
            if probe:
                self._probing = False
        if was_up:  # info: what failed is reported where it failed (a search, a file, /readyz)
            logger.info(
                "embedding host down (%s): searches by meaning answer 503 at once, and it is "
                "checked again every %g s",
                failure,
                self.window,
            )

    def _up(self) -> None:
        with self._lock:
            was_down = self._failure is not None
            self._failure, self._probing = None, False
        if was_down:
            logger.info("embedding host answers again")

    def _end_probe(self) -> None:
        with self._lock:
            self._probing = False
