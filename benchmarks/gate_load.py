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
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path

from common import HX400_QUESTIONS, emit, index_hx400, run_clients, stream_question, summary

import ingest  # noqa: F401
from tests.support.ollama_standin import OllamaStandin, StandinState
from tests.support.server import LiveServer, make_settings

QUEUE_TIMEOUT = 60.0
# where each behaviour's client leaves: after the passages (while it waits for its turn), at
# the first token (mid-answer), or never
LEAVE_AT = {"complete": None, "leave_queued": "passages", "leave_streaming": "token"}


def ask(base: str, question: str, behaviour: str) -> tuple[str, float, int]:
    """One streamed question; ``behaviour``: complete, leave_queued or leave_streaming.
    Returns what happened, the seconds to the first token (or to leaving), and the status."""
    streamed = stream_question(base, question, LEAVE_AT[behaviour], timeout=QUEUE_TIMEOUT * 2)
    if streamed.status != 200:
        return "refused", streamed.seconds, streamed.status
    if streamed.left:
        return behaviour, streamed.seconds, 200
    if streamed.first_token is not None:
        return "complete", streamed.first_token, 200
    if streamed.last_event == "error":
        return "error", streamed.seconds, 200
    return "no_answer", streamed.seconds, 200


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--rounds", type=int, default=6, help="questions per client")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    rng = random.Random(args.seed)

    with tempfile.TemporaryDirectory() as tmp:
        data = index_hx400(Path(tmp))
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
                behaviours = ["complete", "leave_queued", "leave_streaming"]
                plans = [
                    [
                        partial(
                            ask,
                            server.url,
                            rng.choice(HX400_QUESTIONS),
                            rng.choices(behaviours, [4, 3, 3])[0],
                        )
                        for _ in range(args.rounds)
                    ]
                    for _ in range(args.clients)
                ]
                deepest = 0

                def watch(_: list, running: Callable[[], bool]) -> None:
                    nonlocal deepest
                    while running():
                        deepest = max(deepest, gate.waiting)
                        time.sleep(0.01)

                results, elapsed = run_clients(plans, watch)
                deadline = time.monotonic() + 10
                while (gate.waiting or gate.in_flight) and time.monotonic() < deadline:
                    time.sleep(0.05)
                end_state = {"waiting": gate.waiting, "in_flight": gate.in_flight}
                final_started = time.monotonic()
                final = client.post("/v1/query", json={"question": HX400_QUESTIONS[0]})
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
