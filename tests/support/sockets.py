"""Record the sockets a piece of work opens, through Python's audit hooks."""

from __future__ import annotations

import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any


@dataclass
class Sockets:
    """Each connect and address lookup seen, as (event, target)."""

    seen: list[tuple[str, Any]] = field(default_factory=list)
    others: list[threading.Thread] = field(default_factory=list)  # threads left out


_open: list[Sockets] = []


def _hook(event: str, args: tuple[Any, ...]) -> None:
    if event not in ("socket.connect", "socket.getaddrinfo") or not _open:
        return
    thread = threading.current_thread()
    for sockets in list(_open):
        if not any(thread is other for other in sockets.others):
            sockets.seen.append((event, args[1] if event == "socket.connect" else args[0]))


sys.addaudithook(_hook)  # audit hooks cannot be removed: this one only feeds open recordings


@contextmanager
def record_sockets(own_threads_only: bool = False) -> Iterator[Sockets]:
    """Record the sockets opened while inside. With ``own_threads_only``, threads already
    running (other than this one) are left out: they belong to earlier tests, such as an LLM
    host check still retrying a stand-in that has gone."""
    me = threading.current_thread()
    others = [t for t in threading.enumerate() if t is not me] if own_threads_only else []
    sockets = Sockets(others=others)
    _open.append(sockets)
    try:
        yield sockets
    finally:
        _open.remove(sockets)
