"""Sentence-level meaning with the shipped models and a real index: an answer that sits in one
sentence of a passage about other things rises above a passage vaguely about the question's
topic, in English and Japanese, and the hybrid search runs the stage on its best passages."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from app.passages import Hit, Passage
from app.retrieve import Retriever
from app.sentences import SentenceMeaning
from ingest.components import Components, build_components
from ingest.payload import ChunkPayload
from ingest.pipeline import Indexer
from ingest.stores.fusion import LanguageWeights
from tests.support.server import make_settings

pytestmark = pytest.mark.integration

# A machine manual's sections: the pump's description says "pump" throughout; the answer to
# "what does a noise from the pump mean" is one sentence of the maintenance section.
MANUAL = {
    "en": {
        "pump.txt": "The coolant pump circulates coolant from the tank to the spindle and the "
        "cutting zone. It is driven by a 0.4 kW motor and delivers up to 40 litres a minute. "
        "The pump sits at the back of the machine, under the chip conveyor. Its housing is "
        "cast iron and its impeller is bronze.",
        "maintenance.txt": "Clean the chip tray at the end of every shift. Oil the guide rails "
        "once a month with the supplied way oil. A grinding or rattling sound from the pump "
        "means that its inlet strainer is clogged: stop the machine and clean the strainer. "
        "Check the tension of the drive belts twice a year.",
        "install.txt": "The machine weighs 3.2 tonnes and needs a level concrete floor.",
    },
    "ja": {
        "pump-ja.txt": "クーラントポンプはタンクのクーラントを主軸と切削部へ送ります。"
        "0.4kWのモーターで駆動され、毎分40リットルまで送れます。"
        "ポンプは機械の後ろ側、チップコンベヤの下にあります。ハウジングは鋳鉄、羽根車は青銅製です。",
        "maintenance-ja.txt": "毎シフトの終わりに切りくず受けを清掃してください。"
        "案内面には月に一度、付属の潤滑油を差してください。"
        "ポンプからガリガリという異音がする場合は、吸込みストレーナが詰まっています。"
        "機械を止めてストレーナを清掃してください。駆動ベルトの張りは年に二回点検してください。",
        "install-ja.txt": "機械の質量は3.2トンで、水平なコンクリート床が必要です。",
    },
}
QUESTIONS = {
    "en": "What does a grinding noise from the pump mean?",
    "ja": "ポンプから異音がするのはなぜですか",
}


@pytest.fixture(scope="module")
def indexed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Components]:
    folder = tmp_path_factory.mktemp("manual")
    for files in MANUAL.values():
        for name, text in files.items():
            (folder / name).write_text(text, encoding="utf-8")
    components = build_components(make_settings(tmp_path_factory.mktemp("data")))
    report = Indexer(components, "manual").ingest_paths([folder])
    assert report.failed == [], report.failed
    yield components
    components.close()


def retriever(components: Components, candidates: int) -> Retriever:
    settings = make_settings(components.settings.data_dir, sentence_candidates=candidates)
    return Retriever(components, settings)


@pytest.mark.parametrize("language", ["en", "ja"])
def test_the_passage_whose_sentence_answers_overtakes_a_higher_fused_one(
    indexed: Components, language: str
) -> None:
    """The fused scores are set (the vague passage ahead), the sentences judged by the
    shipped models: the stage alone decides the order."""
    embedders = indexed.embedders
    question = QUESTIONS[language]
    names = list(MANUAL[language])
    hits = [
        Hit(
            Passage(
                n=n,
                chunk_id=name,
                document_id=name,
                source=name,
                title="Machine manual",
                section="",
                text=MANUAL[language][name],
                score=score,
            ),
            ChunkPayload(language=language),
        )
        for n, (name, score) in enumerate(zip(names, (2.0, 1.9, 1.6), strict=True), start=1)
    ]
    assert embedders.multilingual is not None
    models = {"multi": (embedders.multilingual, embedders.multi_query_embedding(question))}
    if language == "en":  # the dense model reads English only: not searched for Japanese
        models["dense"] = (embedders.default, embedders.query_embedding(question))
    weights = LanguageWeights.of(question, indexed.settings.embed_languages)
    reordered = SentenceMeaning().reorder(hits, models, weights)
    assert [h.passage.chunk_id for h in reordered] == [names[1], names[0], names[2]]


@pytest.mark.parametrize("language", ["en", "ja"])
def test_hybrid_search_puts_the_answering_passage_first(indexed: Components, language: str) -> None:
    searching = retriever(indexed, 20)
    found = searching.find("manual", QUESTIONS[language], 3, mode="hybrid")
    assert found.mode == "hybrid"
    assert Path(found.passages[0].source).name == list(MANUAL[language])[1]
    assert [p.n for p in found.passages] == [1, 2, 3]
    # The stage reorders the store's best: every passage is one the store returned, scored by
    # its fused score plus its sentence terms.
    fused = {h.passage.chunk_id: h.passage.score for h in found.ranked}
    assert all(p.score > fused[p.chunk_id] for p in found.passages)


def test_sentences_are_embedded_once_and_the_stage_can_be_turned_off(
    indexed: Components,
) -> None:
    searching = retriever(indexed, 20)
    searching.find("manual", QUESTIONS["en"], 3, mode="hybrid")
    kept = len(searching.sentences.vectors._kept)
    assert kept > 0
    searching.find("manual", QUESTIONS["en"], 3, mode="hybrid")
    assert len(searching.sentences.vectors._kept) == kept  # nothing new to embed
    off = retriever(indexed, 0).find("manual", QUESTIONS["en"], 3, mode="hybrid")
    assert [p.chunk_id for p in off.passages] == [h.passage.chunk_id for h in off.ranked][:3]
    assert retriever(indexed, 0).sentences.vectors._kept == {}
    # Keyword and dense searches are not rescored.
    for mode in ("sparse", "dense"):
        single = searching.find("manual", QUESTIONS["en"], 3, mode=mode)
        assert [p.chunk_id for p in single.passages] == [h.passage.chunk_id for h in single.ranked][
            :3
        ]
