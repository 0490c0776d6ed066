"""What a hybrid search moves: whole payloads for every ranking's candidates (the path before,
``whole_payloads=True``) against fusion's ``language`` field for the candidates and the fused
best fetched whole by id (ingest/stores/shared.py), in the same process on the same index.

The chunks are real: the Debian Reference's chapters in English and Japanese, parsed and
chunked by kura, with kura's payload. Their vectors are hashed words (tests/support/embedder.py):
what is measured is what moves, not how well it ranks, and no model has to load. Reported for
the embedded store (Qdrant Edge): queries/s of each path and their ratio, and per question the
payload bytes (as JSON) and whole payloads that reach kura; for the server path, through the
Qdrant stand-in (tests/support/qdrant_standin.py, not a Qdrant server: no time is reported),
the same counts and the bytes of the responses to the searches' requests on the wire (the
version token's reads by id among them, alike on both paths). Both paths must return the same
hits (ids, order, nodes): ``same_results``.

Usage: .venv/bin/python benchmarks/search_payloads.py [--chunks 300] [--rounds 20] [--json]
Needs: apt-get install debian-reference-en debian-reference-ja
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path
from typing import Any

from common import emit, require
from llama_index.core.vector_stores.types import (
    MetadataFilters,
    VectorStoreQuery,
    VectorStoreQueryMode,
)

from ingest.components import Components
from ingest.embedding.multilingual import DIMENSION as MULTI_DIMENSION
from ingest.filters import with_access
from ingest.pipeline.nodes import to_nodes
from ingest.prepare import PrepareOptions, prepare_document
from ingest.registry import EVERYONE
from ingest.schema import document_id
from ingest.stores import KuraStore
from ingest.stores.fusion import FIELDS, LanguageWeights
from ingest.visibility import RECORD_FIELD
from tests.support.embedder import HashEmbedding
from tests.support.qdrant_standin import QdrantStandin
from tests.support.stores import fake

CHAPTERS = [Path(f"/usr/share/debian-reference/ch02.{lang}.html") for lang in ("en", "ja")]
QUESTIONS = [
    "How do I remove a package including its configuration files?",
    "パッケージを完全削除するには",
    "Which tool is most suitable for a major system upgrade?",
    "aptitude コマンドの代わりに何を使うべきですか",
    "How can I change the default mirror for apt?",
    "パッケージのアップグレードを保留するには",
    "What does apt-get dist-upgrade do?",
    "Debian のアーカイブの構成",
]
TOP_K = 5
DENSE, MULTI = HashEmbedding(), HashEmbedding(embed_dim=MULTI_DIMENSION)


class Counting:
    """An engine client that passes every call through and adds up the payloads searches
    return (their bytes as JSON, and how many are whole: more than fusion's fields)."""

    def __init__(self, client: Any) -> None:
        self._client = client
        self.whole = self.bytes = 0

    def __getattr__(self, name: str) -> Any:
        found = getattr(self._client, name)
        if name not in ("query_batch", "query_batch_points", "retrieve"):
            return found

        def call(*args: Any, **kwargs: Any) -> Any:
            result = found(*args, **kwargs)
            for points in result if "batch" in name else [result]:
                for point in getattr(points, "points", points):
                    if point.payload and RECORD_FIELD not in point.payload:  # not visibility
                        self.whole += len(point.payload) > len(FIELDS)
                        self.bytes += len(json.dumps(dict(point.payload)).encode())
            return result

        return call


def load(components: Components, chunks: int) -> KuraStore:
    """Parse and chunk the chapters, ``chunks`` at most from each, into collection "bench"."""
    store = components.vector_store("bench", create=True)
    options = PrepareOptions.from_settings(
        components.settings,
        max_tokens=components.max_tokens,
        model_dir=components.count_tokens.model_dir,
    )
    for path in CHAPTERS:
        prepared = prepare_document(path.read_bytes(), str(path), options)
        nodes = to_nodes(
            prepared.chunks[:chunks],
            prepared.parsed,
            doc_id=document_id("bench", str(path)),
            version=prepared.version,
            source=str(path),
            doc_type=prepared.doc_type,
        )
        texts = [n.get_content() for n in nodes]
        for node, text in zip(nodes, texts, strict=True):
            node.embedding = DENSE.vector(text)
        store.add(nodes, multi_embeddings=[MULTI.vector(text) for text in texts])
    return store


def ask(store: KuraStore, question: str, whole: bool) -> Any:
    """The hybrid search the app makes for a top-5 question (access filter inside)."""
    query = VectorStoreQuery(
        query_embedding=DENSE.vector(question),
        query_str=question,
        similarity_top_k=TOP_K,
        hybrid_top_k=TOP_K,
        mode=VectorStoreQueryMode.HYBRID,
        filters=with_access(MetadataFilters(filters=[]), [EVERYONE]),
    )
    weights = LanguageWeights.of(question, "en")
    multi = MULTI.vector(question)
    return store.query(query, multi_embedding=multi, weights=weights, whole_payloads=whole)


def same_results(store: KuraStore) -> bool:
    """Whether both paths return the same hits (ids, order, nodes) for every question."""

    def hits(whole: bool) -> list[Any]:
        return [
            (r.ids, [n.dict() for n in r.nodes]) for r in (ask(store, q, whole) for q in QUESTIONS)
        ]

    return hits(True) == hits(False)


def moved(store: KuraStore, counter: Counting, whole: bool) -> dict[str, float]:
    """Payload bytes and whole payloads that reach kura per question, on one path."""
    counter.whole = counter.bytes = 0
    for question in QUESTIONS:
        ask(store, question, whole)
    when = "before" if whole else "after"
    return {
        f"payload_bytes_per_query_{when}": round(counter.bytes / len(QUESTIONS)),
        f"whole_payloads_per_query_{when}": round(counter.whole / len(QUESTIONS), 1),
    }


def queries_per_s(store: KuraStore, whole: bool, rounds: int) -> float:
    started = time.perf_counter()
    for _ in range(rounds):
        for question in QUESTIONS:
            ask(store, question, whole)
    return rounds * len(QUESTIONS) / (time.perf_counter() - started)


def edge(data_dir: Path, chunks: int, rounds: int) -> dict[str, Any]:
    """The embedded store: speed and payloads moved, both paths."""
    components = fake(data_dir)
    try:
        store: Any = load(components, chunks)
        store.optimize()
        row: dict[str, Any] = {"chunks": store.count()}
        row["same_results"] = same_results(store)
        queries_per_s(store, False, 2)  # warm up
        # interleaved rounds, so that the other processes' load falls on both alike
        before = after = 0.0
        for _ in range(3):
            before += queries_per_s(store, True, rounds) / 3
            after += queries_per_s(store, False, rounds) / 3
        row |= {
            "queries_per_s_before": round(before, 1),
            "queries_per_s_after": round(after, 1),
            "queries_per_s_ratio": round(after / before, 2),
        }
        counter = Counting(store.client)
        store._shard = counter
        row |= moved(store, counter, True) | moved(store, counter, False)
    finally:
        components.close()
    return row


def server(data_dir: Path, chunks: int) -> dict[str, Any]:
    """The server path through the stand-in: payloads moved and bytes on the wire."""
    standin = QdrantStandin(record=True)
    with standin as url:
        components = fake(data_dir, qdrant_url=url)
        try:
            store: Any = load(components, chunks)
            row: dict[str, Any] = {"chunks": store.count()}
            row["same_results"] = same_results(store)
            counter = Counting(store._client)
            store._client = counter
            assert standin.exchanges is not None
            for whole in (True, False):
                standin.exchanges.clear()
                row |= moved(store, counter, whole)
                searched = sum(
                    e.answered
                    for e in standin.exchanges
                    if e.path.endswith(("/points/query/batch", "/points"))
                )
                when = "before" if whole else "after"
                row[f"wire_bytes_per_query_{when}"] = round(searched / len(QUESTIONS))
        finally:
            components.close()
    return row


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--chunks", type=int, default=150, help="at most, per language")
    parser.add_argument("--rounds", type=int, default=20, help="questions asked 8 x this")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    require(CHAPTERS)
    with tempfile.TemporaryDirectory() as tmp:
        results = {
            "edge (embedded)": edge(Path(tmp) / "edge", args.chunks, args.rounds),
            "server (stand-in)": server(Path(tmp) / "server", args.chunks),
        }
    emit(results, args.json)


if __name__ == "__main__":
    main()
