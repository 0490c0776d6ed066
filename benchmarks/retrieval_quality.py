"""Retrieval quality on labelled sets: each dense vector alone, BM25 alone, and hybrid.

Indexes each set's documents (real public documentation from Debian packages) into a temporary
embedded store with the shipped models (all-MiniLM-L6-v2 as ``dense``, USE multilingual v3 as
``multi``, BM25 as ``sparse``), asks every question in each mode and prints, per set:

- nDCG@10 and hit@5 (one answer passage per question);
- budget hits: whether the answer passage lies whole within the first 2,000 / 4,000 / 8,000
  characters of retrieved text, passages taken in rank order (hit@k rewards big chunks);
- hybrid / best single mode, of the unrounded means (goal >= 1.05 on every set; Japanese
  budget hit at 4,000 >= 0.9);
- ``hybrid-passages``: the hybrid search without its sentence-level stage (app/sentences.py),
  and the searches/s of both (each question asked once, in the same process);
- ``hybrid-equal``: the same three rankings fused with equal weights (as before fusion weighed
  them by language), and ``hybrid-before``: the hybrid search as it was without the
  multilingual vector (dense + BM25, keywords alone for a language the dense model cannot
  read), for comparison;
- the embedding rate of each model on the set's own chunks (same process, same texts).

Sets: the Python FAQ (en), the R FAQ PDF (en), the Debian Handbook (ja), and two
cross-language sets: English questions (the en edition's section titles of Debian Reference)
over the Japanese edition, and the same sections' Japanese titles over the English edition,
each answered by any passage of the same section. Subsampled to run in minutes on 2 cores:
the handbook's 16 answer pages plus every 10th other page; Debian Reference chapters 3-6 and at
most 40 of their sections (evenly spaced).

Each set's built index (and the embedding rates measured while building it) is cached under
``benchmarks/.cache/retrieval_quality/<key>``, the key a digest of the set's documents (paths,
sizes, times), the chunking and embedding settings (by value) and the source of ``ingest/``
(the stores and settings.py aside: fusion runs at query time); a re-run that changes only
fusion asks the questions of a copy of the cached index, in minutes. ``--rebuild`` ignores
the cache.

Usage: .venv/bin/python benchmarks/retrieval_quality.py [--only NAME] [--json] [--rebuild]
Needs: apt-get install python3.11-doc debian-handbook r-doc-pdf debian-reference-en
       debian-reference-ja
"""

from __future__ import annotations

import argparse
import hashlib
import html
import json
import math
import re
import shutil
import tempfile
import time
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from common import ROOT, emit
from llama_index.core.schema import MetadataMode

import ingest  # noqa: F401
from app.evaluate import LabelledQuestion, load_questions
from app.passages import Passage
from app.retrieve import Retriever, retrieve_hits
from ingest.components import Components, build_components
from ingest.pipeline import Indexer
from ingest.settings import IndexSettings
from tests.support.server import make_settings

BUDGETS = (2000, 4000, 8000)
DEPTH = 40  # passages read per question: enough text for the largest budget
MODES = ("dense", "multi", "sparse", "hybrid", "hybrid-passages", "hybrid-equal", "hybrid-before")
SINGLE = ("dense", "multi", "sparse")
HANDBOOK = Path("/usr/share/doc/debian-handbook/html/ja-JP")
REFERENCE = Path("/usr/share/debian-reference")
CHAPTERS = ("ch03", "ch04", "ch05", "ch06")
_H3 = re.compile(r'<h3 class="title"><a id="([^"]+)"/>([\d.]+)\s*(.*?)</h3>', re.S)
_TAG = re.compile(r"<[^>]+>")
CACHE = ROOT / "benchmarks" / ".cache" / "retrieval_quality"
CACHE_FORMAT = 1
# What the built index depends on, besides the documents and ingest/'s source.
INDEX_SETTINGS = (
    "embed_backend",
    "embed_model",
    "embed_runtime",
    "embed_languages",
    "multilingual_model",
    "chunk_size",
    "chunk_overlap",
    "pdf_parser",
    "pdf_tables",
    "ocr",
    "ocr_languages",
)


