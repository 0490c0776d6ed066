"""Soak: a real `kura serve` under the mixed load of a deployment, with and without ingestion.

8 clients ask in a loop: search, query (answers whose citations are re-checked against the
original files, PDFs included), streaming query (SSE to the end) and the OpenAI-compatible chat
route. Phase 1 runs that load alone; phase 2 runs it while one more client uploads documents of
every supported type (PDF with tables and a scanned page, Debian Reference, DOCX, PPTX, XLSX,
HTML, Markdown, e-mail, Shift_JIS text) one upload after another. Answers come from the Ollama
stand-in, so the figures measure kura, not a model.

Prints per phase and route: requests, errors, p50/p95 latency; whether the server survived; and
the ratio of phase 2's p95 to phase 1's per route.

    .venv/bin/python benchmarks/soak.py [--seconds 60] [--clients 8] [--json]
"""

from __future__ import annotations

import argparse
import itertools
import os
import subprocess
import sys
import tempfile
import threading
import time
from collections import defaultdict
from pathlib import Path

import httpx
from common import MANUALS, ROOT, emit, summary

from tests.support.corpus import SAMPLES, build_corpus
from tests.support.ollama_standin import OllamaStandin, StandinState
from tests.support.server import free_port

QUESTIONS = [
    "How do I install a package with apt-get?",
    "What does error E-501 mean?",
    "パッケージを更新するにはどうしますか？",
    "緊急の故障が発生した場合、乙は何時間以内に到着しなければならないか？",
    "What does the Licensor grant?",
    "Which spare part fits the HX-400 spindle?",
]


class Load:
    """Counts and latencies per route, shared by the client threads."""

    def __init__(self) -> None:
        self.latencies: dict[str, list[float]] = defaultdict(list)
        self.errors: dict[str, list[str]] = defaultdict(list)
        self.lock = threading.Lock()

    def record(self, route: str, started: float, error: str | None) -> None:
        with self.lock:
            self.latencies[route].append((time.monotonic() - started) * 1000)
            if error:
                self.errors[route].append(error)

    def table(self) -> dict[str, object]:
        return {
            route: {
                "requests": len(values),
                "errors": len(self.errors[route]),
                **{f"{k}_ms": v for k, v in summary(values).items()},
                **({"first_error": self.errors[route][0][:160]} if self.errors[route] else {}),
            }
            for route, values in sorted(self.latencies.items())
        }


def _request(client: httpx.Client, route: str, question: str) -> str | None:
    """One request of ``route``; the error text, or None when it went right."""
    if route == "search":
        r = client.post("/v1/search", json={"query": question, "collection": "soak"})
        return None if r.status_code == 200 and r.json() else f"{r.status_code} {r.text[:200]}"
    if route == "query":
        r = client.post("/v1/query", json={"question": question, "collection": "soak"})
        return (
            None
            if r.status_code == 200 and r.json()["answer"]
            else f"{r.status_code} {r.text[:200]}"
        )
    if route == "stream":
        body = {"question": question, "collection": "soak", "stream": True}
        with client.stream("POST", "/v1/query", json=body) as r:
            text = "".join(r.iter_text())
        ok = r.status_code == 200 and "event: done" in text and "event: error" not in text
        return None if ok else f"{r.status_code} {text[-200:]}"
    body = {"model": "kura:soak", "messages": [{"role": "user", "content": question}]}
    r = client.post("/v1/chat/completions", json=body)
    ok = r.status_code == 200 and r.json()["choices"][0]["message"]["content"]
    return None if ok else f"{r.status_code} {r.text[:200]}"


def _uploads(folder: Path) -> list[tuple[str, bytes]]:
    """Files of every type, each upload made new (so it is indexed, not skipped as unchanged)."""
    corpus = build_corpus(folder / "corpus")
    files = [(p.name, p.read_bytes()) for p in sorted(corpus.iterdir())]
    from tests.integration.test_pdf import scanned
    from tests.integration.test_pdf_tables import fault_manual

    files.append(("hx400-faults.pdf", fault_manual()))
    files.append(("scan.pdf", scanned(SAMPLES / "debian-reference-en-package-management.pdf", [1])))
    files += [(p.name, p.read_bytes()) for p in MANUALS[:1] if p.is_file()]
    return files


def _mark(name: str, body: bytes, n: int) -> tuple[str, bytes]:
    """A copy that hashes differently but parses the same (a trailing comment or newline)."""
    stem, dot, ext = name.rpartition(".")
    tail = {
        "pdf": f"\n%copy {n}\n".encode(),
        "eml": b"\n",
        "txt": b"\n",
        "md": b"\n",
        "html": b"\n",
    }
    if ext in tail:
        return f"{stem}-{n}{dot}{ext}", body + tail[ext] * (n if ext != "pdf" else 1)
    return f"{stem}-{n}{dot}{ext}", body  # office files: a new name is a new document


