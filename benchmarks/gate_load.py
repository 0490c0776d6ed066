"""Load on the Ollama turn (the gate): 8 clients stream questions through kura's HTTP API to a
one-turn Ollama stand-in, and at random leave while queued or mid-answer (Stop pressed, curl
closed). The gate must end free, and no question wait longer than the queue allows.

Prints, per kind of client behaviour, how many requests ran and how long they waited for
their first token; then the gate's state at the end and how long one more question takes.

Usage: .venv/bin/python benchmarks/gate_load.py [--clients 8] [--rounds 6] [--seed 7] [--json]
"""

from __future__ import annotations

import argparse
import random
import tempfile
import threading
import time
from pathlib import Path

import httpx
from common import emit, summary

import ingest  # noqa: F401
from ingest.components import build_components
from ingest.pipeline import Indexer
from tests.support.ollama_standin import OllamaStandin, StandinState
from tests.support.server import LiveServer, make_settings

QUESTIONS = [
    "What does error E-417 mean on the HX-400?",
    "HX-400 のエラー E-417 はどういう意味ですか？",
]
MANUAL = """HX-400 service manual

Fault codes

Error E-417 means the coolant is overheating: stop the pump and let it cool for ten minutes.
エラー E-417 は冷却水の過熱を示します。ポンプを止めて十分間冷ましてください。

Error E-220 means the filter is blocked: replace the filter cartridge.
"""
QUEUE_TIMEOUT = 60.0


def ask(base: str, question: str, behaviour: str) -> tuple[str, float, int]:
    """One streamed question; ``behaviour``: complete, leave_queued or leave_streaming.
    Returns what happened, the seconds to the first token (or to leaving), and the status."""
    started = time.monotonic()
    body = {"question": question, "stream": True}
    with (
        httpx.Client(base_url=base, timeout=QUEUE_TIMEOUT * 2) as client,
        client.stream("POST", "/v1/query", json=body) as response,
    ):
        if response.status_code != 200:
            return "refused", time.monotonic() - started, response.status_code
        lines = response.iter_lines()
        for line in lines:
            if behaviour == "leave_queued" and line.startswith("event: passages"):
                # the passages are out and the question now waits for its turn: leave
                return behaviour, time.monotonic() - started, 200
            if line.startswith("event: token"):
                waited = time.monotonic() - started
                if behaviour == "leave_streaming":
                    return behaviour, waited, 200
                for _ in lines:
                    pass
                return "complete", waited, 200
            if line.startswith("event: error"):
                return "error", time.monotonic() - started, 200
    return "no_answer", time.monotonic() - started, 200


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--rounds", type=int, default=6, help="questions per client")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    rng = random.Random(args.seed)

    with tempfile.TemporaryDirectory() as tmp:
        docs, data = Path(tmp) / "docs", Path(tmp) / "data"
        docs.mkdir()
        (docs / "hx400-manual.txt").write_text(MANUAL, encoding="utf-8")
        components = build_components(make_settings(data))
        try:
            Indexer(components, "corpus").ingest_paths([docs])
        finally:
            components.close()
        state = StandinState(delay_per_token=0.05)  # one turn (OLLAMA_NUM_PARALLEL=1)
        with OllamaStandin(state) as ollama:
            settings = make_settings(
                data,
                ollama.url,
                ollama_concurrency=1,
                ollama_queue=16,
                ollama_queue_timeout=QUEUE_TIMEOUT,
                request_timeout=60,
            )
            server = LiveServer(settings)
            with server as client:
                gate = server.server.config.app.state.llm.gate  # type: ignore[attr-defined]
                plans = [
                    [
                        (
                            rng.choice(QUESTIONS),
                            rng.choices(["complete", "leave_queued", "leave_streaming"], [4, 3, 3])[
                                0
                            ],
                        )
                        for _ in range(args.rounds)
                    ]
                    for _ in range(args.clients)
                ]
                results: list[tuple[str, float, int]] = []
                lock = threading.Lock()
                deepest = 0

                def run(plan: list[tuple[str, str]]) -> None:
                    for question, behaviour in plan:
                        outcome = ask(server.url, question, behaviour)
                        with lock:
                            results.append(outcome)

                def watch() -> None:
                    nonlocal deepest
                    while any(w.is_alive() for w in workers):
                        deepest = max(deepest, gate.waiting)
                        time.sleep(0.01)

                started = time.monotonic()
                workers = [threading.Thread(target=run, args=(p,)) for p in plans]
                for worker in workers:
                    worker.start()
                watcher = threading.Thread(target=watch)
                watcher.start()
                for worker in workers:
                    worker.join()
                watcher.join()
                elapsed = time.monotonic() - started
                deadline = time.monotonic() + 10
                while (gate.waiting or gate.in_flight) and time.monotonic() < deadline:
                    time.sleep(0.05)
                end_state = {"waiting": gate.waiting, "in_flight": gate.in_flight}
                final_started = time.monotonic()
                final = client.post("/v1/query", json={"question": QUESTIONS[0]})
                final_seconds = time.monotonic() - final_started

    kinds = sorted({kind for kind, _, _ in results})
    report: dict = {
        "load": {
            "clients": args.clients,
            "questions": len(results),
            "seconds": round(elapsed, 1),
            "queue timeout (s)": QUEUE_TIMEOUT,
            "deepest queue seen": deepest,
            "Ollama requests cancelled mid-answer": state.cancelled,
        }
    }
    for kind in kinds:
        waits = [w for k, w, _ in results if k == kind]
        report[kind] = {"count": len(waits), **summary(waits), "max": round(max(waits), 2)}
    # a question's wait for its turn ends at its first token (those that left while queued
    # waited only until they left)
    waits = [w for k, w, _ in results if k in ("complete", "leave_streaming")]
    report["result"] = {
        "gate at the end": end_state,
        "gate free": end_state == {"waiting": 0, "in_flight": 0},
        "max wait for a turn, to first token (s)": round(max(waits), 2),
        "within the queue timeout": max(waits) <= QUEUE_TIMEOUT,
        "refused (503)": sum(1 for _, _, status in results if status == 503),
        "one more question: status": final.status_code,
        "one more question: seconds": round(final_seconds, 2),
    }
    emit(report, args.json)


if __name__ == "__main__":
    main()
