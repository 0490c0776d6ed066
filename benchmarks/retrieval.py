"""Retrieval speed at 10k and 100k chunks in the embedded store (Qdrant Edge), against a bare
numpy dot product over the same vectors, measured in the same run.

The vectors are real: chunks of real manuals (Debian Reference en/ja, R manuals) embedded by the
packaged model. Sets larger than the manuals are filled with perturbed copies of the real
vectors (cosine ~0.9 to their source, with the source's text), which keeps the clustered shape
of real embeddings. Reported:

- store-level query time (dense, hybrid) p50/p95, and numpy's exact top-10 on the same vectors;
- recall@10 of the HNSW index against exact search, on real query embeddings;
- /v1/search over HTTP against a `kura serve` process: p50/p95 with 1 and 8 concurrent clients;
- reopen time of the store, upsert rate, optimize time, and the server's peak memory.

Usage: .venv/bin/python benchmarks/retrieval.py [--sizes 10000,100000] [--json]
Needs: apt-get install debian-reference-en debian-reference-ja r-doc-pdf
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import numpy as np
from common import MANUALS, ROOT, emit, require, summary

import ingest  # noqa: F401
from ingest.components import build_components
from ingest.pipeline import Indexer, prepare_document, to_nodes
from ingest.schema import document_id
from tests.support.server import free_port, make_settings

CACHE = ROOT / "benchmarks" / ".cache" / "manual-vectors.npz"
QUESTIONS = [
    "Which tool is most suitable for a major system upgrade?",
    "How do I remove a package including its configuration files?",
    "aptitude コマンドの代わりに何を使うべきですか",
    "How do I read a CSV file into a data frame?",
    "What is a factor in R?",
    "パッケージを完全削除するには",
    "How can I change the default mirror for apt?",
    "ネットワークの設定方法",
]


def real_chunks() -> tuple[list[str], list[str], np.ndarray]:
    """(texts, embedded texts, vectors) of the manual set, embedded once and cached."""
    if CACHE.is_file():
        data = np.load(CACHE, allow_pickle=False)
        return list(data["texts"]), list(data["embedded"]), data["vectors"]
    with tempfile.TemporaryDirectory() as tmp:
        components = build_components(make_settings(Path(tmp)))
        indexer = Indexer(components, "cache")
        texts, embedded = [], []
        for path in MANUALS:
            prepared = prepare_document(path.read_bytes(), str(path), indexer.options)
            for chunk in prepared.chunks:
                texts.append(chunk.text)
                embedded.append(
                    f"{prepared.parsed.title}\n{' > '.join(chunk.section)}\n{chunk.text}"
                )
        vectors = np.asarray(
            components.embedders.default.get_text_embedding_batch(embedded), np.float32
        )
        components.close()
    CACHE.parent.mkdir(parents=True, exist_ok=True)
    np.savez(CACHE, texts=np.array(texts), embedded=np.array(embedded), vectors=vectors)
    return texts, embedded, vectors


def grow(vectors: np.ndarray, size: int, seed: int = 0) -> np.ndarray:
    """``size`` unit vectors: the real ones, then perturbed copies of them."""
    rng = np.random.default_rng(seed)
    base = vectors[np.arange(size) % len(vectors)]
    noise = rng.standard_normal(base.shape).astype(np.float32)
    noise /= np.linalg.norm(noise, axis=1, keepdims=True)
    out = base + 0.5 * noise * (np.arange(size) >= len(vectors))[:, None]
    return out / np.linalg.norm(out, axis=1, keepdims=True)


def build_store(data_dir: Path, texts: list[str], vectors: np.ndarray) -> dict:
    """Write the points through kura's own pipeline objects (nodes, payload, sparse vectors)."""
    from ingest.chunk import Chunk
    from ingest.detect import DocType
    from ingest.parse import ParsedDocument

    components = build_components(make_settings(data_dir))
    components.__dict__["dimension"] = vectors.shape[1]
    store = components.vector_store("bench", create=True)
    started = time.perf_counter()
    batch = 2048
    for start in range(0, len(vectors), batch):
        doc = f"/bench/doc-{start // batch}.pdf"
        chunks = [
            Chunk(
                texts[i % len(texts)],
                ("Section",),
                1 + (i % 50),
                1 + (i % 50),
                ("NarrativeText",),
                "en",
            )
            for i in range(start, min(start + batch, len(vectors)))
        ]
        nodes = to_nodes(
            chunks,
            ParsedDocument(title="Manual"),
            doc_id=document_id("bench", doc),
            version="v1",
            source=doc,
            doc_type=DocType.PDF,
        )
        for node, vector in zip(nodes, vectors[start : start + batch], strict=True):
            node.embedding = vector.tolist()
        store.add(nodes)
    upsert_s = time.perf_counter() - started
    started = time.perf_counter()
    store.optimize()
    optimize_s = time.perf_counter() - started
    components.close()
    return {
        "upsert_points_per_s": round(len(vectors) / upsert_s),
        "optimize_s": round(optimize_s, 1),
    }