def run_phase(
    base_url: str, seconds: float, clients: int, proc: subprocess.Popen[bytes], uploads: list | None
) -> tuple[Load, dict[str, int]]:
    load = Load()
    stop = time.monotonic() + seconds
    routes = ["search", "query", "stream", "openai"]
    ingested: dict[str, int] = defaultdict(int)

    def ask(worker: int) -> None:
        with httpx.Client(base_url=base_url, timeout=300) as client:
            for n in itertools.count(worker):
                if time.monotonic() >= stop or proc.poll() is not None:
                    return
                route, question = routes[n % len(routes)], QUESTIONS[n % len(QUESTIONS)]
                started = time.monotonic()
                try:
                    error = _request(client, route, question)
                except httpx.HTTPError as exc:
                    error = f"{type(exc).__name__}: {exc}"
                load.record(route, started, error)

    def upload() -> None:
        assert uploads is not None
        with httpx.Client(base_url=base_url, timeout=300) as client:
            for n in itertools.count(1):
                for name, body in uploads:
                    if time.monotonic() >= stop or proc.poll() is not None:
                        return
                    started = time.monotonic()
                    try:
                        r = client.post(
                            "/v1/collections/soak/documents",
                            files=[("files", _mark(name, body, n))],
                        )
                        job_id = r.json()["job_id"]
                        while time.monotonic() < stop + 600:
                            job = client.get(f"/v1/jobs/{job_id}").json()
                            if job["status"] == "done":
                                break
                            time.sleep(0.5)
                        status = job["files"][0]["status"]
                        ingested[status] += 1
                        error = None if status in {"indexed", "unchanged"} else str(job["files"][0])
                    except (httpx.HTTPError, KeyError) as exc:
                        error = f"{type(exc).__name__}: {exc}"
                    load.record("upload", started, error)

    threads = [threading.Thread(target=ask, args=(i,)) for i in range(clients)]
    if uploads is not None:
        threads.append(threading.Thread(target=upload))
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return load, dict(ingested)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=60, help="length of each phase")
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="kura-soak-"))
    uploads = _uploads(work)
    port = free_port()
    base_url = f"http://127.0.0.1:{port}"
    with OllamaStandin(StandinState()) as ollama, (work / "serve.log").open("wb") as log:
        env = {
            **os.environ,
            "KURA_DATA_DIR": str(work / "data"),
            "KURA_OLLAMA_HOST": ollama.url,
            "KURA_AUTH": "off",
            "KURA_COLLECTION": "soak",
            "PYTHONPATH": str(ROOT),
        }
        proc = subprocess.Popen(
            [sys.executable, "-m", "app", "serve", "--port", str(port)],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=ROOT,
        )
        try:
            with httpx.Client(base_url=base_url, timeout=600) as client:
                for _ in range(600):
                    try:
                        if client.get("/healthz").status_code == 200:
                            break
                    except httpx.TransportError:
                        time.sleep(0.2)
                client.post("/v1/collections", json={"name": "soak"})
                # The searchable corpus: every type once, before the load starts.
                first = [(n, b) for n, b in uploads if not n.startswith("debian-reference.")]
                job_id = client.post(
                    "/v1/collections/soak/documents", files=[("files", f) for f in first]
                ).json()["job_id"]
                while client.get(f"/v1/jobs/{job_id}").json()["status"] != "done":
                    time.sleep(0.5)
            alone, _ = run_phase(base_url, args.seconds, args.clients, proc, None)
            during, ingested = run_phase(base_url, args.seconds, args.clients, proc, uploads)
            survived = proc.poll() is None
        finally:
            proc.kill()
            proc.wait(30)

    results: dict[str, object] = {
        "setup": {
            "clients": args.clients,
            "seconds per phase": args.seconds,
            "upload files (types)": len(uploads),
            "server survived": survived,
            "server exit status": proc.returncode if not survived else None,
            "log": str(work / "serve.log"),
        },
        "phase 1: questions only": alone.table(),
        "phase 2: questions while uploads are indexed": during.table(),
        "uploads finished in phase 2": ingested,
        "p95 ratio, phase 2 / phase 1": {
            route: round(
                summary(during.latencies[route])["p95"] / max(summary(values)["p95"], 0.01), 2
            )
            for route, values in sorted(alone.latencies.items())
            if during.latencies.get(route)
        },
        "totals": {
            "requests": sum(len(v) for load in (alone, during) for v in load.latencies.values()),
            "errors": sum(len(v) for load in (alone, during) for v in load.errors.values()),
            "deaths": 0 if survived else 1,
        },
    }
    emit(results, args.json)


if __name__ == "__main__":
    main()
