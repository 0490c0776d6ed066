"""Ingestion throughput with 1, 2 and 4 `kura worker` processes draining one queue, as ratios to
one worker, on real documents (Debian Reference chapters in English and Japanese).

Each run: a fresh data dir and store, N real `kura worker` processes started and idle (the
model loaded), then one job of every file queued at once, as an upload would queue it; timed
from the queueing to the job's end. The workers share a store the way production does, over
Qdrant's REST API (``KURA_QDRANT_URL``): here the stand-in on qdrant-client's local mode
(tests/support/qdrant_standin.py), which serialises writes, so the ratios are a floor for a
real server. Also reported: chunks/s, each worker's share, and the machine's cores.

Usage: .venv/bin/python benchmarks/queue_workers.py [--workers 1,2,4] [--files 6] [--json]
Needs: apt-get install debian-reference-en debian-reference-ja
"""

from __future__ import annotations

import argparse
import os
import shutil
import tempfile
import time
from pathlib import Path

from common import emit, require

from tests.support.crash import kura_env, wait_for
from tests.support.qdrant_standin import QdrantStandin
from tests.support.workers import WorkerProcess, job_of, queue_job

# The smaller chapters first, English and Japanese in turn (Debian package debian-reference).
CHAPTERS = ["apa", "pr01", "ch08", "ch04", "ch03", "ch05"]
FOLDER = Path("/usr/share/debian-reference")


def corpus(count: int) -> list[Path]:
    """The first ``count`` chapter files, alternating English and Japanese."""
    files = [FOLDER / f"{c}.{lang}.html" for c in CHAPTERS for lang in ("en", "ja")]
    require(files[:count])
    return files[:count]


def run(files: list[Path], workers: int) -> dict:
    """Drain one job of ``files`` with ``workers`` processes; throughput and shares."""
    with tempfile.TemporaryDirectory() as tmp, QdrantStandin() as url:
        data_dir = Path(tmp) / "data"
        uploads = Path(tmp) / "uploads"
        uploads.mkdir()
        copies = [Path(shutil.copy(f, uploads / f.name)) for f in files]
        env = kura_env(data_dir, qdrant_url=url, worker_poll="0.2")
        procs = [WorkerProcess(env) for _ in range(workers)]
        try:
            for proc in procs:
                proc.wait_started(timeout=600)
            started = time.perf_counter()
            job_id = queue_job(data_dir, "bench", copies)
            wait_for(lambda: job_of(data_dir, job_id).status == "done", "the job", timeout=3600)
            seconds = time.perf_counter() - started
            codes = [proc.stop() for proc in procs]
        finally:
            for proc in procs:
                proc.kill()
        job = job_of(data_dir, job_id)
    failed = [f"{f.source}: {f.reason}" for f in job.files if f.status != "indexed"]
    if failed or any(codes):
        raise SystemExit(f"{workers} worker(s): failed {failed}, exit codes {codes}")
    chunks = sum(f.chunks for f in job.files)
    return {
        "seconds": round(seconds, 1),
        "chunks": chunks,
        "chunks_per_s": round(chunks / seconds, 2),
        "files_per_worker": [len(p.indexed()) for p in procs],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workers", default="1,2,4", help="comma-separated worker counts")
    parser.add_argument("--files", type=int, default=6, help="chapter files in the job")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    counts = [int(n) for n in args.workers.split(",")]
    files = corpus(args.files)
    results: dict = {
        "setup": {
            "files": len(files),
            "bytes": sum(f.stat().st_size for f in files),
            "cores": os.cpu_count(),
            "store": "Qdrant REST stand-in (qdrant-client local mode, writes serialised)",
        }
    }
    base = None
    for n in counts:
        measured = run(files, n)
        base = base or measured["chunks_per_s"]
        measured["ratio_to_1_worker" if counts[0] == 1 else "ratio_to_first"] = round(
            measured["chunks_per_s"] / base, 2
        )
        results[f"{n} worker(s)"] = measured
    emit(results, args.json)


if __name__ == "__main__":
    main()
