"""Crash consistency: kill -9 a real `kura ingest` at random moments, look at what readers see.

Each trial changes the folder (a document replaced by another edition, sometimes a new
document added), starts `kura ingest` on it, kills it with SIGKILL after a random delay
within the length of a clean run, and then, before any rerun, checks through the readers'
paths (document list, counts, scrolls, search) that every document is in force in exactly one
whole version with no chunk twice. The next trial's run heals what the kill left. At the end a
clean run must leave exactly the chunks a clean ingest writes.

Prints: trials, the states readers saw (which edition was in force, whether hidden chunks of
an unfinished version were in the store), and violations (the goal: 0).

Also prints what the visibility rule costs a reader: the same dense query through the store's
read path (token, state records, query, token) against the bare query, on the embedded store.

Usage: .venv/bin/python benchmarks/crash_consistency.py [--trials 8] [--real] [--json]
  --real  Debian's licence texts (/usr/share/common-licenses, package base-files) instead of
          generated manuals: GPL-2 and GPL-3 take turns as the same file.
  --overhead-only  just the read-cost figures.
"""

from __future__ import annotations

import argparse
import contextlib
import random
import shutil
import subprocess
import tempfile
import time
from collections import Counter
from pathlib import Path

from common import emit

import ingest  # noqa: F401
from ingest.components import Components, build_components
from ingest.pipeline import content_version
from tests.support.crash import document, inspect, kill, kura_env, start
from tests.support.server import make_settings

LICENSES = Path("/usr/share/common-licenses")
QUERIES = {"contract.txt": "licence copy distribute", "manual-en.txt": "pump controller"}


def edition(folder: Path, n: int, real: bool) -> None:
    """Write edition ``n`` of the changing document."""
    if real:
        source = LICENSES / ("GPL-3" if n % 2 else "GPL-2")
        shutil.copy(source, folder / "contract.txt")
    else:
        (folder / "manual-en.txt").write_text(document("en", 40, n, "HX"), encoding="utf-8")


def seed(folder: Path, real: bool) -> None:
    if real:
        for name in ("Apache-2.0", "MPL-2.0", "LGPL-2.1"):
            shutil.copy(LICENSES / name, folder / f"{name}.txt")
    else:
        (folder / "keiyaku-ja.txt").write_text(document("ja", 20, 1, "空調"), encoding="utf-8")
    edition(folder, 0, real)


def reader(data_dir: Path) -> Components:
    from tests.support.embedder import HashEmbedding

    # Only sparse searches, lists and counts: nothing is embedded, no model to load.
    return build_components(make_settings(data_dir), embedder=HashEmbedding())


def look(data_dir: Path):  # type: ignore[no-untyped-def]
    components = reader(data_dir)
    try:
        return inspect(components, "bench", QUERIES)
    finally:
        components.close()


def run(folder: Path, data_dir: Path, batch: str, kill_after: float | None) -> float:
    """One `kura ingest` of ``folder``; killed after ``kill_after`` seconds unless None."""
    t0 = time.perf_counter()
    proc = start(["ingest", str(folder), "-c", "bench"], kura_env(data_dir, store_batch=batch))
    try:
        if kill_after is None:
            proc.wait(timeout=3600)
        else:
            with contextlib.suppress(subprocess.TimeoutExpired):  # still running: kill it
                proc.wait(timeout=kill_after)
    finally:
        kill(proc)
    return time.perf_counter() - t0


