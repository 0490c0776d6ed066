"""Retrieval quality on the shipped labelled sets: hybrid against dense-only and BM25-only.

Indexes each set's documents (real public documentation from Debian packages) into a temporary
embedded store, runs `kura eval`'s evaluation in all three modes, and prints the metrics and the
ratios hybrid / best single mode. Goals (issue 5): hybrid nDCG@10 >= 1.05 x the better single
mode on each set, and Japanese hybrid hit@5 >= 0.8.

Usage: .venv/bin/python benchmarks/retrieval_quality.py [--pdf-parser pdfium|unstructured] [--json]
Needs: apt-get install python3.11-doc debian-handbook r-doc-pdf
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

from common import ROOT, emit

import ingest  # noqa: F401
from app.evaluate import evaluate, load_questions, report
from app.retrieve import Retriever
from ingest.components import build_components
from ingest.pipeline import Indexer
from tests.support.server import make_settings

SETS = {
    "python-faq-en": (
        ROOT / "eval" / "python-faq-en.jsonl",
        [Path("/usr/share/doc/python3.11/html/faq")],
    ),
    # the pages only: the folder also holds images and stylesheets
    "debian-handbook-ja": (
        ROOT / "eval" / "debian-handbook-ja.jsonl",
        sorted(Path("/usr/share/doc/debian-handbook/html/ja-JP").glob("*.html")),
    ),
    "r-faq-en (PDF)": (
        ROOT / "eval" / "r-faq-en.jsonl",
        [Path("/usr/share/R/doc/manual/R-FAQ.pdf")],
    ),
}


def run_set(name: str, questions_file: Path, folders: list[Path], parser: str) -> dict:
    missing = [str(f) for f in folders if not f.exists()]
    if missing:
        raise SystemExit(
            f"{name}: missing {missing} (apt-get install python3.11-doc debian-handbook r-doc-pdf)"
        )
    questions = load_questions(questions_file)
    with tempfile.TemporaryDirectory() as tmp:
        settings = make_settings(Path(tmp), pdf_parser=parser)
        components = build_components(settings)
        ingest_report = Indexer(components, name).ingest_paths(folders)
        results = evaluate(
            Retriever(components, settings), name, questions, ["hybrid", "dense", "sparse"]
        )
        components.close()
    data = report(results, questions)
    metrics = data["metrics"]
    row: dict = {
        "documents": len(ingest_report.results),
        "chunks": ingest_report.chunks,
        "questions": len(questions),
    }
    for mode in ("hybrid", "dense", "sparse"):
        row[mode] = metrics[mode]
    for metric in ("ndcg@10", "hit@5", "mrr"):
        best = max(metrics["dense"][metric], metrics["sparse"][metric]) or 1e-9
        row[f"ratio_{metric}_hybrid_vs_best_single"] = round(metrics["hybrid"][metric] / best, 3)
    return row


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--pdf-parser", default="pdfium")
    parser.add_argument("--only", help="run one set by name")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    results = {
        name: run_set(name, questions, folders, args.pdf_parser)
        for name, (questions, folders) in SETS.items()
        if not args.only or name == args.only
    }
    emit(results, args.json)


if __name__ == "__main__":
    main()
