"""Foundation figures: ingestion of data/samples and /v1/search latency, each against a baseline
measured in the same process (absolute times on shared 2-core machines are noisy).

- ingestion: end-to-end pages/s and chunks/s, time per stage, and the ratio against embedding
  the same chunks alone (the floor any pipeline pays);
- search: /v1/search over real HTTP (uvicorn, loopback), p50/p95, against calling retrieval
  in-process on the same questions.

Usage: .venv/bin/python benchmarks/foundation.py [--repeat 50] [--json]
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path

from common import ROOT, percentile

import ingest  # noqa: F401
from app.retrieve import retrieve
from ingest.chunk import chunk_blocks
from ingest.components import build_components
from ingest.detect import detect_type
from ingest.parse import parse_document
from ingest.pipeline import Indexer, iter_files
from tests.support.server import LiveServer, make_settings

QUESTIONS = [
    "Which tool is most suitable for a major system upgrade?",
    "What does Licensor mean?",
    "How do I remove a package including its configuration files?",
    "aptitude コマンドの代わりに何を使うべきですか",
    "What are the conditions for redistribution?",
    "パッケージを完全削除するには",
]


def bench_ingest(data_dir: Path) -> dict:
    samples = list(iter_files([ROOT / "data" / "samples"]))
    components = build_components(make_settings(data_dir))
    components.dimension  # load the model before timing  # noqa: B018
    for path in samples:  # warm-up: the first partition of a type imports its parser
        data = path.read_bytes()
        parse_document(data, detect_type(data, path.name), path.name)
    stages = {"parse": 0.0, "chunk": 0.0}
    texts: list[str] = []
    pages = 0
    for path in samples:  # stage split, measured on the same files
        data = path.read_bytes()
        t0 = time.perf_counter()
        parsed = parse_document(data, detect_type(data, path.name), path.name)
        t1 = time.perf_counter()
        chunks = chunk_blocks(
            parsed.blocks,
            chunk_size=200,
            overlap=30,
            count_tokens=components.count_tokens,
            max_tokens=230,
        )
        stages["parse"] += t1 - t0
        stages["chunk"] += time.perf_counter() - t1
        pages += max((b.page or 0) for b in parsed.blocks) or 1
        texts.extend(f"{parsed.title}\n{' > '.join(c.section)}\n{c.text}" for c in chunks)
    t0 = time.perf_counter()
    components.embedders.default.get_text_embedding_batch(texts)
    embed_only = time.perf_counter() - t0

    report = Indexer(components, "bench").ingest_paths(samples)
    components.close()
    end_to_end = report.seconds
    return {
        "files": len(samples),
        "pages": pages,
        "chunks": report.chunks,
        "end_to_end_s": round(end_to_end, 2),
        "pages_per_s": round(pages / end_to_end, 2),
        "chunks_per_s": round(report.chunks / end_to_end, 2),
        "stage_s": {k: round(v, 2) for k, v in stages.items()} | {"embed": round(embed_only, 2)},
        "embed_only_chunks_per_s": round(len(texts) / embed_only, 2),
        "ratio_vs_embed_only": round((report.chunks / end_to_end) / (len(texts) / embed_only), 3),
    }


def bench_search(data_dir: Path, repeat: int) -> dict:
    settings = make_settings(data_dir)
    components = build_components(settings)
    direct: list[float] = []
    for i in range(repeat):
        t0 = time.perf_counter()
        retrieve(components, "bench", QUESTIONS[i % len(QUESTIONS)], 6)
        direct.append((time.perf_counter() - t0) * 1000)
    components.close()
    http: list[float] = []
    with LiveServer(settings) as client:
        for i in range(repeat):
            t0 = time.perf_counter()
            response = client.post(
                "/v1/search", json={"query": QUESTIONS[i % len(QUESTIONS)], "collection": "bench"}
            )
            response.raise_for_status()
            http.append((time.perf_counter() - t0) * 1000)
    return {
        "requests": repeat,
        "http_p50_ms": round(statistics.median(http), 1),
        "http_p95_ms": round(percentile(http, 0.95), 1),
        "direct_p50_ms": round(statistics.median(direct), 1),
        "ratio_http_vs_direct_p50": round(statistics.median(http) / statistics.median(direct), 2),
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeat", type=int, default=50)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        data_dir = Path(tmp)
        results = {"ingest": bench_ingest(data_dir), "search": bench_search(data_dir, args.repeat)}
    if args.json:
        print(json.dumps(results, indent=2))
        return
    for section, values in results.items():
        print(f"\n{section}")
        for key, value in values.items():
            print(f"  {key:28} {value}")


if __name__ == "__main__":
    main()
