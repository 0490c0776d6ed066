"""Ingestion throughput on a real PDF manual set, split by stage, against embedding alone.

The baseline is the embedding step alone on exactly the chunks the pipeline produces, in the
same process: parsing, chunking and storing should cost at most a quarter of the time
(goal: end-to-end chunks/s >= 0.8 x embedding-only chunks/s). Also: PDF parsing pages/s with
PDFium against unstructured's pdfminer path on the same file, and peak memory.

Usage: .venv/bin/python benchmarks/ingestion.py [--workers 2] [--big] [--json]
  --big   also ingest R's 2,415-page reference manual and report peak memory (slow).
Needs: apt-get install debian-reference-en debian-reference-ja r-doc-pdf
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from common import BIG_MANUAL, MANUALS, emit, peak_rss_mb, require

import ingest  # noqa: F401
from ingest.components import build_components
from ingest.detect import DocType
from ingest.parse import ParseOptions, parse_document
from ingest.pipeline import Indexer, prepare_document
from tests.support.server import make_settings


def parse_speed(path: Path, pages: int) -> dict:
    data = path.read_bytes()
    out = {}
    for parser in ("pdfium", "unstructured"):
        t0 = time.perf_counter()
        parse_document(data, DocType.PDF, path.name, ParseOptions(pdf_parser=parser))
        out[f"{parser}_pages_per_s"] = round(pages / (time.perf_counter() - t0), 1)
    out["ratio_pdfium_vs_unstructured"] = round(
        out["pdfium_pages_per_s"] / out["unstructured_pages_per_s"], 1
    )
    return out


def run(files: list[Path], workers: int) -> dict:
    import pypdfium2 as pdfium

    pages = sum(len(pdfium.PdfDocument(str(f))) for f in files)
    with tempfile.TemporaryDirectory() as tmp:
        components = build_components(make_settings(Path(tmp)))
        indexer = Indexer(components, "manuals")
        components.embedders.default.get_text_embedding("warm up")

        # Stage split, on the same files, in this process.
        t0 = time.perf_counter()
        prepared = [prepare_document(f.read_bytes(), str(f), indexer.options) for f in files]
        prepare_s = time.perf_counter() - t0
        texts = [
            f"{p.parsed.title}\n{' > '.join(c.section)}\n{c.text}"
            for p in prepared
            for c in p.chunks
        ]
        t0 = time.perf_counter()
        components.embedders.default.get_text_embedding_batch(texts)
        embed_s = time.perf_counter() - t0

        report = indexer.ingest_paths(files, workers=workers)
        chunks = report.chunks
        store = components.vector_store("manuals")
        t0 = time.perf_counter()
        store.optimize()
        optimize_s = time.perf_counter() - t0
        components.close()
    end_to_end = report.seconds
    return {
        "files": len(files),
        "pages": pages,
        "chunks": chunks,
        "workers": workers,
        "end_to_end_s": round(end_to_end, 1),
        "pages_per_s": round(pages / end_to_end, 2),
        "chunks_per_s": round(chunks / end_to_end, 2),
        "stage_parse_and_chunk_s": round(prepare_s, 1),
        "stage_embed_s": round(embed_s, 1),
        "stage_store_and_other_s": round(max(0.0, end_to_end - embed_s - prepare_s), 1),
        "optimize_after_run_s (in end_to_end)": round(optimize_s, 2),
        "embed_only_chunks_per_s": round(len(texts) / embed_s, 2),
        "ratio_end_to_end_vs_embed_only": round((chunks / end_to_end) / (len(texts) / embed_s), 3),
        "peak_rss_mb": round(peak_rss_mb()),
    }


def big(workers: int) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        components = build_components(make_settings(Path(tmp)))
        report = Indexer(components, "big").ingest_paths([BIG_MANUAL], workers=workers)
        components.close()
    return {
        "pages": 2415,
        "chunks": report.chunks,
        "seconds": round(report.seconds, 1),
        "peak_rss_mb": round(peak_rss_mb()),
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--big", action="store_true")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    require(MANUALS + ([BIG_MANUAL] if args.big else []))
    results = {
        "pdf parsing (R-FAQ, 52 pages)": parse_speed(MANUALS[3], 52),
        "ingestion (manual set)": run(MANUALS, args.workers),
    }
    if args.big:
        results["ingestion (R reference manual, 2,415 pages)"] = big(args.workers)
    emit(results, args.json)


if __name__ == "__main__":
    main()
