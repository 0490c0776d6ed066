"""`kura reindex` by the running server on the embedded store: search never goes dark.

A data folder whose collection torch embedded (fp32) is served by a kura whose default is the
int8 recipe; the server rebuilds it (POST /v1/collections/{name}/reindex) while searches, dense
and hybrid, in English and Japanese, keep answering from the old copy, then from the new one
without a restart. `kura reindex` beside a running `kura serve` hands the rebuild to it.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from app.keys import KeyStore
from app.reindex_cli import KEY_LEASE
from ingest.components import build_components
from ingest.embedding.identity import INT8
from ingest.pipeline import Indexer
from ingest.writer_lock import lock_path, read_holder
from tests.support.crash import kill, kura_env, start, wait_for
from tests.support.reindex import DOCS, QUERIES, Gate, bearer, keyed, poll, written
from tests.support.server import LiveServer, free_port, make_settings

pytestmark = pytest.mark.integration

MODES = ["dense", "hybrid"]
PATH = "/v1/collections/manuals/reindex"
Results = dict[tuple[str, str], list[tuple[str, float]]]


@pytest.fixture(scope="module")
def torch_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A data folder whose ``manuals`` torch embedded (fp32), as test_embed_runtimes builds."""
    root = tmp_path_factory.mktemp("live")
    docs = written(root / "docs")
    components = build_components(make_settings(root / "data", embed_runtime="torch"))
    try:
        assert Indexer(components, "manuals").ingest_paths([docs]).failed == []
    finally:
        components.close()
    return root / "data"


def searched(client: httpx.Client, key: str) -> Results:
    """Every question in every mode: the passages' chunk ids and scores (each answer a 200)."""
    found: Results = {}
    for query in QUERIES:
        for mode in MODES:
            body = {"query": query, "collection": "manuals", "mode": mode, "top_k": 4}
            answer = client.post("/v1/search", json=body, headers=bearer(key))
            assert answer.status_code == 200, answer.text
            passages = answer.json()["passages"]
            assert passages
            found[query, mode] = [(p["chunk_id"], p["score"]) for p in passages]
    return found


def same(a: Results, b: Results) -> bool:
    return a.keys() == b.keys() and all(
        [c for c, _ in a[k]] == [c for c, _ in b[k]]
        and all(abs(x - y) < 1e-6 for (_, x), (_, y) in zip(a[k], b[k], strict=True))
        for k in a
    )


def app_state(live: LiveServer) -> Any:
    """The served app's state: its components and reindexer."""
    app: Any = live.server.config.app
    return app.state


@pytest.fixture
def served(
    torch_folder: Path, tmp_path: Path
) -> Iterator[tuple[LiveServer, httpx.Client, str, str]]:
    data, admin, reader = keyed(torch_folder, tmp_path)
    live = LiveServer(make_settings(data, auth="keys"))
    with live as client:
        yield live, client, admin, reader


