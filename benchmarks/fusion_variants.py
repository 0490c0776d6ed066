"""Fusion rules kura does not use, measured: each labelled set's rankings captured once from
a hybrid search as kura runs it, then fused again by each rule, in the same process.

The sets and their indexes are retrieval_quality.py's (built or taken from its cache). For
every question the hybrid search's candidate rankings (dense, multi, sparse, translated: each
point's id, score and language) are captured where the store fuses them
(``SearchPlan.fuse``); ``kura`` below is ingest/stores/fusion.py's ``fuse`` on them, and must
reproduce the search's own order (``same as the search``), asked with the sentence-level stage
off (``KURA_SENTENCE_CANDIDATES=0``, app/sentences.py): these are rules for the fusion of the
passage-level rankings, which that stage then reorders. Each variant changes one thing:

- ``minmax``, ``rrf k=N``: how each ranking's scores are normalised (kura: DBSF's mean +- 3 sd);
- ``depth N``: only each ranking's first N candidates (kura: 2 x the passages asked, here 80);
- ``combmnz``: the sum times the number of rankings that returned the point;
- ``<kind> x w``: one ranking's weight (kura: 1 for each, by the passage's language);
- ``confidence``: each ranking weighed by how far its best stands out (its best z-score over
  the mean of all rankings' best), a query-dependent weight.

Printed per variant: nDCG@10 per set, then hybrid / best single mode (of the same captured
rankings' single modes). None tuned per set.

Usage: PYTHONPATH=. .venv/bin/python benchmarks/fusion_variants.py [--json]
Needs: what retrieval_quality.py needs.
"""

from __future__ import annotations

import argparse
import math
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from common import emit
from retrieval_quality import DEPTH, cached_build, labelled_sets

from app.passages import hit_from_node
from app.retrieve import Retriever
from ingest.components import build_components
from ingest.stores import fusion, shared
from tests.support.server import make_settings

Ranking = list[tuple[str, float, str]]  # (id, score, language), best first


@dataclass(frozen=True)
class Point:
    id: str
    score: float
    payload: dict[str, Any]


@dataclass
class Captured:
    weights: fusion.LanguageWeights | None
    rankings: list[tuple[str, Ranking]]
    searched: list[str]  # the ids the search returned, in order
    answers: set[str]  # the ids of the passages that answer the question


def capture(labelled: Any) -> list[Captured]:
    """Each question's rankings, as the store fused them, and its answers' ids."""
    seen: list[tuple[fusion.LanguageWeights | None, list[tuple[str, Ranking]]]] = []
    original = shared.SearchPlan.fuse

    def spy(plan: shared.SearchPlan, method: str, rankings: list[list[Any]]) -> Any:
        kinds = [kind for kind, _ in plan.sides()]
        listed = [
            (kind, [(str(p.id), float(p.score), fusion.language_of(p)) for p in points])
            for kind, points in zip(kinds, rankings, strict=True)
        ]
        seen.append((plan.weights, listed))
        return original(plan, method, rankings)

    found = []
    with tempfile.TemporaryDirectory() as tmp:
        data_dir = Path(tmp) / "data"
        data_dir.mkdir()
        cached_build(labelled, data_dir, False)
        settings = make_settings(data_dir, sentence_candidates=0)  # the fused order itself
        components = build_components(settings)
        retriever = Retriever(components, settings)
        nodes = components.vector_store("eval").get_nodes()
        passages = [hit_from_node(node, 1, 0.0).passage for node in nodes]
        shared.SearchPlan.fuse = spy  # type: ignore[method-assign,assignment]
        try:
            for question in labelled.questions:
                seen.clear()
                hits = retriever.find("eval", question.text, DEPTH, mode="hybrid").passages
                weights, rankings = seen[-1]
                answers = {p.chunk_id for p in passages if question.is_hit(p)}
                found.append(Captured(weights, rankings, [p.chunk_id for p in hits], answers))
        finally:
            shared.SearchPlan.fuse = original  # type: ignore[method-assign]
            components.close()
    return found


def ndcg(order: Sequence[str], answers: set[str]) -> float:
    rank = next((n for n, i in enumerate(order[:10], 1) if i in answers), None)
    return 1 / math.log2(rank + 1) if rank else 0.0


def minmax(scores: Sequence[float]) -> list[float]:
    low, high = (min(scores), max(scores)) if scores else (0.0, 0.0)
    return [(s - low) / (high - low) if high > low else 0.5 for s in scores]


