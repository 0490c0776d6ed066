"""Reading kura's streamed answers (server-sent events), and waiting for what a test expects."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any


def events(text: str) -> list[tuple[str, dict[str, Any]]]:
    """A whole SSE body as (event, data) pairs, in order."""
    found = []
    for frame in text.strip().split("\n\n"):
        lines = dict(line.split(": ", 1) for line in frame.split("\n"))
        found.append((lines["event"], json.loads(lines["data"])))
    return found


def wait_for(condition: Callable[[], bool], seconds: float = 20.0) -> None:
    """Return once ``condition()`` holds; fail the test after ``seconds``."""
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "condition not reached"
        time.sleep(0.02)
