"""Each native library kura uses, driven through kura's own code from several threads at once.

Run as ``python -m tests.support.native_load NAME SECONDS`` (a child process, so that a native crash
shows as an exit status instead of killing the test run). Prints one JSON line: calls made,
errors seen, and whether the concurrent results equal the sequential ones.
"""

from __future__ import annotations

import json
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import ingest  # noqa: F401  (offline switches first)
from tests.support.corpus import SAMPLES

EN_PDF = SAMPLES / "debian-reference-en-package-management.pdf"
JA_PDF = SAMPLES / "debian-reference-ja-package-management.pdf"
JA_TEXT = "パッケージ管理システムの設定を変更し、第12条に従って保守契約を更新する。"
EN_TEXT = "Error E-417 on the HX-400: close the door and restart the spindle."


def _hammer(
    workers: list[Callable[[], Any]], seconds: float, expected: list[Any] | None = None
) -> dict[str, Any]:
    """Run each worker in a loop on its own thread for ``seconds``; compare results."""
    calls, errors, wrong = [0] * len(workers), [], [0]
    stop = time.monotonic() + seconds

    def loop(i: int) -> None:
        while time.monotonic() < stop:
            try:
                result = workers[i]()
            except Exception as exc:  # noqa: BLE001  (every failure is counted, none hidden)
                errors.append(f"{type(exc).__name__}: {exc}")
                continue
            calls[i] += 1
            if expected is not None and result != expected[i]:
                wrong[0] += 1

    threads = [threading.Thread(target=loop, args=(i,)) for i in range(len(workers))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return {
        "calls": sum(calls),
        "errors": errors[:5],
        "error_count": len(errors),
        "wrong": wrong[0],
    }


def pdfium(seconds: float) -> dict[str, Any]:
    """The upload worker's PDF parsing (text, table search, page rendering for OCR) beside
    questions re-reading cited pages."""
    from app.verify import _pdf_pages
    from ingest.pdf import PdfOptions, partition_pdf_fast
    from ingest.pdf import pdfium as pdfium_module

    def parse(path: Path) -> Callable[[], int]:
        data = path.read_bytes()
        # Every page read and those that draw rules searched for tables.
        return lambda: len(partition_pdf_fast(data, path.name, PdfOptions(ocr=False)))

    def render() -> int:
        from ingest import native

        with native.pdfium():
            document = pdfium_module.PdfDocument(str(JA_PDF))
        try:
            from ingest.pdf import _render

            with native.pdfium():
                page = document[0]
                image = _render(page, PdfOptions(ocr_dpi=100))
                page.close()
            return image.size[0] > 0
        finally:
            with native.pdfium():
                document.close()

    def check(path: Path, page: int) -> Callable[[], str]:
        return lambda: _pdf_pages(path, page, page + 1)[:200]

    workers = [parse(EN_PDF), parse(JA_PDF), render, render]
    workers += [check(EN_PDF, 2), check(JA_PDF, 3), check(EN_PDF, 5), check(JA_PDF, 1)]
    expected = [w() for w in workers]
    return _hammer(workers, seconds, expected)


def sudachi(seconds: float) -> dict[str, Any]:
    """Japanese keyword terms from search threads and the ingestion thread."""
    from ingest.sparse import encode_documents, encode_queries

    texts = [JA_TEXT, EN_TEXT, JA_TEXT * 20]
    workers = [lambda t=t: encode_documents([t]) for t in texts]
    workers += [lambda t=t: encode_queries([t]) for t in texts]
    expected = [w() for w in workers]
    return _hammer(workers, seconds, expected)


def embedder(seconds: float) -> dict[str, Any]:
    """Document batches from the upload worker beside query embeddings from request threads."""
    from app.settings import AppSettings
    from ingest.components import build_components

    components = build_components(
        AppSettings(_env_file=None, data_dir=Path(tempfile.mkdtemp()))  # type: ignore[call-arg]
    )
    model = components.embedders.default
    batch = [EN_TEXT, JA_TEXT, "word " * 300, "short"]

    def documents() -> list[float]:
        return [round(x, 4) for v in model.get_text_embedding_batch(batch) for x in v[:8]]

    def query(text: str) -> Callable[[], list[float]]:
        return lambda: [round(x, 4) for x in model.get_query_embedding(text)[:8]]

    workers = [documents, query(EN_TEXT), query(JA_TEXT), query("How long is the warranty?")]
    expected = [w() for w in workers]
    return _hammer(workers, seconds, expected)


def edge(seconds: float) -> dict[str, Any]:
    """The embedded Qdrant Edge shard: writes beside searches and counts."""
    from llama_index.core.schema import TextNode
    from llama_index.core.vector_stores.types import VectorStoreQuery

    from ingest.sparse import encode_documents, encode_queries
    from ingest.stores.edge import EdgeVectorStore

    store = EdgeVectorStore.create(
        Path(tempfile.mkdtemp()) / "shard",
        dimension=4,
        keyword_fields=["document_id"],
        sparse_doc_fn=encode_documents,
        sparse_query_fn=encode_queries,
    )
    counter = [0]

    def write() -> bool:
        counter[0] += 1
        n = counter[0]
        node = TextNode(
            text=f"{EN_TEXT} {n}", embedding=[1.0, 0.5, n % 7, 0.1], metadata={"document_id": "d"}
        )
        node.id_ = f"00000000-0000-0000-0000-{n:012d}"
        return bool(store.add([node]))

    def search() -> bool:
        result = store.query(
            VectorStoreQuery(query_embedding=[1.0, 0.5, 1.0, 0.1], similarity_top_k=5)
        )
        return len(result.nodes or []) <= 5

    def count() -> bool:
        return store.count() >= 0

    try:
        return _hammer([write, search, search, count], seconds, [True, True, True, True])
    finally:
        store.close()


def libmagic(seconds: float) -> dict[str, Any]:
    """File types sniffed by content from several upload and check threads."""
    from ingest.detect import detect_type

    files = [EN_PDF, SAMPLES / "apache-license-2.0.txt", JA_PDF]
    datas = [(p.read_bytes(), p.name) for p in files]
    workers = [lambda d=d: detect_type(*d) for d in datas]
    expected = [w() for w in workers]
    return _hammer(workers, seconds, expected)


def tesseract(seconds: float) -> dict[str, Any]:
    """OCR of rendered pages from two threads (tesseract runs as a child process per page)."""
    from ingest import native
    from ingest.pdf import PdfOptions, _ocr, _render
    from ingest.pdf import pdfium as pdfium_module

    with native.pdfium():
        document = pdfium_module.PdfDocument(str(EN_PDF))
        page = document[1]
        image = _render(page, PdfOptions(ocr_dpi=100))
        page.close()
        document.close()

    def read() -> bool:
        return "package" in _ocr(image, PdfOptions(ocr_languages="eng"), "page.pdf").lower()

    return _hammer([read, read], seconds, [True, True])


CHECKS: dict[str, Callable[[float], dict[str, Any]]] = {
    f.__name__: f for f in (pdfium, sudachi, embedder, edge, libmagic, tesseract)
}

if __name__ == "__main__":
    name, seconds = sys.argv[1], float(sys.argv[2])
    print(json.dumps(CHECKS[name](seconds)))