def rrf(k: int) -> Callable[[Sequence[float]], list[float]]:
    return lambda scores: [1 / (k + rank) for rank in range(1, len(scores) + 1)]


def best_z(scores: Sequence[float]) -> float:
    """How far a ranking's best stands out: its z-score (1.0 for fewer than three points)."""
    if len(scores) < 3:
        return 1.0
    mean = sum(scores) / len(scores)
    spread = math.sqrt(sum((s - mean) ** 2 for s in scores) / (len(scores) - 1)) or 1.0
    return max((max(scores) - mean) / spread, 0.01)


@dataclass(frozen=True)
class Rule:
    """One way of fusing the captured rankings (the defaults: kura's)."""

    normalise: Callable[[Sequence[float]], list[float]] = fusion.dbsf
    depth: int | None = None
    combmnz: bool = False
    kind_weights: tuple[tuple[str, float], ...] = ()
    confidence: bool = False

    def order(self, captured: Captured) -> list[str]:
        weighs = captured.weights
        rankings = [(kind, r[: self.depth] if self.depth else r) for kind, r in captured.rankings]
        scale = dict(self.kind_weights)

        def weight(kind: str, language: str) -> float:
            base = 1.0 if weighs is None else weighs.weight(kind, language)
            return base * scale.get(kind, 1.0)

        normalised: dict[str, dict[str, float]] = {}
        floors: dict[str, float] = {}
        stands_out: dict[str, float] = {}
        language: dict[str, str] = {}
        for kind, ranking in rankings:
            counted = [(i, s) for i, s, lang in ranking if weight(kind, lang) > 0]
            values = self.normalise([s for _, s in counted])
            normalised[kind] = {i: v for (i, _), v in zip(counted, values, strict=True)}
            floors[kind] = fusion.floor(values)
            stands_out[kind] = best_z([s for _, s in counted]) if self.confidence else 1.0
            for i, _, lang in ranking:
                language.setdefault(i, lang)
        mean = sum(stands_out.values()) / max(len(stands_out), 1)
        scored = []
        for position, point in enumerate(language):
            total, returned = 0.0, 0
            for kind, _ in rankings:
                w = weight(kind, language[point])
                if w > 0:
                    total += w * stands_out[kind] / mean * normalised[kind].get(point, floors[kind])
                    returned += point in normalised[kind]
                elif kind == "dense" and "multi" in normalised:  # the stand-in, as kura's
                    total += (
                        stands_out["multi"] / mean * normalised["multi"].get(point, floors["multi"])
                    )
            scored.append((-(total * returned if self.combmnz else total), position, point))
        scored.sort()
        return [point for _, _, point in scored[:DEPTH]]


RULES = {
    "kura": Rule(),
    "minmax": Rule(normalise=minmax),
    "rrf k=10": Rule(normalise=rrf(10)),
    "rrf k=60": Rule(normalise=rrf(60)),
    "depth 20": Rule(depth=20),
    "depth 40": Rule(depth=40),
    "combmnz": Rule(combmnz=True),
    "multi x 0.5": Rule(kind_weights=(("multi", 0.5),)),
    "sparse x 0.75": Rule(kind_weights=(("sparse", 0.75),)),
    "sparse x 1.5": Rule(kind_weights=(("sparse", 1.5),)),
    "dense x 1.5": Rule(kind_weights=(("dense", 1.5),)),
    "dense x 2": Rule(kind_weights=(("dense", 2.0),)),
    "confidence": Rule(confidence=True),
}


def single(captured: Captured, kind: str) -> list[str]:
    return next(([i for i, _, _ in r] for k, r in captured.rankings if k == kind), [])


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    results: dict[str, dict[str, str]] = {name: {} for name in RULES}
    same: dict[str, bool] = {}
    for labelled in labelled_sets():
        questions = capture(labelled)
        same[labelled.name] = all(
            RULES["kura"].order(q)[: len(q.searched)] == q.searched for q in questions
        )
        best = max(
            sum(ndcg(single(q, kind), q.answers) for q in questions)
            for kind in ("dense", "multi", "sparse")
        )
        for name, rule in RULES.items():
            total = sum(ndcg(rule.order(q), q.answers) for q in questions)
            results[name][labelled.name] = (
                f"{total / len(questions):.3f} ({total / (best or 1e-9):.3f})"
            )
    emit({"same as the search": same, **results}, args.json)


if __name__ == "__main__":
    main()