def test_search_answers_from_the_old_copy_during_a_server_reindex_then_from_the_new(
    served: tuple[LiveServer, httpx.Client, str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    live, client, admin, reader = served
    components = app_state(live).components
    assert components.runtime_for("manuals") == "onnx"  # fp32, by its family
    before = searched(client, reader)
    gate = Gate(monkeypatch)
    started = client.post(PATH, headers=bearer(admin))
    assert started.status_code == 202, started.text
    assert started.json()["status"] == "running"
    assert gate.reached.wait(120)
    try:
        # mid-rebuild: the old copy answers, each question and mode as before, by fp32
        assert same(searched(client, reader), before)
        assert components.runtime_for("manuals") == "onnx"
        state = client.get(PATH, headers=bearer(admin)).json()
        assert (state["status"], state["done"], state["total"]) == ("running", 1, len(DOCS))
        again = client.post(PATH, headers=bearer(admin))
        assert again.status_code == 409
        assert "running already" in again.json()["detail"]
        assert client.post(PATH, headers=bearer(reader)).status_code == 403
        assert client.get(PATH, headers=bearer(reader)).status_code == 403
        assert client.post(PATH).status_code == 401
    finally:
        gate.open()
    done = poll(client, admin, lambda s: s["status"] != "running")
    assert done["status"] == "done", done
    assert (done["documents"], done["chunks"], done["done"]) == (len(DOCS), len(DOCS), len(DOCS))
    assert done["serving"] == "kura_manuals__1"
    assert INT8 in done["embedder"]
    # the new copy answers, by int8, without a restart
    assert components.backend.identity(components.qdrant_name("manuals"))["runtime"] == INT8
    assert components.runtime_for("manuals") == INT8
    after = searched(client, reader)
    assert not same(after, before)  # int8's scores, not fp32's
    for query in QUERIES:
        assert after[query, "dense"][0][0] == before[query, "dense"][0][0]
    # another reindex of the same collection may start once this one is done
    assert client.post(PATH, headers=bearer(admin)).status_code == 202
    assert poll(client, admin, lambda s: s["status"] != "running")["serving"] == "kura_manuals__2"


def test_a_server_stopped_mid_reindex_leaves_the_old_copy_serving(
    torch_folder: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    data, admin, reader = keyed(torch_folder, tmp_path)
    live = LiveServer(make_settings(data, auth="keys"))
    gate = Gate(monkeypatch)
    with live as client:
        before = searched(client, reader)
        assert client.post(PATH, headers=bearer(admin)).status_code == 202
        assert gate.reached.wait(120)
        reindexer = app_state(live).reindexer
        stopping = threading.Thread(target=live.__exit__)
        stopping.start()
        wait_for(reindexer._stopping.is_set, "the server to stop")
        gate.open()
        stopping.join(60)
        assert not stopping.is_alive()
    components = build_components(make_settings(data), lazy_embedder=True)
    try:
        name = components.qdrant_name("manuals")
        assert components.backend.physical(name) == name  # the old copy serves
        assert not components.backend.exists("kura_manuals__1")  # the unfinished one is gone
        assert components.backend.identity(name)["runtime"] == "torch"  # type: ignore[index]
    finally:
        components.close()
    with LiveServer(make_settings(data, auth="keys")) as client:
        assert same(searched(client, reader), before)
        client.post(PATH, headers=bearer(admin))
        assert poll(client, admin, lambda s: s["status"] != "running")["status"] == "done"


def test_get_before_any_reindex_and_a_missing_collection_are_404(
    served: tuple[LiveServer, httpx.Client, str, str],
) -> None:
    _, client, admin, _ = served
    none_yet = client.get(PATH, headers=bearer(admin))
    assert none_yet.status_code == 404
    assert none_yet.json()["detail"] == "no reindex of manuals since the server started"
    missing = client.post("/v1/collections/nothing/reindex", headers=bearer(admin))
    assert missing.status_code == 404
    assert missing.json()["error"] == "CollectionNotFound"


def test_kura_reindex_beside_kura_serve_hands_the_rebuild_to_it(
    torch_folder: Path, tmp_path: Path
) -> None:
    data, admin, reader = keyed(torch_folder, tmp_path)
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    env = kura_env(data, auth="keys")
    server = start(["serve", "--port", str(port)], env)
    try:
        wait_for(lambda: _up(url), "kura serve to answer", proc=server)
        with httpx.Client(base_url=url, timeout=60) as client:
            before = searched(client, reader)
        moved = start(["reindex", "manuals"], env)
        assert moved.wait(timeout=300) == 0, moved.stdout.read() if moved.stdout else ""
        said = moved.stdout.read() if moved.stdout else ""
        kill(moved)
        missing = start(["reindex", "nothing"], env)
        assert missing.wait(timeout=120) == 1
        refused = missing.stdout.read() if missing.stdout else ""
        kill(missing)
        with httpx.Client(base_url=url, timeout=60) as client:
            after = searched(client, reader)
            state = client.get(PATH, headers=bearer(admin)).json()
    finally:
        kill(server)
    assert f"kura serve (pid {server.pid}, {url}) holds the embedded store" in said
    assert f"{len(DOCS)} chunks of {len(DOCS)} document versions" in said
    assert INT8 in said
    assert "now served from kura_manuals__1" in said
    assert (state["status"], state["serving"]) == ("done", "kura_manuals__1")
    assert not same(after, before)  # the server answers from the new copy, not restarted
    assert "'nothing' does not exist" in refused
    with KeyStore(data / "kura.db") as keys:  # the keys the command made are revoked
        made = [k for k in keys.list() if k.user == "kura-reindex"]
    assert len(made) == 2
    assert all(k.revoked_at is not None for k in made)


def _up(url: str) -> bool:
    try:
        return httpx.get(f"{url}/healthz", timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


def test_a_kura_reindex_killed_mid_hand_off_leaves_no_key_past_its_lease(
    torch_folder: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    data, admin, _ = keyed(torch_folder, tmp_path)
    settings = make_settings(data, auth="keys")
    live = LiveServer(settings)
    gate = Gate(monkeypatch)
    with live as client:
        keys: KeyStore = app_state(live).keys
        presented: set[str] = set()
        authenticate = keys.authenticate

        def seen(key: str) -> Any:  # the key the command sends: only it knows the secret
            presented.add(key)
            return authenticate(key)

        monkeypatch.setattr(keys, "authenticate", seen)

        def serving() -> bool:  # the server's upload worker holds the store, at its address
            holder = read_holder(lock_path(settings))
            return holder is not None and holder.url == live.url

        wait_for(serving, "the server to hold the store")
        command = start(["reindex", "manuals"], kura_env(data, auth="keys"))
        try:
            wait_for(gate.reached.is_set, "the rebuild to start", proc=command)
            wait_for(lambda: len(presented) == 1, "the command to follow it", proc=command)
        finally:
            kill(command)  # -9: no finally of its own revokes the key
        killed_at = datetime.now(UTC)
        [key] = presented
        [record] = [k for k in keys.list() if k.user == "kura-reindex"]
        expiry = record.expires_at
        assert record.revoked_at is None
        assert expiry is not None
        assert expiry <= killed_at + KEY_LEASE
        assert client.get(PATH, headers=bearer(key)).status_code == 200  # within its lease
        keys.clock = lambda: expiry
        assert client.get(PATH, headers=bearer(key)).status_code == 401
        keys.clock = lambda: expiry + timedelta(days=365)
        assert client.get(PATH, headers=bearer(key)).status_code == 401
        gate.open()  # the rebuild goes on without the command, and the admin's key still works
        assert poll(client, admin, lambda s: s["status"] != "running")["status"] == "done"
