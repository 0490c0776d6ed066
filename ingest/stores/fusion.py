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
0.865 / 0.881 / 0.918 (0.871 / 0.881 / 0.898 / 0.938 with the floor below): the English words
Japanese technical text borrows (commands, package names, paths) are as telling there as in
English.

A point a ranking did not return gets the lowest score that ranking gave (``floor``), not 0:
each ranking returns only its best ``candidates``, so its silence says "no better than the
last", while DBSF's 0 (the mean minus three standard deviations) sank a passage one ranking
missed below every passage all of them returned. It matters most where a ranking cannot see a
passage at all: BM25 finds no English word in a Japanese heading. Measured by
benchmarks/retrieval_quality.py (hybrid nDCG@10, then hybrid / best single mode; 0 -> floor):
Python FAQ 0.761 -> 0.763 (1.037 -> 1.040), R FAQ 0.675 -> 0.715 (1.069 -> 1.133), Debian
Handbook ja 0.723 -> 0.733 (1.037 -> 1.052), English questions over the Japanese Debian
Reference 0.918 -> 0.938 (0.979 -> 1.000). No other rule tried did as well on every set: a
weighted mean over the rankings that read a passage instead of the stand-in (so BM25 weighs
as much as meaning in Japanese) gave 0.799 on the last set (0.867 with the floor); RRF was
lower on every set; fewer or more candidates than 2 x limit (40, 160, 400) traded one set
against another.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from ingest.text import detect_language

UNDETERMINED = "und"  # detect_language's answer for text in no one script (code, numbers)
RRF_K = 60
# The payload fields fusion reads (``language_of``): all a ranking's candidates need to carry.
# A hybrid search fetches the full payloads of the fused best only (ingest/stores/shared.py).
FIELDS = ("language",)


class Scored(Protocol):
    """A point as Qdrant Edge and qdrant-client return it from a search."""

    id: Any
    score: float
    payload: Any


def reads(languages: str, language: str) -> bool:
    """Whether a model configured to read ``languages`` (comma-separated, or ``*``) reads
    text in ``language``; text in no one script (``und``) is read by every model."""
    wanted = _parsed(languages)
    return "*" in wanted or language in wanted or language == UNDETERMINED


@functools.cache
def _parsed(languages: str) -> frozenset[str]:
    # once per setting, not once per candidate of every hybrid query (~240 a query)
    return frozenset(x.strip() for x in languages.split(","))


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
        """What ranking ``kind`` ("dense", "multi", "sparse", "translated") counts for a
        passage in ``passage_language``: 1, but the dense model's 0 where it cannot read the
        question or the passage (translated keywords are filtered to their language's
        documents before they are fused)."""
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


def floor(normalised: Sequence[float]) -> float:
    """What a ranking gives a point it did not return: the lowest of its normalised scores (it
    returned its best candidates only, so a point it left out is no better than its last).
    A ranking that cannot tell its points apart (one point, or all equal) says only which
    points it found: 0 for the others, so a keyword only one passage holds still counts."""
    return min(normalised) if len(set(normalised)) > 1 else 0.0


def fuse(
    rankings: Iterable[tuple[str, Sequence[Scored]]],
    limit: int,
    method: str = "dbsf",
    weights: LanguageWeights | None = None,
) -> list[tuple[Scored, float]]:
    """The best ``limit`` points of several rankings ((kind, points best first) each); best
    first, ties in the order the points were first returned.

    A point's score is the sum over rankings of its normalised score in each (``method``;
    where a ranking did not return it, that ranking's ``floor``) times what the ranking counts
    for its language. Each ranking is normalised over the points it counts for: noise it
    returned for a language it does not read shifts nothing. Where the dense model cannot
    read a passage, the multilingual vector's score stands in for it (both judge meaning), so
    a passage in another language is judged on the same scale as one all rankings read.
    """
    normalise = METHODS[method]
    listed = [(kind, list(points)) for kind, points in rankings]

    def weight(kind: str, point: Scored) -> float:
        return 1.0 if weights is None else weights.weight(kind, language_of(point))

    normalised: dict[str, dict[Any, float]] = {}
    missing: dict[str, float] = {}
    first_seen: dict[Any, Scored] = {}
    for kind, points in listed:
        counted = [p for p in points if weight(kind, p) > 0]
        scores = normalise([p.score for p in counted])
        normalised[kind] = {p.id: s for p, s in zip(counted, scores, strict=True)}
        missing[kind] = floor(scores)
        for point in points:
            first_seen.setdefault(point.id, point)
    scored = []
    for order, (key, point) in enumerate(first_seen.items()):
        total = 0.0
        for kind, _ in listed:
            w = weight(kind, point)
            if w > 0:
                total += w * normalised[kind].get(key, missing[kind])
            elif kind == "dense" and "multi" in normalised:
                total += normalised["multi"].get(key, missing["multi"])
        scored.append((point, total, order))
    scored.sort(key=lambda entry: (-entry[1], entry[2]))
    return [(point, float(score)) for point, score, _ in scored[:limit]]
