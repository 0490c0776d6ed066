"""An Ollama embedding host that is down when kura starts (compose starts kura first, Ollama is
restarting) is waited for, as it is for a file: `kura serve` starts, says what is not ready,
answers keyword search and queues uploads; `kura worker` starts and its files wait; both catch
up once the host is back, without a restart. A wrong setting still stops them at start.
English and Japanese documents throughout."""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient

from app.main import create_app
from app.retrieve import retrieve_hits
from ingest.components import build_components
from ingest.errors import EmbedderUnavailable
from tests.support import ollama_collections
from tests.support.ollama_collections import kura, kura_env, ollama_settings, standin, wait_for
from tests.support.server import LiveServer, free_port
from tests.support.workers import WorkerProcess, job_of, queue_job

pytestmark = pytest.mark.integration

docs = ollama_collections.docs
keys = ollama_collections.keys

ENGLISH = {"pump-check.txt": "Check the pump pressure every Monday before the night shift."}
JAPANESE = {"点検手順.txt": "新しい点検手順は来月から適用する。冷却水の圧力を毎週確認する。"}


def served(tmp_path: Path, host: str) -> Any:
    """kura with keys, answering and embedding through the Ollama at ``host``."""
    return ollama_settings(
        tmp_path,
        "edge",
        host,
        ollama_host=host,
        auth="keys",
        worker_poll=0.1,
        embed_retry_backoff=0.3,
    )


def upload(client: httpx.Client, headers: dict[str, str], files: dict[str, str]) -> str:
    sent = [("files", (name, text.encode())) for name, text in files.items()]
    accepted = client.post("/v1/collections/manuals/documents", files=sent, headers=headers)
    assert accepted.status_code == 202, accepted.text
    assert accepted.json()["accepted"] == list(files)
    return str(accepted.json()["job_id"])


def job(client: httpx.Client, job_id: str, headers: dict[str, str]) -> dict[str, Any]:
    return dict(client.get(f"/v1/jobs/{job_id}", headers=headers).json())


def search(client: httpx.Client, headers: dict[str, str], query: str, mode: str) -> httpx.Response:
    body = {"query": query, "collection": "manuals", "mode": mode}
    return client.post("/v1/search", json=body, headers=headers)


def test_kura_serve_starts_with_the_embedding_host_down_and_catches_up_once_it_is_back(
    tmp_path: Path, keys: dict[str, dict[str, str]]
) -> None:
    port = free_port()
    host = f"http://127.0.0.1:{port}"
    settings = served(tmp_path, host)
    writer, admin = keys["writer"], keys["admin"]
    with standin(port), LiveServer(settings) as client:  # yesterday: an English manual indexed
        body = {"name": "manuals", "read_groups": ["staff"], "write_groups": ["staff"]}
        assert client.post("/v1/collections", json=body, headers=admin).status_code == 201
        first = upload(client, writer, ENGLISH)
        wait_for(lambda: job(client, first, writer)["status"] == "done", "the English manual")
    with contextlib.ExitStack() as stack:
        client = stack.enter_context(LiveServer(settings))  # the host is down: kura starts
        ready = client.get("/readyz")
        assert ready.status_code == 503
        assert ready.json()["embedder"] == {"ok": False}  # the host's URL is for admins
        seen = client.get("/readyz", headers=admin).json()
        assert seen["qdrant"]["ok"] is True
        assert seen["embedder"]["ok"] is False
        assert f"cannot reach Ollama at {host} to embed" in seen["embedder"]["detail"]

        keywords = search(client, writer, "pump pressure", "sparse")
        assert keywords.status_code == 200, keywords.text
        assert keywords.json()["passages"][0]["source"] == "pump-check.txt"
        for mode in ("dense", "hybrid"):
            refused = search(client, writer, "pump pressure", mode)
            assert refused.status_code == 503, refused.text
            assert int(refused.headers["Retry-After"]) > 0
            assert refused.json()["error"] == "EmbedderUnreachable"
            assert "Keyword search (mode=sparse) still answers" in refused.json()["detail"]
            assert host not in refused.text
        told = search(client, admin, "pump pressure", "dense")
        assert told.status_code == 503
        assert f"cannot reach Ollama at {host}" in told.json()["detail"]

        second = upload(client, writer, JAPANESE)  # accepted, and waits for the host
        waiting = wait_for(
            lambda: (f := job(client, second, writer)["files"][0])["reason"] and f,
            "the Japanese manual to wait for the host",
        )
        assert waiting["status"] == "queued"
        assert waiting["reason"].startswith("the embedding host is unreachable; retrying in")

        with standin(port) as back:  # back on the same address: no restart of kura
            wait_for(lambda: job(client, second, writer)["status"] == "done", "the upload")
            assert job(client, second, writer)["files"][0]["status"] == "indexed"
            assert any(r["path"] == "/api/embed" for r in back.state.requests)
            for question, name in (
                ("冷却水の圧力を確認する", "点検手順.txt"),
                ("pump", "pump-check.txt"),
            ):
                found = search(client, writer, question, "dense")
                assert found.status_code == 200, found.text
                assert found.json()["passages"][0]["source"] == name
            assert client.get("/readyz").status_code == 200


