"""Healing and a server's reindex: what a stopped writer left is finished before the rebuild
copies the collection, and the worker's heal (at start, before a retry) never writes to a
collection being rebuilt, whose old copy the rebuild has partly read (app/worker.py).

A stopped writer is played by its state record (ingest/visibility.py): a version of an English
or a Japanese manual half-written by a process long gone.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from ingest.visibility import DocumentState
from tests.support.reindex import DOCS, OTHER, Gate, bearer, indexed, keyed, poll
from tests.support.server import LiveServer, make_settings

pytestmark = pytest.mark.integration

PATH = "/v1/collections/manuals/reindex"
Served = tuple[LiveServer, httpx.Client, str]


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A data folder with the collections ``manuals`` (English and Japanese) and ``other``."""
    return indexed(tmp_path_factory.mktemp("heal"), {"manuals": DOCS, "other": OTHER})


@pytest.fixture
def served(folder: Path, tmp_path: Path) -> Iterator[Served]:
    data, admin, _ = keyed(folder, tmp_path)
    live = LiveServer(make_settings(data, auth="keys"))
    with live as client:
        yield live, client, admin


def state(live: LiveServer) -> Any:
    """The served app's state: its components, worker, reindexer."""
    app: Any = live.server.config.app
    return app.state


def left_by_a_dead_writer(live: LiveServer, collection: str, source: str) -> str:
    """A new version of ``source`` half-written into ``collection`` (the copy serving it now)
    by a writer long gone: its state record; returns the document's id."""
    store: Any = state(live).components.vector_store(collection)
    payloads = store.payloads(None, ["document_id", "source"])
    document = next(str(p["document_id"]) for p in payloads if str(p["source"]).endswith(source))
    store._put_state(DocumentState(document, ("half-written",), (), "elsewhere:1:1", 0.0))
    store._bump()
    return document


def unhealed(live: LiveServer, collection: str) -> list[str]:
    """The documents of ``collection``'s serving copy with a state record left."""
    store = state(live).components.vector_store(collection)
    return [s.document_id for s in store.states()]


@pytest.mark.parametrize("source", ["pump.md", "hoshu.md"])
def test_the_workers_heal_leaves_a_collection_being_reindexed_alone(
    served: Served, monkeypatch: pytest.MonkeyPatch, source: str
) -> None:
    live, client, admin = served
    gate = Gate(monkeypatch)
    assert client.post(PATH, headers=bearer(admin)).status_code == 202
    assert gate.reached.wait(120)
    try:
        # left while the rebuild copies the old copy (a writer of another process, say)
        manual = left_by_a_dead_writer(live, "manuals", source)
        left_by_a_dead_writer(live, "other", "forklift.md")
        state(live).jobs.worker.heal()  # as before a retry, or at a start
        assert unhealed(live, "manuals") == [manual]  # the old copy, untouched
        assert unhealed(live, "other") == []  # other collections heal as before
    finally:
        gate.open()
    done = poll(client, admin, lambda s: s["status"] != "running")
    assert (done["status"], done["documents"]) == ("done", len(DOCS)), done
    assert unhealed(live, "manuals") == []  # the new copy carries no record


@pytest.mark.parametrize("source", ["pump.md", "hoshu.md"])
def test_a_reindex_heals_the_collection_before_copying_it(
    served: Served, monkeypatch: pytest.MonkeyPatch, source: str
) -> None:
    live, client, admin = served
    manual = left_by_a_dead_writer(live, "manuals", source)
    assert unhealed(live, "manuals") == [manual]
    gate = Gate(monkeypatch)
    assert client.post(PATH, headers=bearer(admin)).status_code == 202
    assert gate.reached.wait(120)
    try:
        assert unhealed(live, "manuals") == []  # healed under the closed gate, then copied
    finally:
        gate.open()
    done = poll(client, admin, lambda s: s["status"] != "running")
    assert (done["status"], done["documents"]) == ("done", len(DOCS)), done
    for query in ("why does the pump stop", "点検記録の保存期間"):
        body = {"query": query, "collection": "manuals", "mode": "hybrid", "top_k": 4}
        answer = client.post("/v1/search", json=body, headers=bearer(admin))
        assert answer.status_code == 200, answer.text
        assert answer.json()["passages"]