@dataclass(frozen=True)
class Question:
    """A question and the test of a passage that answers it."""

    id: str
    text: str
    is_hit: Callable[[Passage], bool]


@dataclass(frozen=True)
class LabelledSet:
    name: str
    documents: list[Path]
    questions: list[Question]
    how: str  # what was subsampled


def from_jsonl(path: Path) -> list[Question]:
    return [Question(q.id, q.question, q.is_hit) for q in load_questions(path)]


def handbook_pages(questions: list[LabelledQuestion]) -> list[Path]:
    """The pages that answer the questions, and every 10th other page (sorted by name)."""
    answers = {q.expected_source for q in questions}
    pages = sorted(HANDBOOK.glob("*.html"))
    others = [p for p in pages if p.name not in answers]
    return sorted([p for p in pages if p.name in answers] + others[::10])


def section_hit(page: str, number: str) -> Callable[[Passage], bool]:
    """A passage of ``page`` inside section ``number`` (e.g. ``5.1.1.``) or below it."""

    def is_hit(passage: Passage) -> bool:
        if not passage.source.endswith("/" + page):
            return False
        parts = unicodedata.normalize("NFKC", passage.section).split(" > ")
        return any(part.startswith(number + " ") for part in parts)

    return is_hit


def cross_language(asked: str = "en", edition: str = "ja") -> LabelledSet:
    """Section titles of Debian Reference in language ``asked``, asked of its ``edition``
    edition: the sections both editions have whose English title has two words or more (the
    same sections whichever way)."""
    questions: list[Question] = []
    for chapter in CHAPTERS:
        titles: dict[str, dict[str, tuple[str, str]]] = {}
        for language in ("en", "ja"):
            page = (REFERENCE / f"{chapter}.{language}.html").read_text(encoding="utf-8")
            titles[language] = {
                anchor: (number, html.unescape(_TAG.sub("", title)).strip())
                for anchor, number, title in _H3.findall(page)
            }
        for anchor, (number, english) in titles["en"].items():
            if anchor in titles["ja"] and len(english.split()) >= 2:
                hit = section_hit(f"{chapter}.{edition}.html", titles[edition][anchor][0])
                questions.append(Question(f"{chapter}-{number}", titles[asked][anchor][1], hit))
    step = max(1, math.ceil(len(questions) / 40))
    return LabelledSet(
        f"debian-reference {asked}->{edition}",
        [REFERENCE / f"{c}.{edition}.html" for c in CHAPTERS],
        questions[::step],
        f"chapters {', '.join(CHAPTERS)}; every {step} of {len(questions)} sections",
    )


def labelled_sets() -> list[LabelledSet]:
    handbook = load_questions(ROOT / "eval" / "debian-handbook-ja.jsonl")
    return [
        LabelledSet(
            "python-faq-en",
            [Path("/usr/share/doc/python3.11/html/faq")],
            from_jsonl(ROOT / "eval" / "python-faq-en.jsonl"),
            "whole",
        ),
        LabelledSet(
            "r-faq-en (PDF)",
            [Path("/usr/share/R/doc/manual/R-FAQ.pdf")],
            from_jsonl(ROOT / "eval" / "r-faq-en.jsonl"),
            "whole",
        ),
        LabelledSet(
            "debian-handbook-ja",
            handbook_pages(handbook),
            [Question(q.id, q.question, q.is_hit) for q in handbook],
            "the 16 answer pages and every 10th other page",
        ),
        cross_language("en", "ja"),
        cross_language("ja", "en"),
    ]