def test_kura_worker_starts_with_the_embedding_host_down_and_indexes_once_it_is_back(
    tmp_path: Path, docs: Path
) -> None:
    port = free_port()
    host = f"http://127.0.0.1:{port}"
    data_dir = tmp_path / "data"
    env = {
        **kura_env(tmp_path, host, "bge-m3"),
        "KURA_WORKER_POLL": "0.1",
        "KURA_EMBED_RETRY_BACKOFF": "0.3",
    }
    job_id = queue_job(data_dir, "manuals", sorted(docs.iterdir()))
    worker = WorkerProcess(env)
    try:
        worker.wait_started(timeout=120)  # on main it exited: "cannot reach Ollama"
        wait_for(
            lambda: all(
                (f.reason or "").startswith("the embedding host is unreachable")
                for f in job_of(data_dir, job_id).files
            ),
            "the files to wait for the host",
        )
        assert worker.proc.poll() is None
        with standin(port):
            wait_for(lambda: job_of(data_dir, job_id).status == "done", "the job", timeout=120)
            assert {f.status for f in job_of(data_dir, job_id).files} == {"indexed"}
            assert worker.stop() == 0  # the embedded store is free for the search below
            components = build_components(ollama_settings(tmp_path, "edge", host))
            try:
                for question, name in (
                    ("空調設備の保守点検", "hoshu.txt"),
                    ("pump fault", "pump.txt"),
                ):
                    [best, *_] = retrieve_hits(components, "manuals", question, 4, mode="dense")
                    assert best.passage.source == name
            finally:
                components.close()
    finally:
        worker.kill()


def test_a_wrong_embedding_setting_still_stops_kura_at_start(tmp_path: Path) -> None:
    """Not a host that is down: waiting would never help, so kura says what to set, at once."""
    with standin(0) as up:
        chat = ollama_settings(tmp_path, "edge", up.url, model="gpt-oss:20b")
        not_embedding = pytest.raises(EmbedderUnavailable, match="is not an embedding model")
        with not_embedding, TestClient(create_app(chat)):
            pass
        worker = kura(["worker"], kura_env(tmp_path, up.url, "gpt-oss:20b"))
        assert worker.returncode == 1
        assert "is not an embedding model" in worker.stderr
        packaged = {**kura_env(tmp_path, up.url, "x"), "KURA_EMBED_MODEL": ""}
        unset = kura(["worker"], {k: v for k, v in packaged.items() if k != "KURA_EMBED_MODEL"})
        assert unset.returncode == 1
        assert "needs KURA_EMBED_MODEL set" in unset.stderr