def store_latency(data_dir: Path, vectors: np.ndarray, queries: list[str]) -> dict:
    from llama_index.core.vector_stores.types import VectorStoreQuery, VectorStoreQueryMode

    started = time.perf_counter()
    components = build_components(make_settings(data_dir))
    store = components.vector_store("bench")
    store.count()
    reopen_s = time.perf_counter() - started
    embedded = [components.embedders.default.get_query_embedding(q) for q in queries]

    def timed(
        mode: VectorStoreQueryMode, exact: bool = False
    ) -> tuple[list[float], list[list[str]]]:
        store.hnsw_ef = 128
        times, ids = [], []
        for text, vector in zip(queries, embedded, strict=True):
            request = VectorStoreQuery(
                query_embedding=vector,
                query_str=text,
                similarity_top_k=10,
                hybrid_top_k=10,
                sparse_top_k=10,
                mode=mode,
            )
            if exact:
                import qdrant_edge as qe

                t0 = time.perf_counter()
                points = store.client.query(
                    qe.QueryRequest(
                        limit=10,
                        query=qe.Query.Nearest(vector, using="dense"),
                        params=qe.SearchParams(exact=True),
                    )
                )
                times.append((time.perf_counter() - t0) * 1000)
                ids.append([str(p.id) for p in points])
                continue
            t0 = time.perf_counter()
            result = store.query(request)
            times.append((time.perf_counter() - t0) * 1000)
            ids.append(list(result.ids or []))
        return times, ids

    dense_t, dense_ids = timed(VectorStoreQueryMode.DEFAULT)
    exact_t, exact_ids = timed(VectorStoreQueryMode.DEFAULT, exact=True)
    hybrid_t, _ = timed(VectorStoreQueryMode.HYBRID)
    recall = np.mean([len(set(a) & set(b)) / 10 for a, b in zip(dense_ids, exact_ids, strict=True)])

    matrix = vectors.astype(np.float32)
    numpy_t = []
    for vector in embedded:
        q = np.asarray(vector, np.float32)
        t0 = time.perf_counter()
        scores = matrix @ q
        top = np.argpartition(-scores, 10)[:10]
        top[np.argsort(-scores[top])]
        numpy_t.append((time.perf_counter() - t0) * 1000)
    components.close()
    dense, hybrid, bare = summary(dense_t), summary(hybrid_t), summary(numpy_t)
    return {
        "reopen_s": round(reopen_s, 2),
        "dense_ms": dense,
        "hybrid_ms": hybrid,
        "exact_ms": summary(exact_t),
        "numpy_dot_ms": bare,
        "ratio_dense_vs_numpy_p50": round(dense["p50"] / bare["p50"], 2),
        "ratio_hybrid_vs_numpy_p50": round(hybrid["p50"] / bare["p50"], 2),
        "recall@10_hnsw_vs_exact": round(float(recall), 4),
    }


def http_latency(data_dir: Path, queries: list[str], mode: str) -> dict:
    port = free_port()
    env = {**os.environ, "KURA_DATA_DIR": str(data_dir), "KURA_COLLECTION": "bench"}
    server = subprocess.Popen(
        [sys.executable, "-m", "app", "serve", "--port", str(port)],
        env=env,
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{url}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.2)

        def run(client: httpx.Client, items: list[str]) -> list[float]:
            times = []
            for q in items:
                t0 = time.perf_counter()
                r = client.post("/v1/search", json={"query": q, "top_k": 10, "mode": mode})
                r.raise_for_status()
                times.append((time.perf_counter() - t0) * 1000)
            return times

        with httpx.Client(base_url=url, timeout=60) as client:
            run(client, queries[:5])  # warm up
            single = run(client, queries)
        clients = [httpx.Client(base_url=url, timeout=60) for _ in range(8)]
        with ThreadPoolExecutor(8) as pool:
            parts = list(pool.map(run, clients, [queries[i::8] * 3 for i in range(8)]))
        for c in clients:
            c.close()
        status = Path(f"/proc/{server.pid}/status").read_text()
        peak = next(
            int(line.split()[1]) for line in status.splitlines() if line.startswith("VmHWM")
        )
    finally:
        server.send_signal(signal.SIGINT)
        server.wait(timeout=30)
    concurrent = [t for part in parts for t in part]
    return {
        f"single_client_{mode}_ms": summary(single),
        f"8_clients_{mode}_ms": summary(concurrent),
        "server_peak_rss_mb": round(peak / 1024),
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sizes", default="10000,100000")
    parser.add_argument("--queries", type=int, default=100)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    require(MANUALS)
    texts, _, vectors = real_chunks()
    rng = np.random.default_rng(1)
    sampled = [" ".join(texts[i].split()[:12]) for i in rng.choice(len(texts), args.queries)]
    queries = (QUESTIONS + sampled)[: args.queries]
    results: dict = {"real chunks": {"count": len(texts)}}
    for size in (int(s) for s in args.sizes.split(",")):
        grown = grow(vectors, size)
        with tempfile.TemporaryDirectory() as tmp:
            data_dir = Path(tmp)
            row = build_store(data_dir, texts, grown)
            row |= store_latency(data_dir, grown, queries)
            row |= http_latency(data_dir, queries, "hybrid")
            row |= http_latency(data_dir, queries, "dense")
        results[f"{size} chunks"] = row
    emit(results, args.json)


if __name__ == "__main__":
    main()
