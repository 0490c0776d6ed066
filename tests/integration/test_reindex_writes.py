"""No write is lost to a collection while the server reindexes it (app.write_gate).

A reindex held mid-copy (tests.support.reindex.Gate): uploads into the collection are accepted
and wait queued, saying why, then are indexed into the new copy after the swap, found in
English and Japanese; deletes answer 409 and leave the old copy as it was; another
collection's uploads are indexed meanwhile.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest

from ingest.components import Components
from tests.support.reindex import DOCS, OTHER, Gate, bearer, indexed, keyed, poll
from tests.support.server import LiveServer, make_settings

pytestmark = pytest.mark.integration

MANUALS = {name: text for name, text in DOCS.items() if name != "ponpu.md"}
VALVE = "# Relief valve\n\nThe relief valve of the boiler opens at a pressure of 8 bar.\n"
BATTERY = "# 非常用電池\n\n非常用照明の蓄電池は三年ごとに交換すること。\n"
PATH = "/v1/collections/manuals/reindex"
Served = tuple[LiveServer, httpx.Client, str]


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A data folder with the collections ``manuals`` and ``other``."""
    return indexed(tmp_path_factory.mktemp("writes"), {"manuals": MANUALS, "other": OTHER})


@pytest.fixture
def served(folder: Path, tmp_path: Path) -> Iterator[Served]:
    data, admin, _ = keyed(folder, tmp_path)
    live = LiveServer(make_settings(data, auth="keys", worker_poll=0.2))
    with live as client:
        yield live, client, admin


def components_of(live: LiveServer) -> Components:
    app: Any = live.server.config.app
    components: Components = app.state.components
    return components


def upload(client: httpx.Client, key: str, collection: str, name: str, text: str) -> str:
    """Upload one file; its job's id (the upload accepted: 202)."""
    answer = client.post(
        f"/v1/collections/{collection}/documents",
        files=[("files", (name, text.encode()))],
        headers=bearer(key),
    )
    assert answer.status_code == 202, answer.text
    job_id: str = answer.json()["job_id"]
    return job_id


def job(client: httpx.Client, key: str, job_id: str) -> Any:
    return client.get(f"/v1/jobs/{job_id}", headers=bearer(key)).json()


def finished(client: httpx.Client, key: str, job_id: str) -> Any:
    """The job once done, every file indexed."""
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        state = job(client, key, job_id)
        if state["status"] == "done":
            assert [f["status"] for f in state["files"]] == ["indexed"], state
            return state
        time.sleep(0.1)
    raise AssertionError(f"job {job_id} did not finish")


def still_queued(client: httpx.Client, key: str, job_id: str) -> None:
    """The job waits for the reindex, saying so (after several looks of the worker)."""
    time.sleep(2)
    state = job(client, key, job_id)
    assert state["status"] == "queued", state
    for entry in state["files"]:
        assert entry["status"] == "queued", state
        assert entry["reason"] == "waiting: collection manuals is being reindexed"


def top_source(client: httpx.Client, key: str, collection: str, query: str) -> str:
    body = {"query": query, "collection": collection, "mode": "dense", "top_k": 3}
    answer = client.post("/v1/search", json=body, headers=bearer(key))
    assert answer.status_code == 200, answer.text
    source: str = answer.json()["passages"][0]["source"]
    return source


@contextmanager
def reindex_held(client: httpx.Client, key: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """A reindex of ``manuals`` held mid-copy for the block, then let go and swapped in."""
    gate = Gate(monkeypatch)
    assert client.post(PATH, headers=bearer(key)).status_code == 202
    assert gate.reached.wait(120)
    try:
        yield
    finally:
        gate.open()
    done = poll(client, key, lambda s: s["status"] != "running")
    assert (done["status"], done["serving"]) == ("done", "kura_manuals__1"), done


def test_uploads_during_a_reindex_wait_then_go_into_the_new_copy(
    served: Served, monkeypatch: pytest.MonkeyPatch
) -> None:
    live, client, admin = served
    components = components_of(live)
    old = components.vector_store("manuals")
    points = old.count_all()
    with reindex_held(client, admin, monkeypatch):
        english = upload(client, admin, "manuals", "valve.md", VALVE)
        japanese = upload(client, admin, "manuals", "denchi.md", BATTERY)
        still_queued(client, admin, english)
        still_queued(client, admin, japanese)
        assert old.count_all() == points  # nothing reached the old copy
    finished(client, admin, english)
    finished(client, admin, japanese)
    name = components.qdrant_name("manuals")
    assert components.backend.physical(name) == "kura_manuals__1"
    new = components.vector_store("manuals")
    assert new.count_all() == points + 2
    assert top_source(client, admin, "manuals", "at what pressure does the valve open") == (
        "valve.md"
    )
    assert top_source(client, admin, "manuals", "蓄電池はいつ交換しますか") == "denchi.md"


def test_deletes_during_a_reindex_are_refused_and_write_nothing(
    served: Served, monkeypatch: pytest.MonkeyPatch
) -> None:
    live, client, admin = served
    components = components_of(live)
    listed = client.get("/v1/collections/manuals/documents", headers=bearer(admin)).json()
    pump = next(d["document_id"] for d in listed["documents"] if d["source"].endswith("pump.md"))
    old = components.vector_store("manuals")
    points = old.count_all()
    with reindex_held(client, admin, monkeypatch):
        refused = client.delete(f"/v1/collections/manuals/documents/{pump}", headers=bearer(admin))
        assert refused.status_code == 409, refused.text
        assert refused.headers["Retry-After"] == "30"
        assert refused.json() == {
            "detail": "collection manuals is being reindexed; try again when it is done",
            "error": "CollectionReindexing",
        }
        whole = client.delete("/v1/collections/manuals", headers=bearer(admin))
        assert whole.status_code == 409, whole.text
        assert old.count_all() == points  # nothing was deleted from the old copy
    assert components.vector_store("manuals").count_all() == points  # nor from the new
    deleted = client.delete(f"/v1/collections/manuals/documents/{pump}", headers=bearer(admin))
    assert deleted.status_code == 200, deleted.text
    assert components.vector_store("manuals").count_all() == points - 1


def test_another_collections_uploads_are_indexed_during_a_reindex(
    served: Served, monkeypatch: pytest.MonkeyPatch
) -> None:
    _, client, admin = served
    with reindex_held(client, admin, monkeypatch):
        waiting = upload(client, admin, "manuals", "valve.md", VALVE)  # queued first
        indexed = upload(client, admin, "other", "valve.md", VALVE)
        finished(client, admin, indexed)
        assert top_source(client, admin, "other", "when does the relief valve open") == "valve.md"
        still_queued(client, admin, waiting)
    finished(client, admin, waiting)
