"""An Ollama embedding host that is down is nobody's file's fault: an upload waits for it with a
reason (the host named to admins only) and is indexed once it is back, or fails clearly after
KURA_EMBED_RETRY_FOR; `kura ingest` says so in one line; a host that dies mid-file leaves no
part of the file visible. English and Japanese file names throughout."""

from __future__ import annotations

import contextlib
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from app.retrieve import retrieve_hits
from ingest.components import build_components
from ingest.errors import EmbedderUnreachable
from ingest.pipeline import Indexer
from tests.support import ollama_collections
from tests.support.ollama_collections import (
    kura,
    kura_env,
    ollama_settings,
    standin,
    wait_for,
)
from tests.support.server import LiveServer, free_port

pytestmark = pytest.mark.integration

docs = ollama_collections.docs
keys = ollama_collections.keys

FILES = {
    "点検手順.txt": "新しい点検手順は来月から適用する。冷却水の圧力を毎週確認する。",
    "pump-check.txt": "Check the pump pressure every Monday before the night shift.",
}


def upload(client: httpx.Client, headers: dict[str, str]) -> str:
    files = [("files", (name, text.encode())) for name, text in FILES.items()]
    accepted = client.post("/v1/collections/manuals/documents", files=files, headers=headers)
    assert accepted.status_code == 202, accepted.text
    assert accepted.json()["accepted"] == list(FILES)
    return str(accepted.json()["job_id"])


def served(tmp_path: Path, host: str, **extra: Any) -> Any:
    return ollama_settings(
        tmp_path, "edge", host, auth="keys", worker_poll=0.1, embed_retry_backoff=0.3, **extra
    )


def make_collection(client: httpx.Client, headers: dict[str, str]) -> None:
    body = {"name": "manuals", "read_groups": ["staff"], "write_groups": ["staff"]}
    created = client.post("/v1/collections", json=body, headers=headers)
    assert created.status_code == 201, created.text


def test_an_upload_waits_for_the_embedding_host_and_is_indexed_once_it_is_back(
    tmp_path: Path, keys: dict[str, dict[str, str]]
) -> None:
    port = free_port()
    host = f"http://127.0.0.1:{port}"
    with contextlib.ExitStack() as stack:
        with standin(port):  # up while kura starts (it embeds once) and the collection is made
            client = stack.enter_context(LiveServer(served(tmp_path, host, embed_retry_for=120)))
            make_collection(client, keys["admin"])
        job_id = upload(client, keys["writer"])  # the host is down now

        def waiting(who: str) -> dict[str, Any] | None:
            job = client.get(f"/v1/jobs/{job_id}", headers=keys[who]).json()
            reasons = [f.get("reason") or "" for f in job["files"]]
            return job if all("retrying in" in r for r in reasons) else None

        job = wait_for(lambda: waiting("writer"), "both files to wait for the host")
        assert job["status"] != "done"
        for entry in job["files"]:
            assert entry["status"] == "queued"
            assert entry["reason"].startswith("the embedding host is unreachable; retrying in")
            assert host not in entry["reason"]  # the host's URL is for admins
            assert "detail" not in entry
        seen = wait_for(lambda: waiting("admin"), "the admin's view of the wait")
        for entry in seen["files"]:
            assert f"the embedding host {host} is unreachable" in entry["reason"]
            assert "ollama serve" in entry["reason"]  # the fix
        with standin(port) as back:  # the host is back, on the same address

            def done() -> dict[str, Any] | None:
                job = client.get(f"/v1/jobs/{job_id}", headers=keys["writer"]).json()
                return job if job["status"] == "done" else None

            finished = wait_for(done, "the job to end once the host is back")
            assert [f["status"] for f in finished["files"]] == ["indexed", "indexed"]
            assert [f["reason"] for f in finished["files"]] == [None, None]
            assert any(r["path"] == "/api/embed" for r in back.state.requests)
            for question, name in (
                ("冷却水の圧力", "点検手順.txt"),
                ("pump pressure", "pump-check.txt"),
            ):
                body = {"query": question, "collection": "manuals"}
                found = client.post("/v1/search", json=body, headers=keys["writer"])
                assert found.status_code == 200, found.text
                assert name in found.text