def read_overhead(points: int = 20_000, queries: int = 300) -> dict[str, float]:
    """Milliseconds per dense query with and without the visibility rule (Qdrant Edge)."""
    import numpy as np
    import qdrant_edge as qe
    from llama_index.core.schema import TextNode
    from llama_index.core.vector_stores.types import VectorStoreQuery

    from ingest.stores.edge import EdgeVectorStore
    from ingest.stores.shared import plan_search, visible_filter

    rng = np.random.default_rng(0)
    with tempfile.TemporaryDirectory() as tmp:
        store = EdgeVectorStore.create(Path(tmp) / "s", 384, ["document_id", "kura_record"])
        vectors = rng.standard_normal((points, 384)).astype("float32")
        for start in range(0, points, 1000):
            store.add(
                [
                    TextNode(
                        id_=f"00000000-0000-0000-0000-{i:012d}",
                        text=f"chunk {i}",
                        metadata={"document_id": f"d{i % 200}", "document_version": "a"},
                        embedding=vectors[i].tolist(),
                    )
                    for i in range(start, min(points, start + 1000))
                ]
            )
        store.optimize()
        asks = [
            VectorStoreQuery(query_embedding=v.tolist(), similarity_top_k=10)
            for v in vectors[:queries]
        ]
        store.begin_version("d7", "b")  # one document in flight, as during an ingest
        ways = {
            "bare query": lambda q: store._search(
                plan_search(q, None), visible_filter(qe, None, [])
            ),
            "with visibility": store.query,
        }
        for q in asks:  # warm up: caches and the HNSW graph, for both alike
            store.query(q)
        timings = dict.fromkeys(ways, 0.0)
        for _ in range(3):  # alternate, so drift in machine load hits both
            for name, ask in ways.items():
                t0 = time.perf_counter()
                for q in asks:
                    ask(q)
                timings[name] += (time.perf_counter() - t0) / queries / 3 * 1000
        store.close()
    return {
        "points": points,
        "bare query ms": round(timings["bare query"], 3),
        "with visibility ms": round(timings["with visibility"], 3),
        "ratio": round(timings["with visibility"] / timings["bare query"], 2),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=8)
    parser.add_argument("--real", action="store_true")
    parser.add_argument("--batch", default="16", help="KURA_STORE_BATCH (chunks per step)")
    parser.add_argument("--seed", type=int, default=19)
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--overhead-only", action="store_true")
    args = parser.parse_args()
    overhead = read_overhead()
    if args.overhead_only:
        emit({"read cost of the visibility rule (Qdrant Edge)": overhead}, args.json)
        return
    if args.real and not LICENSES.is_dir():
        raise SystemExit(f"{LICENSES} is missing (Debian package base-files)")
    rng = random.Random(args.seed)
    with tempfile.TemporaryDirectory() as tmp:
        folder, data_dir = Path(tmp) / "docs", Path(tmp) / "data"
        folder.mkdir()
        seed(folder, args.real)
        run(folder, data_dir, args.batch, None)
        # how long a run replacing the document takes: kills land within it
        edition(folder, 1, args.real)
        full = run(folder, data_dir, args.batch, None)
        states: Counter[str] = Counter()
        violations: list[str] = []
        hidden_seen = 0
        seen_before: set[str] = set()
        changing = folder / ("contract.txt" if args.real else "manual-en.txt")
        for trial in range(args.trials):
            earlier = {content_version(changing.read_bytes())}
            edition(folder, trial + 2, args.real)
            current = content_version(changing.read_bytes())
            added = None
            if trial % 2:
                added = f"new-{trial}.txt"
                (folder / added).write_text(document("en", 12, trial, "turbine"), "utf-8")
            run(folder, data_dir, args.batch, rng.uniform(0.3, 1.0) * full)
            seen = look(data_dir)
            violations += [f"trial {trial}: {v}" for v in seen.violations]
            hidden = seen.stored - sum(seen.chunks.values())
            hidden_seen += hidden > 0
            shown = seen.versions.get(changing.name, set())
            if shown == {current}:
                state = "replaced document: the new edition"
            elif shown and shown <= earlier | seen_before:
                state = "replaced document: an earlier edition"
            else:
                state = "replaced document: MISSING" if not shown else "replaced document: ?"
            if added:
                state += ", new document " + ("whole" if added in seen.versions else "absent")
            state += ", hidden chunks stored" if hidden else ""
            states[state] += 1
            seen_before |= earlier | {current}
        run(folder, data_dir, args.batch, None)
        final = look(data_dir)
        leftover = final.stored - sum(final.chunks.values())
    emit(
        {
            "crash consistency (kill -9 of kura ingest at random moments)": {
                "documents": "licences (real)" if args.real else "generated manuals",
                "clean run seconds": round(full, 1),
                "trials": args.trials,
                "kills that left hidden chunks": hidden_seen,
                "states seen": dict(states),
                "violations before rerun": len(violations),
                "chunks left over after the final run": leftover,
                "violations after the final run": len(final.violations),
            },
            "violations": violations or "none",
            "read cost of the visibility rule (Qdrant Edge)": overhead,
        },
        args.json,
    )


if __name__ == "__main__":
    main()
