"""What one chunk costs in Qdrant, measured on real manuals: the inputs of docs/scale-out.md.

Indexes Debian Reference (English and Japanese PDFs) into qdrant-client's in-process store
with a fake 384-d embedder (the dense values do not change any size measured here), then
reads every point back: payload bytes (JSON, as Qdrant stores it), BM25 terms per chunk,
chunks per page, and the tokens gpt-oss reads for one passage and for the system prompt.
Prints each against the dense vector's own bytes (ratio), and Qdrant's published memory
formula (vectors x dims x 4 B x 1.5) applied to 1M, 10M and 100M chunks.

Usage: .venv/bin/python benchmarks/index_footprint.py [--json]
Needs: apt-get install debian-reference-en debian-reference-ja
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
from pathlib import Path

from common import MANUALS, emit, require

import ingest  # noqa: F401
from app.prompt import SYSTEM_PROMPT
from app.tokens import count_tokens
from ingest.components import build_components
from ingest.pipeline import Indexer
from ingest.schema import SPARSE_VECTOR
from tests.support.embedder import DIMENSION, HashEmbedding
from tests.support.server import make_settings

FILES = MANUALS[:2]  # Debian Reference, en and ja
GIB = 1024**3


def measure(files: list[Path]) -> dict:
    import pypdfium2 as pdfium

    pages = sum(len(pdfium.PdfDocument(str(f))) for f in files)
    with tempfile.TemporaryDirectory() as tmp:
        settings = make_settings(Path(tmp), qdrant_url=":memory:")
        components = build_components(settings, embedder=HashEmbedding())
        try:
            report = Indexer(components, "manuals").ingest_paths(files)
            failed = [f"{r.source}: {r.reason}" for r in report.results if r.reason]
            if failed:
                raise SystemExit(f"ingestion failed: {failed}")
            backend = components.backend
            client = backend.client  # type: ignore[attr-defined]
            name = next(n for n in backend.names() if n.endswith("manuals"))
            payload_bytes, terms, tokens = [], [], []
            offset = None
            while True:
                points, offset = client.scroll(
                    name, limit=512, offset=offset, with_payload=True, with_vectors=True
                )
                for point in points:
                    payload = point.payload or {}
                    if "_node_content" not in payload:
                        continue  # kura's version records, one per document
                    payload_bytes.append(len(json.dumps(payload, ensure_ascii=False).encode()))
                    terms.append(len(point.vector[SPARSE_VECTOR].indices))
                    # on a server the text lives in llama-index's node copy
                    tokens.append(count_tokens(json.loads(payload["_node_content"])["text"]))
                if offset is None:
                    break
        finally:
            components.close()
    dense = DIMENSION * 4
    per_chunk = {
        "chunks": len(payload_bytes),
        "pages": pages,
        "chunks_per_page": round(len(payload_bytes) / pages, 2),
        "payload_bytes_mean": round(statistics.mean(payload_bytes)),
        "payload_vs_dense_vector": round(statistics.mean(payload_bytes) / dense, 2),
        "bm25_terms_mean": round(statistics.mean(terms), 1),
        # a sparse entry is a u32 index and an f32 weight, in the vector and in the postings
        "sparse_bytes_estimate": round(statistics.mean(terms) * 16),
        "passage_tokens_o200k_mean": round(statistics.mean(tokens)),
        "system_prompt_tokens_o200k": count_tokens(SYSTEM_PROMPT),
    }
    formula = {}
    for chunks in (1_000_000, 10_000_000, 100_000_000):
        for dims in (384, 1024):
            formula[f"{chunks // 1_000_000}M x {dims}-d: GiB"] = round(
                chunks * dims * 4 * 1.5 / GIB, 1
            )
    return {"per chunk (Debian Reference en+ja)": per_chunk, "Qdrant's formula": formula}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    require(FILES)
    emit(measure(FILES), args.json)


if __name__ == "__main__":
    main()
