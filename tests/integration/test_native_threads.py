"""Native libraries under concurrency: the server must survive questions asked while a PDF is
being indexed. PDFium is not thread-safe (not even across different documents); the upload
worker reads and renders PDF pages while answers re-read cited PDF pages to check them. Before
ingest/native.py guarded it, this load killed `kura serve` with a segmentation fault within
seconds. The server runs as a real subprocess so that a native crash fails the test instead of
killing pytest."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from collections import Counter
from pathlib import Path

import httpx
import pytest

from tests.support.corpus import SAMPLES
from tests.support.ollama_standin import OllamaStandin, StandinState
from tests.support.server import free_port

pytestmark = pytest.mark.integration

MANUAL = Path("/usr/share/debian-reference/debian-reference.en.pdf")  # debian-reference-en
QUESTIONS = [
    "How do I install a package with apt-get?",
    "What does aptitude do?",
    "パッケージを更新するにはどうしますか？",
    "What is the package pool?",
]
LOAD_SECONDS = 30  # the crash came after ~3 s, while the manual was being parsed


def _wait_healthy(client: httpx.Client, proc: subprocess.Popen[bytes], log: Path) -> None:
    for _ in range(600):
        assert proc.poll() is None, f"kura serve exited early:\n{log.read_text()[-3000:]}"
        try:
            if client.get("/healthz").status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    raise AssertionError("kura serve did not start")


def _upload(client: httpx.Client, files_: list[tuple[str, bytes]]) -> str:
    files = [("files", (name, body, "application/pdf")) for name, body in files_]
    response = client.post("/v1/collections/manuals/documents", files=files)
    assert response.status_code == 202, response.text
    return str(response.json()["job_id"])


def _job(client: httpx.Client, job_id: str) -> dict:
    response = client.get(f"/v1/jobs/{job_id}")
    assert response.status_code == 200, response.text
    return dict(response.json())


def _wait_done(client: httpx.Client, job_id: str, timeout: float = 300) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        job = _job(client, job_id)
        if job["status"] == "done":
            return job
        time.sleep(0.3)
    raise AssertionError(f"job {job_id} did not finish")


@pytest.mark.skipif(not MANUAL.exists(), reason="needs Debian's debian-reference-en package")
def test_questions_while_a_pdf_is_indexed_do_not_kill_the_server(tmp_path: Path) -> None:
    log = tmp_path / "serve.log"
    port = free_port()
    with OllamaStandin(StandinState()) as ollama, log.open("wb") as out:
        env = {
            **os.environ,
            "KURA_DATA_DIR": str(tmp_path / "data"),
            "KURA_OLLAMA_HOST": ollama.url,
            "KURA_AUTH": "off",
            "KURA_COLLECTION": "manuals",
        }
        proc = subprocess.Popen(
            [sys.executable, "-m", "app", "serve", "--port", str(port)],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
        try:
            with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=120) as client:
                _wait_healthy(client, proc, log)
                client.post("/v1/collections", json={"name": "manuals"})
                samples = [(p.name, p.read_bytes()) for p in sorted(SAMPLES.glob("*.pdf"))]
                first = _wait_done(client, _upload(client, samples))
                assert [f["status"] for f in first["files"]] == ["indexed"] * len(samples)

                # PDFium is busy in the worker while the manual is parsed (seconds): every page
                # is read, pages that draw rules are searched for tables, and the first page,
                # which has no text layer, is rendered for OCR.
                job_id = _upload(client, [(MANUAL.name, MANUAL.read_bytes())])
                statuses: Counter[str] = Counter()
                checked = Counter[str]()
                errors: list[str] = []
                stop = time.monotonic() + LOAD_SECONDS

                def ask(worker: int) -> None:
                    n = worker
                    while time.monotonic() < stop and proc.poll() is None:
                        question = QUESTIONS[n % len(QUESTIONS)]
                        n += 1
                        try:
                            response = client.post(
                                "/v1/query",
                                json={"question": question, "collection": "manuals"},
                            )
                        except httpx.TransportError as exc:
                            errors.append(f"{type(exc).__name__}: {exc}")
                            return
                        statuses[str(response.status_code)] += 1
                        if response.status_code == 200:
                            for citation in response.json()["citations"]:
                                checked[str(citation.get("verified"))] += 1

                threads = [threading.Thread(target=ask, args=(i,)) for i in range(8)]
                for thread in threads:
                    thread.start()
                for thread in threads:
                    thread.join()

                assert proc.poll() is None, (
                    f"kura serve died (exit {proc.returncode}) under questions during a PDF "
                    f"upload:\n{log.read_text()[-3000:]}"
                )
                assert not errors, errors[:3]
                assert set(statuses) == {"200"}, statuses
                # The load really exercised the citation check on PDF pages.
                assert checked["True"] > 0, checked
                # The upload goes on beside the questions, and nothing of it failed.
                job = _job(client, job_id)
                assert job["status"] in {"running", "done"}, job
                assert {f["status"] for f in job["files"]} <= {"queued", "running", "indexed"}, job
        finally:
            proc.kill()
            proc.wait(timeout=30)
