"""Pseudo-relevance feedback (RM3) measured as a way to add a keyword signal across languages,
and rejected: hybrid nDCG@10 with a BM25 ranking of the question expanded by the terms of the
best fused passages, as a fourth ranking ("add") or in place of BM25 ("replace").

The idea: an English question over Japanese text matches few keywords, but the multilingual
vector's best passages are Japanese, so their terms could carry the question into the
documents' language (cross-language feedback, as CLIR systems do after translation). RM3 as
Anserini sets it by default: 10 feedback passages, 10 terms, the original question weighed 0.5.
The expanded query is scored here exactly as kura's keyword side scores it (ingest/sparse.py's
saturated term frequencies, Qdrant's IDF), over the same cached indexes as
retrieval_quality.py, with the same fusion (ingest/stores/fusion.py).

Usage: .venv/bin/python benchmarks/feedback_quality.py
Needs: what retrieval_quality.py needs (it builds or reuses the same cached indexes).
"""

from __future__ import annotations

import math
import tempfile
from collections import Counter, defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from common import emit
from llama_index.core.schema import MetadataMode
from retrieval_quality import LabelledSet, cached_build, labelled_sets

import ingest  # noqa: F401
from app.retrieve import retrieve_hits
from ingest.components import Components, build_components
from ingest.sparse import encode_documents, term_index, terms
from ingest.stores.fusion import LanguageWeights, fuse, reads
from tests.support.server import make_settings

DEPTH = 40
CANDIDATES = 2 * DEPTH  # what a hybrid search of DEPTH fuses (ingest/stores/shared.py)
FEEDBACK = (10, 10, 0.5)  # passages, terms, the original question's weight (Anserini's RM3)


@dataclass
class Point:
    """A ranked passage as fusion reads it."""

    id: Any
    score: float
    payload: Any


class Keywords:
    """BM25 over a set's passages, as the keyword side scores it."""

    def __init__(self, texts: dict[str, str]) -> None:
        ids = list(texts)
        indices, values = encode_documents([texts[i] for i in ids])
        self.counts = {i: Counter(terms(texts[i])) for i in ids}
        df: Counter[int] = Counter()
        self.postings: dict[int, list[tuple[str, float]]] = defaultdict(list)
        for i, index, value in zip(ids, indices, values, strict=True):
            df.update(index)
            for term, weight in zip(index, value, strict=True):
                self.postings[term].append((i, weight))
        n = len(ids)
        self.idf = {t: math.log(1 + (n - c + 0.5) / (c + 0.5)) for t, c in df.items()}

    def search(self, weights: dict[int, float]) -> list[tuple[str, float]]:
        scores: dict[str, float] = defaultdict(float)
        for term, weight in weights.items():
            for i, tf in self.postings.get(term, []):
                scores[i] += weight * self.idf[term] * tf
        return sorted(scores.items(), key=lambda item: -item[1])[:CANDIDATES]

    def expanded(self, question: str, feedback: list[str]) -> dict[int, float]:
        """RM3: the question's terms and the feedback passages' most likely terms, mixed."""
        passages, kept, original = FEEDBACK
        likely: dict[int, float] = defaultdict(float)
        for i in feedback[:passages]:
            length = sum(self.counts[i].values()) or 1
            for word, count in self.counts[i].items():
                likely[term_index(word)] += count / length / passages
        top = sorted(likely.items(), key=lambda item: -item[1])[:kept]
        total = sum(p for _, p in top) or 1.0
        asked = {term_index(t) for t in set(terms(question))}
        weights: dict[int, float] = defaultdict(float)
        for term in asked:
            weights[term] += original / len(asked)
        for term, p in top:
            weights[term] += (1 - original) * p / total
        return weights


def ndcg(ranked: list[str], relevant: set[str]) -> float:
    rank = next((n for n, i in enumerate(ranked[:10], 1) if i in relevant), None)
    return 1 / math.log2(rank + 1) if rank else 0.0


def rankings(components: Components, question: str) -> list[tuple[str, list[tuple[str, float]]]]:
    """Each single ranking hybrid fuses for ``question``, as the store returns it."""
    multi = components.embedders.multi_query_embedding(question)
    found = [
        ("dense", retrieve_hits(components, "eval", question, CANDIDATES, mode="dense")),
        (
            "multi",
            retrieve_hits(
                components,
                "eval",
                question,
                CANDIDATES,
                mode="dense",
                multi_embedding=multi,
                dense=False,
            ),
        ),
        ("sparse", retrieve_hits(components, "eval", question, CANDIDATES, mode="sparse")),
    ]
    return [(kind, [(h.passage.chunk_id, h.passage.score) for h in hits]) for kind, hits in found]


def measure(labelled: LabelledSet, components: Components) -> dict[str, float]:
    nodes = components.vector_store("eval").get_nodes()
    texts = {n.node_id: n.get_content(metadata_mode=MetadataMode.EMBED) for n in nodes}
    languages = {n.node_id: n.metadata.get("language", "") for n in nodes}
    passages = {n.node_id: _Passage(n) for n in nodes}
    keywords = Keywords(texts)
    languages_read = components.settings.embed_languages
    totals: dict[str, float] = defaultdict(float)
    for question in labelled.questions:
        relevant = {i for i, p in passages.items() if question.is_hit(p)}  # type: ignore[arg-type]
        weights = LanguageWeights.of(question.text, languages_read)
        ranked = [
            (kind, [Point(i, s, {"language": languages[i]}) for i, s in found])
            for kind, found in rankings(components, question.text)
            if kind != "dense" or reads(languages_read, weights.question)
        ]
        hybrid = [p.id for p, _ in fuse(ranked, DEPTH, "dbsf", weights)]
        expanded = keywords.search(keywords.expanded(question.text, hybrid))
        feedback = [Point(i, s, {"language": languages[i]}) for i, s in expanded]
        added = fuse([*ranked, ("sparse", feedback)], DEPTH, "dbsf", weights)
        replaced = fuse([*ranked[:-1], ("sparse", feedback)], DEPTH, "dbsf", weights)
        for name, ids in (
            *((kind, [p.id for p in points]) for kind, points in ranked),
            ("hybrid", hybrid),
            ("feedback alone", [i for i, _ in expanded]),
            ("hybrid + feedback", [p.id for p, _ in added]),
            ("hybrid, feedback for BM25", [p.id for p, _ in replaced]),
        ):
            totals[name] += ndcg(ids, relevant)
    n = len(labelled.questions)
    result = {name: round(total / n, 3) for name, total in totals.items()}
    best = max(result.get(k, 0.0) for k in ("dense", "multi", "sparse"))
    for name in ("hybrid", "hybrid + feedback", "hybrid, feedback for BM25"):
        result[f"{name} / best single"] = round(result[name] / best, 3)
    return result


class _Passage:
    """What a question's ``is_hit`` reads of a stored chunk."""

    def __init__(self, node: Any) -> None:
        self.source = node.metadata.get("source", "")
        self.section = node.metadata.get("section", "")
        self.text = node.get_content()


def main() -> None:
    for labelled in labelled_sets():
        with tempfile.TemporaryDirectory() as tmp:
            data_dir = Path(tmp) / "data"
            data_dir.mkdir()
            cached_build(labelled, data_dir, rebuild=False)
            components = build_components(make_settings(data_dir))
            try:
                emit({labelled.name: measure(labelled, components)}, False)
            finally:
                components.close()


if __name__ == "__main__":
    main()
