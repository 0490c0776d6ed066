"""Helpers shared by the benchmarks."""

from __future__ import annotations

import json
import resource
import statistics
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

import httpx

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

# Real manuals no one here wrote (Debian packages debian-reference-en/-ja, r-doc-pdf).
MANUALS = [
    Path("/usr/share/debian-reference/debian-reference.en.pdf"),
    Path("/usr/share/debian-reference/debian-reference.ja.pdf"),
    Path("/usr/share/R/doc/manual/R-intro.pdf"),
    Path("/usr/share/R/doc/manual/R-FAQ.pdf"),
    Path("/usr/share/R/doc/manual/R-data.pdf"),
]
BIG_MANUAL = Path("/usr/share/R/doc/manual/refman.pdf")  # 2,415 pages
INSTALL_HINT = "sudo apt-get install debian-reference-en debian-reference-ja r-doc-pdf"

# The small manual the load benchmarks ask about (gate_load, llm_hosts), and their questions.
HX400_QUESTIONS = [
    "What does error E-417 mean on the HX-400?",
    "HX-400 のエラー E-417 はどういう意味ですか？",
]
HX400_MANUAL = """HX-400 service manual

Fault codes

Error E-417 means the coolant is overheating: stop the pump and let it cool for ten minutes.
エラー E-417 は冷却水の過熱を示します。ポンプを止めて十分間冷ましてください。

Error E-220 means the filter is blocked: replace the filter cartridge.
"""

R = TypeVar("R")


def require(paths: list[Path]) -> None:
    missing = [str(p) for p in paths if not p.is_file()]
    if missing:
        raise SystemExit(f"missing {missing}; install them with: {INSTALL_HINT}")


def peak_rss_mb() -> float:
    """This process's peak resident memory so far."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def summary(values: list[float]) -> dict[str, float]:
    return {
        "p50": round(statistics.median(values), 2),
        "p95": round(percentile(values, 0.95), 2),
    }


def emit(results: dict, as_json: bool) -> None:
    if as_json:
        print(json.dumps(results, indent=2, ensure_ascii=False))
        return
    for section, values in results.items():
        print(f"\n{section}")
        if isinstance(values, dict):
            for key, value in values.items():
                print(f"  {key:34} {value}")
        else:
            print(f"  {values}")


def index_hx400(tmp: Path) -> Path:
    """Index the HX-400 manual into collection ``corpus`` under ``tmp``; returns the data dir."""
    # imported here: most benchmarks use this module without the index or the test support
    from tests.support.server import index_texts

    return index_texts(tmp, {"hx400-manual.txt": HX400_MANUAL})


@dataclass(frozen=True)
class Streamed:
    """How one streamed question over ``/v1/query`` went, as a client saw it."""

    status: int
    last_event: str  # the last SSE event read ("done", "error", ...); "" when none
    first_token: float | None  # seconds to the first token; None when none came
    seconds: float  # seconds until the stream ended or the client left
    left: bool  # the client left at ``leave_at``


def stream_question(
    base: str, question: str, leave_at: str | None = None, timeout: float = 300
) -> Streamed:
    """Ask one question with ``stream: true`` and read its events; ``leave_at`` (an event
    name such as "passages" or "token") closes the connection when that event arrives, as a
    user pressing Stop does."""
    started = time.monotonic()
    last, first_token = "", None
    body = {"question": question, "stream": True}
    with (
        httpx.Client(base_url=base, timeout=timeout) as client,
        client.stream("POST", "/v1/query", json=body) as response,
    ):
        if response.status_code != 200:
            return Streamed(response.status_code, "", None, time.monotonic() - started, False)
        for line in response.iter_lines():
            if not line.startswith("event: "):
                continue
            last = line.removeprefix("event: ")
            if last == "token" and first_token is None:
                first_token = time.monotonic() - started
            if last == leave_at:
                return Streamed(200, last, first_token, time.monotonic() - started, True)
    return Streamed(200, last, first_token, time.monotonic() - started, False)


def run_clients(
    plans: list[list[Callable[[], R]]],
    during: Callable[[list[R], Callable[[], bool]], None] | None = None,
) -> tuple[list[R], float]:
    """Run each plan's calls in order on its own thread (one client each), all clients at
    once; ``during(results so far, clients still running)`` runs meanwhile on this thread.
    Returns every call's result (in the order they ended) and the seconds it all took."""
    results: list[R] = []
    lock = threading.Lock()

    def client(plan: list[Callable[[], R]]) -> None:
        for call in plan:
            outcome = call()
            with lock:
                results.append(outcome)

    threads = [threading.Thread(target=client, args=(plan,)) for plan in plans]
    started = time.monotonic()
    for thread in threads:
        thread.start()
    if during is not None:
        during(results, lambda: any(t.is_alive() for t in threads))
    for thread in threads:
        thread.join()
    return results, time.monotonic() - started
