"""A test hook: stop at a named point of ingestion so a crash test can kill -9 the process
exactly there (``KURA_TEST_PAUSE_AT``). Unset, ``checkpoint`` does nothing."""

from __future__ import annotations

import logging
import threading
from collections import Counter
from pathlib import Path

logger = logging.getLogger(__name__)

_armed: dict[str, object] = {}
_reached: Counter[str] = Counter()
_lock = threading.Lock()


def arm(point: str, data_dir: Path) -> None:
    """Pause at ``point`` ("write", or "write:2" for its second time); "" disarms."""
    name, _, nth = point.partition(":")
    with _lock:
        _armed.clear()
        _reached.clear()
        if name:
            _armed.update(name=name, nth=int(nth or 1), data_dir=data_dir)


def checkpoint(point: str) -> None:
    """Mark reaching ``point``; when it is the armed one, say so on disk and wait forever."""
    with _lock:
        if _armed.get("name") != point:
            return
        _reached[point] += 1
        if _reached[point] != _armed["nth"]:
            return
        data_dir = Path(str(_armed["data_dir"]))
    data_dir.mkdir(parents=True, exist_ok=True)
    (data_dir / f"paused-{point}").touch()
    logger.warning("paused at %s (KURA_TEST_PAUSE_AT) until killed", point)
    threading.Event().wait()