def search(retriever: Retriever, collection: str, mode: str, text: str) -> list[Passage]:
    """The passages one mode returns, best first."""
    components = retriever.components
    if mode == "hybrid":
        return retriever.find(collection, text, DEPTH, mode="hybrid").passages
    if mode in ("hybrid-equal", "hybrid-passages"):
        _, use_dense, use_multi = retriever.plan(text, "hybrid", collection)
        hits = retrieve_hits(
            components,
            collection,
            text,
            DEPTH,
            mode="hybrid",
            multi_embedding=components.embedders.multi_query_embedding(text) if use_multi else None,
            dense=use_dense,
            by_language=mode == "hybrid-passages",
        )
    elif mode == "hybrid-before":
        reads = retriever.reads(text)
        how = "hybrid" if reads else "sparse"
        hits = retrieve_hits(components, collection, text, DEPTH, mode=how, by_language=False)
    elif mode == "multi":
        multi = components.embedders.multi_query_embedding(text)
        hits = retrieve_hits(
            components, collection, text, DEPTH, mode="dense", multi_embedding=multi, dense=False
        )
    else:
        hits = retrieve_hits(components, collection, text, DEPTH, mode=mode)  # type: ignore[arg-type]
    return [hit.passage for hit in hits]


def scores(passages: list[Passage], question: Question) -> dict[str, float]:
    """nDCG@10, hit@5 and the budget hits of one ranked list."""
    rank = next((n for n, p in enumerate(passages, 1) if question.is_hit(p)), None)
    row = {
        "ndcg@10": 1 / math.log2(rank + 1) if rank and rank <= 10 else 0.0,
        "hit@5": 1.0 if rank and rank <= 5 else 0.0,
    }
    used = 0
    ends = []
    for passage in passages:
        used += len(passage.text)
        ends.append(used)
    for budget in BUDGETS:
        whole = rank is not None and ends[rank - 1] <= budget
        row[f"budget@{budget}"] = 1.0 if whole else 0.0
    return row


def embedding_rates(components: Components, texts: list[str]) -> dict[str, float]:
    """Chunks/s of each model on the same texts (after a warm-up)."""
    rates = {}
    multilingual = components.embedders.multilingual
    assert multilingual is not None
    for name, model in (("dense", components.embedders.default), ("multi", multilingual)):
        model.get_text_embedding_batch(texts[:8])
        started = time.perf_counter()
        model.get_text_embedding_batch(texts)
        rates[name] = len(texts) / (time.perf_counter() - started)
    return rates


def files_of(paths: list[Path]) -> list[Path]:
    """Every file of ``paths`` (folders walked), sorted."""
    found: list[Path] = []
    for path in paths:
        found += sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]
    return found


def cache_key(labelled: LabelledSet, settings: IndexSettings) -> str:
    """The digest that names a set's cached index: its documents, the chunking and models, and
    the source of ingest/ that parses, chunks and embeds (the stores aside)."""
    digest = hashlib.sha256()
    stats = [(str(p), p.stat().st_size, p.stat().st_mtime_ns) for p in files_of(labelled.documents)]
    chosen = {name: str(getattr(settings, name)) for name in INDEX_SETTINGS}
    digest.update(json.dumps([CACHE_FORMAT, labelled.name, stats, chosen]).encode())
    for source in sorted((ROOT / "ingest").rglob("*.py")):
        # the stores only read (fusion) what they store; the settings that shape the index
        # are in the key by value, so a changed description leaves the cache alone
        parts = source.relative_to(ROOT / "ingest").parts
        if "stores" not in parts and parts != ("settings.py",):
            digest.update(source.read_bytes())
    return digest.hexdigest()[:16]


