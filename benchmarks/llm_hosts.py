"""Answer throughput with 1 vs 3 LLM hosts: clients stream questions through kura's HTTP API
to Ollama stand-ins that take a fixed time per answer, each host with its parallel slots
(OLLAMA_NUM_PARALLEL); then the same with one of the 3 hosts killed mid-run.

Prints answers per second for each set-up and its ratio to one host (3 hosts should come
near 3x: the hosts work in parallel; with one killed, between 2x and 3x, no question lost but
those streaming on it when it died, which end with an error), and how many questions each
host answered.

Usage: .venv/bin/python benchmarks/llm_hosts.py [--clients 12] [--rounds 4] [--parallel 2]
       [--delay 0.05] [--json]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path

from common import HX400_QUESTIONS, emit, index_hx400, run_clients, stream_question, summary

import ingest  # noqa: F401
from tests.support.llm_hosts import StandinProcess
from tests.support.server import LiveServer, make_settings


def ask(base: str, question: str) -> tuple[str, float]:
    """One streamed question: how it ended (done, error, refused) and its seconds."""
    streamed = stream_question(base, question)
    ended = streamed.last_event if streamed.status == 200 else "refused"
    return ended, streamed.seconds


def run(data: Path, args: argparse.Namespace, hosts: int, kill_one: bool) -> dict:
    standins = [
        StandinProcess(parallel=args.parallel, delay_per_token=args.delay) for _ in range(hosts)
    ]
    try:
        for standin in standins:
            standin.start()
        settings = make_settings(
            data,
            ollama_hosts=",".join(s.url for s in standins),
            ollama_parallel=str(args.parallel),
            ollama_queue=args.clients * 2,
            ollama_queue_timeout=300,
            request_timeout=120,
        )
        server = LiveServer(settings)
        with server:
            llm = server.server.config.app.state.llm  # type: ignore[attr-defined]
            plans = [
                [
                    partial(ask, server.url, HX400_QUESTIONS[(i + r) % len(HX400_QUESTIONS)])
                    for r in range(args.rounds)
                ]
                for i in range(args.clients)
            ]

            def kill_a_third_of_the_way(
                results: list[tuple[str, float]], running: Callable[[], bool]
            ) -> None:
                while len(results) < len(plans) * args.rounds // 3:
                    time.sleep(0.02)
                standins[-1].kill()

            results, elapsed = run_clients(plans, kill_a_third_of_the_way if kill_one else None)
            per_host = [h["answered"] for h in llm.hosts_status()["hosts"]]
    finally:
        for standin in standins:
            standin.kill()
    done = [seconds for kind, seconds in results if kind == "done"]
    return {
        "questions": len(results),
        "answered": len(done),
        "ended with an error": sum(1 for kind, _ in results if kind == "error"),
        "refused": sum(1 for kind, _ in results if kind == "refused"),
        "seconds": round(elapsed, 2),
        "answers/s": round(len(done) / elapsed, 2),
        "answered per host": per_host,
        "seconds per answer": summary(done),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--clients", type=int, default=12)
    parser.add_argument("--rounds", type=int, default=4, help="questions per client")
    parser.add_argument("--parallel", type=int, default=2, help="slots per host")
    parser.add_argument("--delay", type=float, default=0.05, help="seconds per answer piece")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        data = index_hx400(Path(tmp))
        one = run(data, args, 1, kill_one=False)
        three = run(data, args, 3, kill_one=False)
        killed = run(data, args, 3, kill_one=True)

    report = {
        "load": {
            "clients": args.clients,
            "questions per set-up": args.clients * args.rounds,
            "slots per host": args.parallel,
            "seconds per answer piece": args.delay,
        },
        "1 host": one,
        "3 hosts": three,
        "3 hosts, one killed a third of the way": killed,
        "result": {
            "throughput 3 hosts / 1 host": round(three["answers/s"] / one["answers/s"], 2),
            "throughput 3 hosts, one killed / 1 host": round(
                killed["answers/s"] / one["answers/s"], 2
            ),
        },
    }
    emit(report, args.json)


if __name__ == "__main__":
    main()
