"""Sentence-level meaning (app/sentences.py): which sentences a passage is judged by, how the
two terms are fused by language, the cache of sentence vectors, and the new order."""

from __future__ import annotations

import re

import numpy as np
import pytest

from app.passages import Hit, Passage
from app.sentences import (
    SentenceMeaning,
    SentenceVectors,
    fused_terms,
    sentences,
)
from ingest.payload import ChunkPayload
from ingest.stores.fusion import LanguageWeights, dbsf

EN = LanguageWeights("en", "en")  # an English question, the dense model reading English
JA = LanguageWeights("ja", "en")
WORDS = ("pump", "noise", "filter", "coolant", "level", "weekly", "rails", "oil", "ポンプ", "異音")


class Words:
    """An embedding model whose vectors count a few words: a question shares a sentence's
    words or not, so which passage holds the best sentence is known in advance."""

    def __init__(self) -> None:
        self.embedded: list[str] = []

    def vector(self, text: str) -> list[float]:
        found = re.findall(r"\w+", text.lower())
        counts = [float(sum(word in token for token in found)) for word in WORDS]
        return [*counts, 0.1]  # never the zero vector

    def get_text_embedding_batch(self, texts: list[str]) -> list[list[float]]:
        self.embedded.extend(texts)
        return [self.vector(text) for text in texts]


def hit(n: int, text: str, score: float, language: str = "en", section: str = "") -> Hit:
    passage = Passage(
        n=n,
        chunk_id=f"c{n}",
        document_id="d",
        source="manual.pdf",
        title="Manual",
        section=section,
        text=text,
        score=score,
    )
    return Hit(passage, ChunkPayload(language=language))


def test_a_passage_is_judged_by_its_sentences_and_its_heading() -> None:
    text = (
        "Check the coolant level weekly. Yes.\nThe pump is quiet.\n"
        "ポンプの異音はフィルターの詰まりです。交換してください。"
    )
    found = sentences(hit(1, text, 1.0, section="Maintenance > Pump").passage)
    assert found == [
        "Check the coolant level weekly.",
        "The pump is quiet.",
        "ポンプの異音はフィルターの詰まりです。",
        "交換してください。",
        "Maintenance > Pump",
    ]  # "Yes." is too short to say anything alone
    assert sentences(hit(2, "OK", 1.0).passage) == ["OK"]  # never nothing to judge


def test_the_dense_term_counts_where_it_reads_and_the_multilingual_one_stands_in() -> None:
    best = {"dense": [0.9, 0.5, 0.1], "multi": [0.2, 0.6, 0.8]}
    multi = dbsf(best["multi"])
    dense = dbsf([0.9, 0.5])  # the Japanese passage is not the dense model's to judge
    terms = fused_terms(best, ["en", "en", "ja"], EN)
    assert terms == pytest.approx([multi[0] + dense[0], multi[1] + dense[1], 2 * multi[2]])
    # A Japanese question: the dense model is not searched; the multilingual term counts twice.
    only_multi = fused_terms({"multi": best["multi"]}, ["ja", "ja", "en"], JA)
    assert only_multi == pytest.approx([2 * m for m in multi])
    # No multilingual model: the dense term alone, nothing for what it cannot read.
    only_dense = fused_terms({"dense": best["dense"]}, ["en", "en", "ja"], EN)
    assert only_dense == pytest.approx([dense[0], dense[1], 0.0])


def test_with_rrf_fusion_the_terms_are_reciprocal_ranks() -> None:
    best = {"dense": [0.2, 0.9, 0.5], "multi": [0.1, 0.3, 0.2]}
    terms = fused_terms(best, ["en", "en", "en"], EN, "rrf")
    assert terms == pytest.approx([1 / 63 + 1 / 63, 1 / 61 + 1 / 61, 1 / 62 + 1 / 62])


def test_a_passage_whose_one_sentence_answers_rises_above_one_vaguely_about_it() -> None:
    model = Words()
    hits = [
        hit(1, "Coolant keeps the spindle cool. Check the coolant level weekly.", 2.0),
        hit(2, "Oil the rails monthly. A pump noise means the filter is clogged.", 1.9),
        hit(3, "The tank holds forty litres of coolant concentrate and water.", 1.5),
    ]
    question = model.vector("What does a noise from the pump mean?")
    reordered = SentenceMeaning().reorder(hits, {"dense": (model, question)}, EN)
    assert [h.passage.chunk_id for h in reordered] == ["c2", "c1", "c3"]
    assert [h.passage.n for h in reordered] == [1, 2, 3]
    assert reordered[0].passage.score > 1.9  # the fused score plus the sentence term


def test_japanese_passages_are_reordered_by_the_multilingual_model() -> None:
    model = Words()
    hits = [
        hit(1, "クーラントは毎週点検します。タンクの容量は四十リットルです。", 2.0, "ja"),
        hit(2, "レールに油を差します。ポンプの異音はフィルターの詰まりです。", 1.9, "ja"),
    ]
    question = model.vector("ポンプの異音は何が原因ですか")
    reordered = SentenceMeaning().reorder(hits, {"multi": (model, question)}, JA)
    assert [h.passage.chunk_id for h in reordered] == ["c2", "c1"]


def test_sentence_vectors_are_embedded_once_in_one_batch_and_kept() -> None:
    model = Words()
    kept = SentenceVectors(size=4)
    first = kept.of(model, [["pump noise here"], ["coolant level here", "weekly check"]])
    assert len(model.embedded) == 3  # one batch for both passages
    assert first[1].shape == (2, len(WORDS) + 1)
    assert np.allclose(np.linalg.norm(first[1], axis=1), 1.0)
    again = kept.of(model, [["coolant level here", "weekly check"]])
    assert len(model.embedded) == 3
    assert np.array_equal(again[0], first[1])
    other = Words()  # another model: its own vectors, never the first one's
    kept.of(other, [["pump noise here"]])
    assert other.embedded == ["pump noise here"]
    for n in range(4):  # more passages than the cache keeps: the oldest are embedded again
        kept.of(model, [[f"rails oil {n}"]])
    kept.of(model, [["pump noise here"]])
    assert model.embedded.count("pump noise here") == 2


class Broken(Words):
    def get_text_embedding_batch(self, texts: list[str]) -> list[list[float]]:
        raise ConnectionError("the embedding host went away")


def test_a_failed_embedding_keeps_the_fused_order(caplog: pytest.LogCaptureFixture) -> None:
    hits = [hit(1, "Coolant level weekly.", 2.0), hit(2, "A pump noise: clogged filter.", 1.9)]
    question = Words().vector("pump noise")
    assert SentenceMeaning().reorder(hits, {"dense": (Broken(), question)}, EN) == hits
    assert "fused order is kept" in caplog.text
