"""Sentence-level meaning: the fused best passages scored again by their best sentence.

A passage's vector is the mean of everything it says, while a question usually asks about one
sentence of it: an answer that sits in a long passage about something else is diluted, and a
passage that is vaguely about the question's topic throughout can outrank it. So the hybrid
search's best ``KURA_SENTENCE_CANDIDATES`` passages are scored again by the best cosine between
the question and any one of their sentences (their section heading counts as a sentence), the
way BERT-MaxP scores a document by its best passage, and that evidence is fused with the
passage-level rankings by the same rule (``ingest/stores/fusion.py``'s ``fuse`` over the
candidates, added to their fused scores).

Two sentence-level terms are added: the multilingual model's, and the dense model's where it
reads both the question and the passage, the multilingual model's again in its place elsewhere
(so a Japanese question gets the same two terms as an English one). Measured by
benchmarks/retrieval_quality.py (hybrid nDCG@10 without -> with, its ``hybrid-passages`` and
``hybrid`` rows; hybrid / best single mode): Python FAQ 0.772 -> 0.799 (1.018 -> 1.054), R FAQ
0.820 -> 0.849 (1.030 -> 1.066), Debian Handbook ja 0.754 -> 0.763 (1.067 -> 1.079), English
questions over the Japanese Debian Reference 0.943 -> 0.966 (1.070 -> 1.096), Japanese over
the English one 0.916 -> 1.000 (1.073 -> 1.171). Measured on the same sets' captured rankings
with a throwaway script, and rejected: either term alone lost a set (the dense one: R FAQ
1.042; the multilingual one: Python FAQ 1.036), and so did counting the multilingual term once
for a Japanese question (Handbook 1.053). Sentence scores alone rank no better than passage
scores (MiniLM: Python FAQ 0.758 both, R FAQ 0.765 against 0.796): the gain is the fusion of
the two.

The sentences are embedded at search time, those of the last ``CACHED`` (model, passage) pairs
kept: on two cores, 20 new passages (~100 sentences) cost ~0.3 s with the packaged MiniLM and
~0.15 s with the multilingual model.
"""

from __future__ import annotations

import hashlib
import logging
import threading
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from app.passages import Hit, Passage
from ingest.stores.fusion import UNDETERMINED, LanguageWeights, fuse
from ingest.text import split_sentences

log = logging.getLogger(__name__)

MIN_SENTENCE = 8  # characters: shorter pieces ("Yes.", a bullet's number) say nothing alone
CACHED = 2048  # (model, passage) pairs whose sentence vectors are kept: ~30 MB

Vectors = np.ndarray  # one L2-normalised row per sentence


def sentences(passage: Passage) -> list[str]:
    """The sentences a passage is judged by: its text's, and its section heading."""
    pieces = [s for s in split_sentences(passage.text) if len(s) >= MIN_SENTENCE]
    if passage.section:
        pieces.append(passage.section)
    return pieces or [passage.text or passage.title or " "]


def _unit(rows: Any) -> Vectors:
    matrix = np.asarray(rows, dtype=np.float32)
    if matrix.ndim == 1:
        matrix = matrix[None, :]
    norms = np.linalg.norm(matrix, axis=1, keepdims=True)
    return matrix / np.where(norms > 0, norms, 1.0)


class SentenceVectors:
    """The sentence vectors of passages, by model and text, for the last ``size`` (model,
    passage) pairs, computed in one batch per search for the passages not yet seen."""

    def __init__(self, size: int = CACHED) -> None:
        self._size = size
        self._kept: OrderedDict[tuple[int, str], Vectors] = OrderedDict()
        self._lock = threading.Lock()

    def of(self, model: Any, passages: Sequence[list[str]]) -> list[Vectors]:
        """Each passage's sentence vectors by ``model`` (an embedding model: llama-index's
        ``get_text_embedding_batch``), in the order given."""
        keys = [(id(model), _digest(pieces)) for pieces in passages]
        found: dict[tuple[int, str], Vectors] = {}
        with self._lock:
            for key in keys:
                if key in self._kept:
                    self._kept.move_to_end(key)
                    found[key] = self._kept[key]
        missing = {
            key: pieces for key, pieces in zip(keys, passages, strict=True) if key not in found
        }
        if missing:
            flat = [piece for pieces in missing.values() for piece in pieces]
            rows = _unit(model.get_text_embedding_batch(flat))
            start = 0
            for key, pieces in missing.items():
                found[key] = rows[start : start + len(pieces)]
                start += len(pieces)
            with self._lock:
                for key in missing:
                    self._kept[key] = found[key]
                while len(self._kept) > self._size:
                    self._kept.popitem(last=False)
        return [found[key] for key in keys]