def build(labelled: LabelledSet, data_dir: Path) -> dict:
    """Index the set's documents under ``data_dir``; the ingestion report and embedding rates."""
    settings = make_settings(data_dir)
    components = build_components(settings)
    try:
        started = time.perf_counter()
        report = Indexer(components, "eval").ingest_paths(labelled.documents)
        ingest_seconds = time.perf_counter() - started
        nodes = components.vector_store("eval").get_nodes()
        sample = nodes[:: max(1, len(nodes) // 200)]  # ~200 chunks, spread over the set
        texts = [node.get_content(metadata_mode=MetadataMode.EMBED) for node in sample]
        rates = embedding_rates(components, texts)
    finally:
        components.close()
    return {"chunks": report.chunks, "ingest_s": round(ingest_seconds, 1), "rates": rates}


def cached_build(labelled: LabelledSet, data_dir: Path, rebuild: bool) -> dict:
    """The set's index copied into ``data_dir`` from the cache (built there first if absent)."""
    folder = CACHE / cache_key(labelled, make_settings(data_dir))
    meta = folder / "meta.json"
    if rebuild or not meta.is_file():
        shutil.rmtree(folder, ignore_errors=True)
        building = folder.with_name(folder.name + ".building")
        shutil.rmtree(building, ignore_errors=True)
        info = build(labelled, building / "data")
        (building / "meta.json").write_text(json.dumps(info), encoding="utf-8")
        building.rename(folder)  # a build cut short never looks finished
        info["cached"] = False
    else:
        info = json.loads(meta.read_text(encoding="utf-8")) | {"cached": True}
    shutil.rmtree(data_dir)
    shutil.copytree(folder / "data", data_dir)  # questions never change the cached copy
    return info


def run_set(labelled: LabelledSet, rebuild: bool = False) -> dict:
    missing = [str(p) for p in labelled.documents if not p.exists()]
    if missing:
        raise SystemExit(f"{labelled.name}: missing {missing} (see this script's Needs)")
    with tempfile.TemporaryDirectory() as tmp:
        data_dir = Path(tmp) / "data"
        data_dir.mkdir()
        info = cached_build(labelled, data_dir, rebuild)
        settings = make_settings(data_dir)
        components = build_components(settings)
        retriever = Retriever(components, settings)
        started = time.perf_counter()
        totals = {mode: dict.fromkeys(scores([], labelled.questions[0]), 0.0) for mode in MODES}
        seconds = dict.fromkeys(MODES, 0.0)
        for question in labelled.questions:
            for mode in MODES:
                asked = time.perf_counter()
                found = search(retriever, "eval", mode, question.text)
                seconds[mode] += time.perf_counter() - asked
                for key, value in scores(found, question).items():
                    totals[mode][key] += value
        asking = time.perf_counter() - started
        components.close()
    n = len(labelled.questions)
    rates = info["rates"]
    result: dict = {
        "questions": n,
        "chunks": info["chunks"],
        "subsample": labelled.how,
        "ingest_s": info["ingest_s"] if not info["cached"] else f"{info['ingest_s']} (cached)",
        "questions_s": round(asking, 1),
    }
    for mode in MODES:
        result[mode] = {key: round(value / n, 3) for key, value in totals[mode].items()}
    for metric in ("ndcg@10", "hit@5", "budget@4000"):  # of the unrounded means
        best = max(totals[mode][metric] for mode in SINGLE) or 1e-9
        result[f"hybrid/best single {metric}"] = round(totals["hybrid"][metric] / best, 4)
    result["searches/s hybrid, hybrid-passages"] = [
        round(n / seconds[mode], 1) for mode in ("hybrid", "hybrid-passages")
    ]
    result["embedding chunks/s dense, multi"] = [round(rates["dense"], 1), round(rates["multi"], 1)]
    result["embedding rate multi/dense"] = round(rates["multi"] / rates["dense"], 2)
    return result


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--only", help="run one set by name")
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--rebuild", action="store_true", help="rebuild the cached indexes")
    args = parser.parse_args()
    results = {}
    for labelled in labelled_sets():
        if not args.only or labelled.name == args.only:
            results[labelled.name] = run_set(labelled, args.rebuild)
            if not args.json:
                emit({labelled.name: results[labelled.name]}, False)  # each set when done
    if args.json:
        emit(results, True)


if __name__ == "__main__":
    main()
