"""Hybrid fusion in kura: each ranking weighed, passage by passage, by the languages it reads.

Qdrant fuses prefetches with one weight per ranking (weighted RRF) or rescoring formulas over
raw scores; neither fits here. How much a ranking counts depends on each passage's language
(the English dense model ranks Japanese text at random), and the raw scores are on scales that
change with every question (BM25's are unbounded), so a formula cannot weigh them without the
normalisation DBSF does per query. So each store asks Qdrant for every ranking's candidates in
one batch (filters and visibility inside each query) and fuses them here, the same on both.

The rule (one, no per-set constants): the dense model's vector (``dense``) counts only where
it reads both the question's and the passage's language (``embed_languages``); elsewhere its
similarity is noise, and the multilingual vector's score (``multi``, which reads every
language) stands in for it. Keywords (``sparse``) count fully in every language: measured on
English questions over the Japanese Debian Reference (benchmarks/retrieval_quality.py),
weighing keyword matches across languages at 0 / 0.25 / 0.5 / 1 gave hybrid nDCG@10 0.871 /
0.865 / 0.881 / 0.918: the English words Japanese technical text borrows (commands, package
names, paths) are as telling there as in English.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from ingest.text import detect_language

UNDETERMINED = "und"  # detect_language's answer for text in no one script (code, numbers)
RRF_K = 60


class Scored(Protocol):
    """A point as Qdrant Edge and qdrant-client return it from a search."""

    id: Any
    score: float
    payload: Any


def reads(languages: str, language: str) -> bool:
    """Whether a model configured to read ``languages`` (comma-separated, or ``*``) reads
    text in ``language``; text in no one script (``und``) is read by every model."""
    wanted = {x.strip() for x in languages.split(",")}
    return "*" in wanted or language in wanted or language == UNDETERMINED


@dataclass(frozen=True)
class LanguageWeights:
    """How much each ranking counts for a passage, given the question's language and the
    languages the dense model reads."""

    question: str  # the question's language, as detect_language reads it
    dense_languages: str  # the dense model's languages (KURA_EMBED_LANGUAGES)

    @classmethod
    def of(cls, question: str, dense_languages: str) -> LanguageWeights:
        """The weights for ``question``."""
        return cls(detect_language(question), dense_languages)

    def weight(self, kind: str, passage_language: str) -> float:
        """What ranking ``kind`` ("dense", "multi", "sparse") counts for a passage in
        ``passage_language``."""
        if kind == "dense":
            both = reads(self.dense_languages, self.question)
            return 1.0 if both and reads(self.dense_languages, passage_language) else 0.0
        return 1.0


def language_of(point: Scored) -> str:
    """The passage's ``language`` payload (chunks written before it: undetermined)."""
    payload = point.payload or {}
    return str(payload.get("language") or UNDETERMINED)


def dbsf(scores: Sequence[float]) -> list[float]:
    """Qdrant's distribution-based score normalisation: mean +- 3 standard deviations mapped
    to 0..1 (one score, or all equal: 0.5 each), as qdrant-client's local mode computes it."""
    if len(scores) <= 1:
        return [0.5] * len(scores)
    mean = sum(scores) / len(scores)
    variance = sum((s - mean) ** 2 for s in scores) / (len(scores) - 1)
    if variance == 0:
        return [0.5] * len(scores)
    low, spread = mean - 3 * variance**0.5, 6 * variance**0.5
    return [(s - low) / spread for s in scores]


def rrf(scores: Sequence[float]) -> list[float]:
    """Reciprocal rank of each (best first) result: 1 / (k + rank)."""
    return [1 / (RRF_K + rank) for rank in range(1, len(scores) + 1)]


METHODS: dict[str, Callable[[Sequence[float]], list[float]]] = {"dbsf": dbsf, "rrf": rrf}


def fuse(
    rankings: Iterable[tuple[str, Sequence[Scored]]],
    limit: int,
    method: str = "dbsf",
    weights: LanguageWeights | None = None,
) -> list[tuple[Scored, float]]:
    """The best ``limit`` points of several rankings ((kind, points best first) each); best
    first, ties in the order the points were first returned.

    A point's score is the sum over rankings of its normalised score in each (``method``; 0
    where a ranking did not return it) times what the ranking counts for its language. Each
    ranking is normalised over the points it counts for: noise it returned for a language it
    does not read shifts nothing. Where the dense model cannot read a passage, the
    multilingual vector's score stands in for it (both judge meaning), so a passage in another
    language is judged on the same scale as one all rankings read.
    """
    normalise = METHODS[method]
    listed = [(kind, list(points)) for kind, points in rankings]

    def weight(kind: str, point: Scored) -> float:
        return 1.0 if weights is None else weights.weight(kind, language_of(point))

    normalised: dict[str, dict[Any, float]] = {}
    first_seen: dict[Any, Scored] = {}
    for kind, points in listed:
        counted = [p for p in points if weight(kind, p) > 0]
        scores = normalise([p.score for p in counted])
        normalised[kind] = {p.id: s for p, s in zip(counted, scores, strict=True)}
        for point in points:
            first_seen.setdefault(point.id, point)
    scored = []
    for order, (key, point) in enumerate(first_seen.items()):
        total = 0.0
        for kind, _ in listed:
            w = weight(kind, point)
            if w > 0:
                total += w * normalised[kind].get(key, 0.0)
            elif kind == "dense" and "multi" in normalised:
                total += normalised["multi"].get(key, 0.0)
        scored.append((point, total, order))
    scored.sort(key=lambda entry: (-entry[1], entry[2]))
    return [(point, float(score)) for point, score, _ in scored[:limit]]
