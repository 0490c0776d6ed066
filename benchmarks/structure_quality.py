"""Tables and clauses: hit@5 on labelled lookups, against plain chunking.

- Tables: `eval/debian-reference-tables-en.jsonl` (12 lookups in the ruled tables of the Debian
  Reference PDF), with PDF tables kept as tables (rows with their header) and with
  KURA_PDF_TABLES=false (tables read as lines of prose, as the foundation did).
- Clauses: `eval/licences-clauses-en.jsonl` (10 questions on Apache-2.0 and GPL-3.0).

Usage: .venv/bin/python benchmarks/structure_quality.py [--json]
Needs: apt-get install debian-reference-en
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
from pathlib import Path

from common import ROOT, emit

import ingest  # noqa: F401
from app.evaluate import evaluate, load_questions, report
from app.retrieve import Retriever
from ingest.components import build_components
from ingest.pipeline import Indexer
from tests.support.server import make_settings

PDF = Path("/usr/share/debian-reference/debian-reference.en.pdf")


def score(questions_file: Path, files: list[Path], **settings: object) -> dict:
    questions = load_questions(questions_file)
    with tempfile.TemporaryDirectory() as tmp:
        config = make_settings(Path(tmp), **settings)
        components = build_components(config)
        Indexer(components, "eval").ingest_paths(files)
        results = evaluate(Retriever(components, config), "eval", questions, ["hybrid"])
        components.close()
    metrics = report(results, questions)["metrics"]["hybrid"]
    return {"hit@5": metrics["hit@5"], "mrr": metrics["mrr"], "questions": len(questions)}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    tables = ROOT / "eval" / "debian-reference-tables-en.jsonl"
    with_tables = score(tables, [PDF])
    plain = score(tables, [PDF], pdf_tables=False)
    with tempfile.TemporaryDirectory() as tmp:
        licences = Path(tmp)
        shutil.copy(ROOT / "data" / "samples" / "apache-license-2.0.txt", licences)
        shutil.copy("/usr/share/common-licenses/GPL-3", licences)
        clauses = score(ROOT / "eval" / "licences-clauses-en.jsonl", [licences])
    emit(
        {
            "tables (rows with header)": with_tables,
            "tables read as prose (plain)": plain,
            "ratio hit@5 tables / plain": {
                "ratio": round(with_tables["hit@5"] / (plain["hit@5"] or 1e-9), 3)
            },
            "clauses (Apache-2.0, GPL-3.0)": clauses,
        },
        args.json,
    )


if __name__ == "__main__":
    main()