def test_a_file_fails_clearly_once_it_has_waited_retry_for(
    tmp_path: Path, keys: dict[str, dict[str, str]]
) -> None:
    port = free_port()
    host = f"http://127.0.0.1:{port}"
    with contextlib.ExitStack() as stack:
        with standin(port):
            client = stack.enter_context(LiveServer(served(tmp_path, host, embed_retry_for=1.5)))
            make_collection(client, keys["admin"])
        job_id = upload(client, keys["writer"])

        def done(who: str) -> dict[str, Any] | None:
            job = client.get(f"/v1/jobs/{job_id}", headers=keys[who]).json()
            return job if job["status"] == "done" else None

        job = wait_for(lambda: done("writer"), "the job to give up")
        assert [f["status"] for f in job["files"]] == ["failed", "failed"]
        for entry in job["files"]:
            assert entry["reason"].startswith(
                "the embedding service stayed unreachable for 1.5 s; upload the file again"
            )
            assert host not in entry["reason"]
        for entry in done("admin")["files"]:  # type: ignore[index]
            assert f"the embedding host {host} stayed unreachable for 1.5 s" in entry["reason"]
            assert "KURA_EMBED_RETRY_FOR" in entry["reason"]
        # listed as failed to those who may add documents, in the words everyone may read
        listed = client.get("/v1/collections/manuals/documents", headers=keys["writer"]).json()
        failed = {d["source"]: d["reason"] for d in listed["documents"] if d["status"] == "failed"}
        assert set(failed) == set(FILES)
        assert all("stayed unreachable" in r and host not in r for r in failed.values())


def test_kura_ingest_with_the_host_down_says_so_in_one_line_and_writes_nothing(
    tmp_path: Path, docs: Path
) -> None:
    port = free_port()
    host = f"http://127.0.0.1:{port}"
    before = {p.name: p.read_bytes() for p in docs.iterdir()}
    env = kura_env(tmp_path, host, "bge-m3")
    down = kura(["ingest", str(docs), "-c", "manuals"], env)
    assert down.returncode == 1, down.stdout + down.stderr
    [line] = down.stderr.strip().splitlines()
    assert line.startswith(f"error: cannot reach Ollama at {host} to embed")
    assert "ollama serve" in line  # the fix
    assert "KURA_EMBED_OLLAMA_HOST" in line
    assert "Traceback" not in down.stdout + down.stderr
    assert {p.name: p.read_bytes() for p in docs.iterdir()} == before
    components = build_components(ollama_settings(tmp_path, "edge", host), lazy_embedder=True)
    try:
        assert components.registry.failures("manuals") == []  # no file blamed
        if components.collection_exists("manuals"):
            assert components.vector_store("manuals").count_all() == 0
    finally:
        components.close()
    with standin(port):
        up = kura(["ingest", str(docs), "-c", "manuals"], env)
    assert up.returncode == 0, up.stdout + up.stderr
    assert f"manuals: {len(before)} indexed" in up.stdout + up.stderr


def test_a_host_that_dies_mid_file_leaves_no_part_of_it_visible(tmp_path: Path, docs: Path) -> None:
    """The first version stays whole and alone; the second, cut off after two batches, is
    never seen, and is written whole once the host is back."""
    port = free_port()
    host = f"http://127.0.0.1:{port}"
    settings = ollama_settings(
        tmp_path,
        "edge",
        host,
        embed_batch_size=2,
        store_batch=2,
        chunk_size=40,
        chunk_overlap=0,
        embed_retry_backoff=0.5,
    )
    manual = docs / "保守マニュアル.txt"
    old = "\n\n".join(f"第{i}章 旧版の点検項目{i}は毎月確認する。" for i in range(1, 7))
    new = "\n\n".join(f"第{i}章 改訂版の点検項目{i}は毎週確認する。pump {i}" for i in range(1, 13))
    with standin(port):
        components = build_components(settings)
        indexer = Indexer(components, "manuals")
        manual.write_text(old, encoding="utf-8")
        assert indexer.ingest_file(manual).status.value == "indexed"
    [(doc_id, [first])] = indexer.documents().items()
    assert first.chunks >= 3
    manual.write_text(new, encoding="utf-8")
    with standin(port, embed_dies_after=2) as dying:
        with pytest.raises(EmbedderUnreachable, match=f"cannot reach Ollama at {host}"):
            indexer.ingest_file(manual)
        embeds = [r for r in dying.state.requests if r["path"] == "/api/embed"]
        assert len(embeds) == 2  # two batches embedded (and written) before it died
    [(same, [still])] = indexer.documents().items()
    assert (same, still.version, still.chunks) == (doc_id, first.version, first.chunks)
    store = components.vector_store("manuals")
    assert store.count() == store.count_all() == first.chunks  # the cut-off batches are gone
    assert retrieve_hits(components, "manuals", "pump", 5, mode="sparse") == []
    assert retrieve_hits(components, "manuals", "旧版の点検項目", 5, mode="sparse")
    time.sleep(settings.embed_retry_backoff)  # how long kura remembers the host is down
    with standin(port):
        assert indexer.ingest_file(manual).status.value == "indexed"
    [(_, [current])] = indexer.documents().items()
    assert current.version != first.version
    assert current.chunks > 2 * 2  # more than the two batches written before the host died
    assert store.count() == store.count_all() == current.chunks
    assert retrieve_hits(components, "manuals", "pump", 5, mode="sparse")
    components.close()
