"""Probe: hostile files in one ingestion batch with good documents, under the parse limits.

Generates the hostile shapes of ``tests/support/hostile_files.py`` (a ZIP bomb as DOCX, 200k
paragraphs, 300k rows, 2,000 slides, nested Markdown, 10k headings, 3 MB lines, 20 MB and
50 MB texts, crafted PDFs) at ``--scale`` (1.0 = the sizes of the probe that found the
problem), puts good English and Japanese documents before, between and after them, and indexes
the folder with the real pipeline (one parsing worker, embedded store). Prints one row per file
and the table: hostile inputs / crashes / over-limit kills / unclear reasons / peak RSS of the
worst file, then whether every good document is intact and found by a search.

Usage: .venv/bin/python benchmarks/hostile_ingest.py [--scale 1.0] [--timeout 300]
       [--memory-mb 2048] [--max-chunks 500] [--only bomb.docx,nested.md] [--json]
--max-chunks (KURA_MAX_DOCUMENT_CHUNKS) refuses documents that would make more chunks, before
they are embedded: the probe is about reading files, and embedding a hostile file's tens of
thousands of chunks would take hours on a CPU. A full-scale run takes up to (hostile files x
timeout) with the defaults.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from common import emit

import ingest  # noqa: F401  (offline switches first)
from app.retrieve import retrieve
from ingest.components import build_components
from ingest.pipeline import FileResult, Indexer, Status
from ingest.worker import ParseStats
from tests.support.corpus import build_corpus
from tests.support.hostile_files import HOSTILE
from tests.support.server import make_settings

COLLECTION = "hostile"
# Good documents, and a query each must answer (English: hybrid; Japanese: keywords).
GOOD = {
    "hx400-manual.docx": ("coolant temperature sensor overheating E-417", "hybrid"),
    "保守契約.txt": ("定期点検 報告", "sparse"),
    "guide.html": ("green READY lamp", "hybrid"),
}
OVER_LIMIT = ("took longer than", "needed more than")
UNCLEAR = ("internal error",)


def build_folder(folder: Path, scale: float, only: set[str]) -> tuple[list[Path], list[Path]]:
    """Hostile files with good ones before, between and after them; returns (hostile, good)."""
    corpus = build_corpus(folder.parent / "corpus")
    good_names = list(GOOD)
    hostile = [h for h in HOSTILE if not only or h.name in only]
    ordered: list[Path] = []
    good: list[Path] = []
    bad: list[Path] = []
    middle = len(hostile) // 2
    for i, shape in enumerate(hostile):
        if i in (0, middle):
            name = good_names[0 if i == 0 else 1]
            path = folder / f"{len(ordered):02d}-{name}"
            path.write_bytes((corpus / name).read_bytes())
            good.append(path)
            ordered.append(path)
        path = folder / f"{len(ordered):02d}-{shape.name}"
        path.write_bytes(shape.build(scale))
        bad.append(path)
        ordered.append(path)
    last = folder / f"{len(ordered):02d}-{good_names[2]}"
    last.write_bytes((corpus / good_names[2]).read_bytes())
    good.append(last)
    return bad, good


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--scale", type=float, default=1.0)
    parser.add_argument("--timeout", type=float, default=None, help="KURA_PARSE_TIMEOUT")
    parser.add_argument("--memory-mb", type=int, default=None, help="KURA_PARSE_MEMORY_MB")
    parser.add_argument("--max-chunks", type=int, default=500, help="KURA_MAX_DOCUMENT_CHUNKS")
    parser.add_argument("--only", default="", help="comma-separated hostile file names")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    limits: dict[str, float] = {"max_document_chunks": args.max_chunks}
    if args.timeout is not None:
        limits["parse_timeout"] = args.timeout
    if args.memory_mb is not None:
        limits["parse_memory_mb"] = args.memory_mb

    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        folder = root / "batch"
        folder.mkdir()
        hostile, good = build_folder(folder, args.scale, set(filter(None, args.only.split(","))))
        components = build_components(make_settings(root / "data", **limits))
        stats: dict[str, ParseStats] = {}
        components.parsers.observer = lambda source, measured, _reason: stats.__setitem__(
            Path(source).name, measured
        )
        indexer = Indexer(components, COLLECTION)
        results: dict[str, FileResult] = {}
        crashes: dict[str, str] = {}
        started = time.perf_counter()
        try:
            for path in sorted(folder.iterdir()):
                t0 = time.perf_counter()
                try:
                    results[path.name] = indexer.ingest_file(path)
                except Exception as exc:  # noqa: BLE001  (counting escapes is the point)
                    crashes[path.name] = repr(exc)
                seconds = time.perf_counter() - t0
                result = results.get(path.name)
                measured = stats.get(path.name, ParseStats())
                print(
                    f"{path.name:24} {path.stat().st_size / 1e6:8.2f} MB "
                    f"{result.status.value if result else 'CRASH':9} {seconds:7.1f} s "
                    f"peak {measured.peak_mb:6.0f} MB  "
                    f"{(result.reason or '') if result else crashes[path.name]}",
                    flush=True,
                )
            searchable = {}
            for path in good:
                query, mode = GOOD[path.name[3:]]
                passages = retrieve(components, COLLECTION, query, 5, mode=mode)  # type: ignore[arg-type]
                searchable[path.name] = any(p.source == str(path.resolve()) for p in passages)
        finally:
            components.close()
        total = time.perf_counter() - started

    hostile_names = {p.name for p in hostile}
    failed = {n: r for n, r in results.items() if n in hostile_names and r.status is Status.FAILED}
    kills = [n for n, r in failed.items() if any(k in (r.reason or "") for k in OVER_LIMIT)]
    unclear = [n for n, r in failed.items() if not r.reason or any(u in r.reason for u in UNCLEAR)]
    worst = max(
        ((n, s.peak_mb) for n, s in stats.items() if n in hostile_names),
        key=lambda item: item[1],
        default=("-", 0.0),
    )
    good_ok = {
        p.name: bool(
            results.get(p.name) and results[p.name].status is Status.INDEXED and searchable[p.name]
        )
        for p in good
    }
    emit(
        {
            "limits": {
                "parse_timeout_s": components.settings.parse_timeout,
                "parse_memory_mb": components.settings.parse_memory_mb,
                "scale": args.scale,
            },
            "table": {
                "hostile inputs": len(hostile),
                "crashes": len(crashes),
                "over-limit kills": len(kills),
                "other refusals (clear reasons)": len(failed) - len(kills) - len(unclear),
                "indexed": sum(
                    1 for n in hostile_names if n in results and results[n].status is Status.INDEXED
                ),
                "unclear reasons": len(unclear),
                "peak RSS of the worst file (MB)": round(worst[1]),
                "worst file": worst[0],
                "good documents intact and searchable": f"{sum(good_ok.values())}/{len(good_ok)}",
                "total seconds": round(total, 1),
            },
        },
        args.json,
    )


if __name__ == "__main__":
    main()
