"""The server's reindex closes a collection to writes (app.write_gate): a file being indexed
into it finishes first, no queued file of it is claimed, and API writes are refused."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from app.job_store import JobStore
from app.write_gate import CollectionReindexing, WriteGate
from tests.unit.test_queue import queue

pytestmark = pytest.mark.unit


def take(gate: WriteGate, store: JobStore) -> str | None:
    """The name of the file the gate lets a worker claim, if any."""
    claimed = gate.claim(lambda closed: store.claim("w", 600, closed))
    return None if claimed is None else claimed.upload.name


def test_closing_waits_for_the_file_being_indexed_then_skips_its_collection(
    tmp_path: Path,
) -> None:
    files = tmp_path / "files"
    files.mkdir()
    store, gate = JobStore(tmp_path / "kura.db"), WriteGate()
    queue(store, files, "manuals", "a.md", "b.md")
    queue(store, files, "other", "c.md")
    assert take(gate, store) == "a.md"  # being indexed into manuals
    closed = threading.Event()
    closing = threading.Thread(target=lambda: (gate.close("manuals"), closed.set()))
    closing.start()
    assert not closed.wait(0.3)  # the reindex waits for a.md
    gate.done("manuals")
    assert closed.wait(5)
    closing.join()
    assert take(gate, store) == "c.md"  # b.md waits
    gate.done("other")
    assert take(gate, store) is None
    gate.open("manuals")
    assert take(gate, store) == "b.md"
    store.close()


def test_a_write_to_a_closed_collection_is_refused_with_a_retry_after() -> None:
    gate = WriteGate()
    gate.close("manuals")
    with pytest.raises(CollectionReindexing, match="manuals is being reindexed") as refused:
        gate.writing("manuals").__enter__()
    assert refused.value.retry_after == 30
    with gate.writing("other"):
        pass
    gate.open("manuals")
    with gate.writing("manuals"):
        assert gate.is_closed("manuals") is False
