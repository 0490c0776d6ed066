"""Retrieval quality on labelled questions: hit@k, MRR and nDCG@10 per retrieval mode.

A labelled question names the document that answers it (``expected_source``, matched as a path
suffix) and/or a snippet of the answer's text (``expected_snippet``): a retrieved passage is a
hit when it matches both that are given. Each question has one answer, so nDCG@10 is
1/log2(1 + rank of the first hit) and MRR is 1/rank.
"""

from __future__ import annotations

import json
import math
import re
import unicodedata
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from app.passages import Passage
from app.retrieve import Retriever
from app.settings import RetrievalMode
from ingest.text import NO_SPACE, YIJING_HEXAGRAMS

CUTOFFS = (1, 3, 5, 10)
_SPACE = re.compile(r"\s+")
_CJK = f"[{NO_SPACE}{YIJING_HEXAGRAMS}]"
_CJK_SPACE = re.compile(rf"(?<={_CJK}) | (?={_CJK})")


def normalise(text: str) -> str:
    """NFKC, one space between words, none beside Japanese characters, lower case."""
    text = _SPACE.sub(" ", unicodedata.normalize("NFKC", text)).strip()
    return _CJK_SPACE.sub("", text).lower()


@dataclass(frozen=True)
class LabelledQuestion:
    """A question and what a correct retrieval must return."""

    id: str
    question: str
    expected_source: str | None = None
    expected_snippet: str | None = None
    language: str | None = None

    def is_hit(self, passage: Passage) -> bool:
        """Whether ``passage`` answers this question."""
        if self.expected_source:
            source = passage.source.replace("\\", "/")
            expected = self.expected_source.replace("\\", "/").lstrip("/")
            if not (source == expected or source.endswith("/" + expected)):
                return False
        if self.expected_snippet:
            return normalise(self.expected_snippet) in normalise(passage.text)
        return True


def load_questions(path: Path) -> list[LabelledQuestion]:
    """Read a JSONL file of labelled questions; errors name the line."""
    questions = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            raw = json.loads(line)
            question = LabelledQuestion(
                id=str(raw.get("id") or f"line-{number}"),
                question=str(raw["question"]),
                expected_source=raw.get("expected_source"),
                expected_snippet=raw.get("expected_snippet"),
                language=raw.get("language"),
            )
        except (json.JSONDecodeError, KeyError, TypeError, AttributeError) as exc:
            raise ValueError(f"{path}:{number}: not a labelled question ({exc})") from exc
        if not (question.expected_source or question.expected_snippet):
            raise ValueError(f"{path}:{number}: needs expected_source or expected_snippet")
        questions.append(question)
    if not questions:
        raise ValueError(f"{path}: no questions")
    return questions


@dataclass
class ModeScores:
    """Scores of one retrieval mode over a question set."""

    mode: str
    ranks: dict[str, int | None] = field(default_factory=dict)  # question id -> first hit rank

    @property
    def metrics(self) -> dict[str, float]:
        ranks = list(self.ranks.values())
        n = len(ranks) or 1
        out = {f"hit@{k}": sum(1 for r in ranks if r is not None and r <= k) / n for k in CUTOFFS}
        out["mrr"] = sum(1 / r for r in ranks if r is not None) / n
        out["ndcg@10"] = sum(1 / math.log2(r + 1) for r in ranks if r is not None and r <= 10) / n
        return {key: round(value, 4) for key, value in out.items()}


def evaluate(
    retriever: Retriever,
    collection: str,
    questions: list[LabelledQuestion],
    modes: list[RetrievalMode],
    depth: int = 10,
) -> list[ModeScores]:
    """Run every question in every mode and record the rank of the first hit."""
    results = []
    for mode in modes:
        scores = ModeScores(mode)
        for q in questions:
            passages = retriever.search(collection, q.question, depth, mode=mode)
            scores.ranks[q.id] = next(
                (rank for rank, p in enumerate(passages, start=1) if q.is_hit(p)), None
            )
        results.append(scores)
    return results


def report(results: list[ModeScores], questions: list[LabelledQuestion]) -> dict[str, Any]:
    """The evaluation as JSON: metrics per mode and the first-hit rank of every question."""
    return {
        "questions": len(questions),
        "metrics": {r.mode: r.metrics for r in results},
        "ranks": {q.id: {r.mode: r.ranks[q.id] for r in results} for q in questions},
    }
