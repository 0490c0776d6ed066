"""Fusion by language (ingest/stores/fusion.py): what each ranking counts for each passage, the
normalisation, and the fused order, on hand-made rankings."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pytest

from ingest.stores.fusion import LanguageWeights, dbsf, floor, fuse, reads, rrf

pytestmark = pytest.mark.unit


@dataclass
class Point:
    """A scored point as both Qdrant clients return one."""

    id: str
    score: float
    payload: dict[str, Any] = field(default_factory=dict)


def ranking(*scored: tuple[str, float, str]) -> list[Point]:
    """Points (id, score, passage language), best first."""
    return [Point(i, s, {"language": lang}) for i, s, lang in scored]


EN = LanguageWeights.of("When are the server backups made?", "en")
JA = LanguageWeights.of("サーバーのバックアップはいつ行われますか", "en")


def test_what_each_ranking_counts_for_each_passage() -> None:
    assert (EN.question, JA.question) == ("en", "ja")
    # the multilingual vector reads every language
    assert [EN.weight("multi", x) for x in ("en", "ja", "und")] == [1.0, 1.0, 1.0]
    # the English model counts for English passages (and script-less ones), not Japanese
    assert [EN.weight("dense", x) for x in ("en", "ja", "und")] == [1.0, 0.0, 1.0]
    assert JA.weight("dense", "en") == 0.0  # nor for a question it cannot read
    # keywords count in every language (borrowed words are telling: see fusion.py)
    assert [EN.weight("sparse", x) for x in ("en", "ja")] == [1.0, 1.0]
    assert [JA.weight("sparse", x) for x in ("en", "ja")] == [1.0, 1.0]
    # a question in no one script is read by the dense model, as script-less passages are
    assert LanguageWeights.of("2.0 → 3.1", "en").weight("dense", "und") == 1.0
    # a multilingual dense model reads everything
    assert LanguageWeights.of("いつ", "*").weight("dense", "ja") == 1.0
    assert reads("en, ja", "ja")
    assert reads("en", "und")
    assert not reads("en", "ja")


def test_normalisations() -> None:
    assert dbsf([]) == []
    assert dbsf([3.0]) == [0.5]
    assert dbsf([2.0, 2.0]) == [0.5, 0.5]
    low, mid, high = dbsf([1.0, 2.0, 3.0])[::-1]
    assert mid == pytest.approx(0.5)
    assert high - mid == pytest.approx(mid - low)
    assert rrf([9.0, 1.0]) == [1 / 61, 1 / 62]


def test_an_english_question_over_japanese_text_is_not_outvoted() -> None:
    # A Japanese collection: MiniLM's similarities are noise there (it likes the passage that
    # borrows the question's English words), BM25 finds those words; the multilingual vector
    # ranks the answer first. Equal weights let MiniLM's noise decide; by language it can't.
    dense = ranking(("ja-borrowed", 0.45, "ja"), ("ja-other", 0.40, "ja"), ("ja-answer", 0.1, "ja"))
    multi = ranking(("ja-answer", 0.60, "ja"), ("ja-borrowed", 0.40, "ja"), ("ja-other", 0.2, "ja"))
    sparse = ranking(("ja-borrowed", 4.0, "ja"), ("ja-answer", 3.0, "ja"), ("ja-other", 1.0, "ja"))
    rankings = [("dense", dense), ("multi", multi), ("sparse", sparse)]
    assert next(p.id for p, _ in fuse(rankings, 3)) == "ja-borrowed"
    weighted = [p.id for p, _ in fuse(rankings, 3, weights=EN)]
    assert weighted == ["ja-answer", "ja-borrowed", "ja-other"]


def test_a_passage_the_dense_model_cannot_read_gets_the_multilingual_score_in_its_place() -> None:
    # Two passages ranked alike by the multilingual vector: the Japanese one is not sunk for
    # lacking a score from the English model, nor lifted by its noise.
    dense = ranking(("ja", 0.9, "ja"), ("en", 0.5, "en"), ("en-2", 0.1, "en"))
    multi = ranking(("en", 0.5, "en"), ("ja", 0.5, "ja"), ("en-2", 0.1, "en"))
    fused = {p.id: s for p, s in fuse([("dense", dense), ("multi", multi)], 3, weights=EN)}
    # dense normalised over the English passages only: "en" is its best of those
    assert fused["en"] == pytest.approx(fused["ja"], abs=0.15)
    assert fused["ja"] > fused["en-2"]
    # without the multilingual ranking, the English model counts for nothing in Japanese
    alone = {p.id: s for p, s in fuse([("dense", dense)], 3, weights=EN)}
    assert alone["ja"] == 0.0
    assert alone["en"] > 0


def test_a_point_a_ranking_left_out_scores_its_lowest() -> None:
    assert floor([0.9, 0.2, 0.5]) == 0.2
    assert floor(rrf([3.0, 2.0, 1.0])) == 1 / 63
    # a ranking that cannot tell its points apart says only which points it found
    assert floor([0.5]) == 0.0
    assert floor([0.5, 0.5]) == 0.0
    assert floor([]) == 0.0


def test_a_passage_a_ranking_cannot_see_is_not_sunk_by_its_silence() -> None:
    # An English question over a Japanese manual with English code listings in it: the
    # Japanese heading that answers holds no English word, so BM25 cannot return it; the
    # multilingual vector ranks it first. Counted as 0 where BM25 is silent (DBSF's mean
    # minus three deviations), it fell below every listing BM25 returned.
    dense = ranking(
        ("code", 0.45, "en"),
        ("listing", 0.30, "en"),
        ("config", 0.20, "en"),
        *[(f"ja{i}", 0.3 - i / 100, "ja") for i in range(5)],
    )
    multi = ranking(
        ("heading", 0.49, "ja"),
        ("body", 0.46, "ja"),
        ("other", 0.40, "ja"),
        ("code", 0.33, "en"),
        ("listing", 0.30, "en"),
        ("config", 0.28, "en"),
        ("ja0", 0.25, "ja"),
    )
    sparse = ranking(
        ("listing", 9.0, "en"),
        ("code", 7.0, "en"),
        ("other", 6.5, "ja"),
        ("config", 6.0, "en"),
        ("ja0", 5.5, "ja"),
        ("ja1", 5.0, "ja"),
    )
    rankings = [("dense", dense), ("multi", multi), ("sparse", sparse)]
    fused = {p.id: s for p, s in fuse(rankings, 4, weights=EN)}
    assert list(fused)[:2] == ["heading", "body"]
    # BM25's silence gives the heading what BM25's last passage got, no more
    keywords = min(dbsf([p.score for p in sparse]))
    assert keywords > 0.1
    assert fused["heading"] == pytest.approx(2 * dbsf([p.score for p in multi])[0] + keywords)


def test_a_keyword_only_one_passage_holds_still_counts() -> None:
    # BM25 returns one passage: it cannot rank it against another, but it found it
    multi = ranking(("a", 0.60, "ja"), ("b", 0.59, "ja"), ("c", 0.2, "ja"))
    sparse = ranking(("b", 3.0, "ja"))
    assert [p.id for p, _ in fuse([("multi", multi), ("sparse", sparse)], 3, weights=JA)] == [
        "b",
        "a",
        "c",
    ]


def test_limit_ties_and_points_without_a_language() -> None:
    multi = [Point("a", 0.5), Point("b", 0.5), Point("c", 0.5)]  # no language: read by all
    fused = fuse([("multi", multi), ("sparse", [])], 2, weights=EN)
    assert [(p.id, s) for p, s in fused] == [("a", 0.5), ("b", 0.5)]  # first returned first
    assert fuse([], 5) == []