def _digest(pieces: list[str]) -> str:
    return hashlib.blake2b("\x1f".join(pieces).encode(), digest_size=16).hexdigest()


def best_sentence(vectors: Sequence[Vectors], question: Sequence[float]) -> list[float]:
    """Each passage's best cosine between ``question`` and one of its sentences."""
    asked = _unit(question)[0]
    return [float(np.max(rows @ asked)) for rows in vectors]


@dataclass
class _Best:
    """A passage's best sentence cosine, as fusion reads a point."""

    id: Any  # the passage's position among those reordered
    score: float
    payload: Any  # {"language": ...}


def fused_terms(
    best: dict[str, list[float]],
    languages: list[str],
    weights: LanguageWeights,
    method: str = "dbsf",
) -> list[float]:
    """The sentence-level terms each passage gains: each model's best sentence cosines as a
    ranking of the passages, fused by the store's rule (``fusion.fuse``: ``method``, the dense
    term only where that model reads, the multilingual one standing in elsewhere). Without
    the dense model (a question it cannot read), the multilingual term counts twice."""
    rankings = [(kind, _ranking(scores, languages)) for kind, scores in best.items()]
    fused = {point.id: score for point, score in fuse(rankings, len(languages), method, weights)}
    times = 1 if "dense" in best else 2
    return [times * fused[i] for i in range(len(languages))]


def _ranking(scores: list[float], languages: list[str]) -> list[_Best]:
    """The passages as one ranking, best first (ties in their fused order)."""
    points = [
        _Best(i, score, {"language": language})
        for i, (score, language) in enumerate(zip(scores, languages, strict=True))
    ]
    return sorted(points, key=lambda point: -point.score)


class SentenceMeaning:
    """Reorders a hybrid search's best passages by their fused score plus the sentence-level
    terms (``fused_terms``)."""

    def __init__(self, size: int = CACHED, method: str = "dbsf") -> None:
        self.vectors = SentenceVectors(size)
        self.method = method  # the store's fusion (KURA_HYBRID_FUSION): the terms' scale

    def reorder(
        self,
        hits: list[Hit],
        models: Mapping[str, tuple[Any, Sequence[float]]],
        weights: LanguageWeights,
    ) -> list[Hit]:
        """``hits`` (fused, best first) in their new order, numbered again, each scored by its
        fused score plus its sentence terms. ``models``: "dense" and/or "multi", each its
        embedding model and the question's vector by it. Hits keep the fused order when
        embedding the sentences fails (logged): the search still answers."""
        if len(hits) < 2 or not models:
            return hits
        pieces = [sentences(hit.passage) for hit in hits]
        try:
            best = {
                kind: best_sentence(self.vectors.of(model, pieces), question)
                for kind, (model, question) in models.items()
            }
        except Exception:  # an Ollama embedder gone since the query was embedded
            log.warning("sentence-level scoring failed: the fused order is kept", exc_info=True)
            return hits
        languages = [hit.payload.language or UNDETERMINED for hit in hits]
        terms = fused_terms(best, languages, weights, self.method)
        scored = sorted(range(len(hits)), key=lambda i: (-(hits[i].passage.score + terms[i]), i))
        return [
            Hit(
                hits[i].passage.model_copy(
                    update={"n": n, "score": hits[i].passage.score + terms[i]}
                ),
                hits[i].payload,
            )
            for n, i in enumerate(scored, start=1)
        ]
